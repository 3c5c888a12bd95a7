"""The token endpoint's answer read: a token, or a typed error that shows only scrubbed text.

Every text of the server that an error shows (a redirect's ``Location``, the OAuth ``error`` and
``error_description``, JSON keys, ``token_type``, the token's ``aud`` and ``sub``) goes through
:func:`providers._scrub.server_text` with the secrets of the exchange: the client secret, the
``Authorization`` sent, and every token in the answer (``access_token``, ``refresh_token``,
``id_token``). The HTTP reason phrase is never shown: the standard phrase of the status is.

Raw values of the answer stay out of the locals of every frame an error passes through (error
reporters that capture locals would show them): the body stays a :class:`Secret`, the parsed
JSON and claims live in an :class:`_Answer` whose ``repr`` shows none of them, and a token is a
:class:`Secret`. Anything that parses them returns; only frames without them raise.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from providers._safe_errors import secret_safe, total_repr
from providers._scrub import server_text
from providers._secret import Secret
from providers._token_errors import InvalidTokenResponse, TokenRequestRejected
from providers._token_http import MAX_RESPONSE_BYTES, HttpAnswer

# (HTTP status, OAuth error code or None, whether the service offered Negotiate) -> advice
Hint = Callable[[int, str | None, bool], str]

_BASE64URL_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_TOKEN_FIELDS = ("access_token", "refresh_token", "id_token")
_SHORT = 64  # characters of a server's code, key or type in a message


@dataclass(frozen=True)
class IssuedToken:
    value: Secret
    principal: str
    expires_at: float | None
    issued_at: float  # the token's iat if it is a time not after now; else now

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: f"IssuedToken(principal={self.principal!r}, expires_at={self.expires_at!r})",
        )


@secret_safe  # the answer's tokens and parsed JSON are in its frames and PyJWT's
def read_answer(
    answer: HttpAnswer,
    *,
    url: str,
    client_id: str,
    sent: Iterable[Secret | None],
    audience: str | None,
    now: float,
    hint: Hint,
) -> IssuedToken:
    """The token of a 2xx answer; :class:`TokenRequestRejected` for a redirect or an HTTP
    error, :class:`InvalidTokenResponse` for an answer that is not a usable token. ``sent``:
    the secrets of the request (client secret, assertion), scrubbed from any text shown."""
    where = f"the token endpoint {url}"
    if answer.too_large:
        raise InvalidTokenResponse(
            f"{where} answered with more than {MAX_RESPONSE_BYTES} bytes; check that token_url "
            "is the token endpoint"
        )
    parsed = _Answer(answer.body)
    secrets = (*sent, *answer.sent, *parsed.tokens())
    status = answer.status
    if 300 <= status < 400:
        raise TokenRequestRejected(
            f"{where} redirected (HTTP {status}{_phrase(status)}) to "
            f"{_location(answer.headers.get('location'), secrets)}; set token_url to the final "
            "URL (a token request is never re-sent to another URL)",
            status=status,
            error=None,
            error_description=None,
        )
    if status >= 400 or status < 200:
        raise _rejected(answer, parsed, where, secrets, hint)
    if parsed.kind != "object":
        raise InvalidTokenResponse(
            f"{where} answered with {parsed.kind} ({parsed.size} bytes); check that token_url "
            "is the token endpoint, not a login page"
        )
    token = parsed.access_token()
    if token is None:
        raise InvalidTokenResponse(
            f"{where} answered without an access_token (keys: {parsed.keys(secrets)}); check "
            "the grant type and the client's registration"
        )
    if parsed.text("token_type") is not None and parsed.text("token_type") != "bearer":
        raise InvalidTokenResponse(
            f"{where} issued a token of type "
            f"'{server_text(parsed.field('token_type'), secrets, limit=_SHORT)}', not a bearer "
            "token; a DICOM identity can only carry a bearer JWT"
        )
    if (problem := parsed.decode_claims(token)) is not None:
        raise InvalidTokenResponse(f"{where} issued an access token that {problem}")
    expires_at = parsed.expires_at(now)
    if expires_at is not None and not math.isfinite(expires_at):
        raise InvalidTokenResponse(f"{where} issued a JWT whose 'exp' is not a number")
    if expires_at is not None and expires_at <= now:
        raise InvalidTokenResponse(
            f"{where} issued a token that expired at {iso_time(expires_at)} (now "
            f"{iso_time(now)}); check this machine's clock and the service's"
        )
    if audience is not None and parsed.claims and audience not in parsed.audiences():
        raise InvalidTokenResponse(
            f"{where} issued a token for audience "
            f"[{server_text(', '.join(map(repr, parsed.audiences())), secrets)}], not "
            f"'{audience}'; check the audience/scope the client asks for"
        )
    sub = parsed.claims.get("sub")
    principal = server_text(sub, secrets, limit=128) if isinstance(sub, str) and sub else None
    return IssuedToken(token, principal or client_id, expires_at, parsed.issued_at(now))


@secret_safe  # the answer's JSON is in its frames
def read_object(
    answer: HttpAnswer,
    *,
    where: str,
    sent: Iterable[Secret | None],
    hint: Hint,
) -> ParsedAnswer:
    """The JSON object of a 2xx answer of another endpoint of the same service (discovery,
    device authorization, revocation, JWKS: ``where`` names it); the same errors as
    :func:`read_answer`."""
    if answer.too_large:
        raise InvalidTokenResponse(
            f"{where} answered with more than {MAX_RESPONSE_BYTES} bytes; check the URL"
        )
    parsed = _Answer(answer.body)
    secrets = (*sent, *answer.sent, *parsed.tokens())
    status = answer.status
    if 300 <= status < 400:
        raise TokenRequestRejected(
            f"{where} redirected (HTTP {status}{_phrase(status)}) to "
            f"{_location(answer.headers.get('location'), secrets)}; a redirect is not followed",
            status=status,
            error=None,
            error_description=None,
        )
    if status >= 400 or status < 200:
        raise _rejected(answer, parsed, where, secrets, hint)
    if parsed.kind != "object":
        raise InvalidTokenResponse(
            f"{where} answered with {parsed.kind} ({parsed.size} bytes); check the URL"
        )
    return parsed


def _rejected(
    answer: HttpAnswer,
    parsed: _Answer,
    where: str,
    secrets: Iterable[Secret | None],
    hint: Hint,
) -> TokenRequestRejected:
    status = answer.status
    code = parsed.field("error")
    error = server_text(code, secrets, limit=_SHORT) if isinstance(code, str) else None
    text = parsed.field("error_description")
    description = server_text(text, secrets) if isinstance(text, str) else None
    oauth = f", OAuth error '{error}'" if error else ""
    oauth += f": {description}" if description else ""
    offered = "negotiate" in answer.headers.get("www-authenticate", "").lower()
    return TokenRequestRejected(
        f"{where} refused the request: HTTP {status}{_phrase(status)}{oauth}. "
        f"{hint(status, error, offered)}",
        status=status,
        error=error,
        error_description=description,
    )


class _Answer:
    """The JSON of the answer and the claims of its token, out of sight of ``repr``.
    (:data:`ParsedAnswer` is its public name.)"""

    __slots__ = ("_object", "claims", "kind", "size")

    @secret_safe  # ``raw`` and the JSON parser's frames hold the whole answer
    def __init__(self, body: Secret) -> None:
        raw = body.reveal()
        self.size = len(raw)
        self.claims: Mapping[str, Any] = {}
        self._object: Mapping[str, Any] = {}
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, too deep, a number too long
            self.kind = "something that is not JSON"
            return
        if isinstance(value, dict):
            self.kind, self._object = "object", value
        else:
            self.kind = "JSON that is not an object"

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"_Answer({self.kind}, {self.size} bytes)")

    def field(self, key: str) -> Any:
        return self._object.get(key)

    def text(self, key: str) -> str | None:
        """A string field, lower case (for comparisons only)."""
        value = self._object.get(key)
        return value.lower() if isinstance(value, str) else None

    def tokens(self) -> tuple[Secret, ...]:
        values = (self._object.get(key) for key in _TOKEN_FIELDS)
        return tuple(Secret(v) for v in values if isinstance(v, str) and _utf8(v) and v.strip())

    def access_token(self) -> Secret | None:
        value = self._object.get("access_token")
        if not isinstance(value, str) or not value.strip() or not _utf8(value):
            return None
        return Secret(value.strip())

    def keys(self, secrets: Iterable[Secret | None]) -> str:
        shown = sorted(server_text(key, secrets, limit=40) for key in self._object)
        return server_text(", ".join(shown[:10]), secrets) or "none"

    def decode_claims(self, token: Secret) -> str | None:
        """Keep the token's claims; or what is wrong with the token, as the end of a sentence."""
        value = token.reveal().decode("utf-8")
        parts = value.split(".")
        if len(parts) not in (3, 5) or not all(_BASE64URL_PART.match(p) for p in parts[:2]):
            return (
                f"is not a JWT ({len(parts)} dot-separated part(s)); a DICOM type 5 identity "
                "needs a JWT: configure the service to issue JWT access tokens for this client"
            )
        if len(parts) == 5:
            return None  # a JWE: its claims are encrypted; expires_in tells the lifetime
        import jwt  # here, not at import: PyJWT and cryptography cost ~90 ms of start-up

        try:
            claims = jwt.decode(value, options={"verify_signature": False, "verify_aud": False})
        except Exception as exc:  # a hostile token may upset the parser in any way
            return f"does not decode as a JWT ({type(exc).__name__})"
        self.claims = claims  # PyJWT refuses claims that are not a JSON object
        return None

    def expires_at(self, now: float) -> float | None:
        """The earlier of ``exp`` and ``now + expires_in``; NaN for an ``exp`` that is not a
        number (an ``expires_in`` that is not one is ignored)."""
        expiries = []
        if "exp" in self.claims:
            expiries.append(_number(self.claims["exp"]))
        expires_in = _number(self._object.get("expires_in"), text=True)  # "3599" happens
        if math.isfinite(expires_in):
            expiries.append(now + expires_in)
        if not expiries:
            return None
        return min(expiries) if all(math.isfinite(e) for e in expiries) else math.nan

    def issued_at(self, now: float) -> float:
        iat = _number(self.claims.get("iat"))
        return iat if math.isfinite(iat) and iat <= now else now

    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        return [v if isinstance(v, str) else f"({type(v).__name__})" for v in values]


ParsedAnswer = _Answer


def _number(value: object, *, text: bool = False) -> float:
    """A finite float, or NaN for anything else (a bool, a string, a number beyond float)."""
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan


def _utf8(value: str) -> bool:
    """Whether ``value`` encodes as UTF-8 (JSON may hold lone surrogates): a token that cannot
    be sent is no token."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _location(value: str | None, secrets: Iterable[Secret | None]) -> str:
    """Where a redirect points, without its user, query or fragment, scrubbed."""
    if not value:
        return "(no Location)"
    try:
        parts = urlsplit(value)
        shown = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    except ValueError:
        shown = "(a Location that is not a URL)"
    return server_text(shown, secrets, limit=120)


def _phrase(status: int) -> str:
    try:
        return f" {HTTPStatus(status).phrase}"
    except ValueError:
        return ""


def iso_time(ts: float | None) -> str:
    if ts is None:
        return "(unknown)"
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):  # a server's "exp" may be anything
        return f"{ts:g} s after the epoch"
