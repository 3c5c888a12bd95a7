"""Type 5: a JWT access token from an OAuth2 token endpoint (client credentials, RFC 6749 4.4).

The provider authenticates to the token service either with a client secret read from the OS
keyring (sent form-encoded in the request body, ``client_secret_post``), or with Kerberos (SPNEGO,
``HTTPKerberosAuth`` from requests-kerberos, mutual authentication required: the token service
must prove it holds the key of ``HTTP/host``), for services behind Windows Integrated
Authentication.

The token is cached until shortly before its ``exp``. Two windows before expiry, each clamped to a
fraction of the token's lifetime so a short-lived token is still used for a while:

* advisory (default 300 s, at most half the lifetime): one caller refreshes early; the others keep
  using the still-valid token meanwhile; a failed refresh keeps the token, logs a warning, and
  the next early attempt waits 30 s (at most half the time left before the mandatory window);
* mandatory (default 60 s, at most a quarter of the lifetime): every caller waits for the refresh;
  a failed refresh raises.

Only one refresh runs at a time across threads. HTTPS is verified against ``ca_file`` or the
system's trust store (not certifi's bundle, requests' default); plain HTTP is allowed only to a
loopback host. Every request has a timeout.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from providers.base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers.errors import CredentialError, CredentialUnavailable, IdentityError
from providers.secret import Secret
from providers.token_errors import (
    InsecureTokenEndpoint,
    InvalidTokenResponse,
    TokenEndpointError,
    TokenEndpointNotAuthenticated,
    TokenEndpointUnreachable,
    TokenRequestRejected,
    check_token_url,
)
from providers.token_http import TokenTransport, printable, shortened

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = [
    "InsecureTokenEndpoint",
    "InvalidTokenResponse",
    "TokenEndpointAuth",
    "TokenEndpointError",
    "TokenEndpointNotAuthenticated",
    "TokenEndpointProvider",
    "TokenEndpointUnreachable",
    "TokenRequestRejected",
    "check_token_url",
]

log = logging.getLogger(__name__)

TokenEndpointAuth = Literal["client-secret", "kerberos"]
DEFAULT_ADVISORY_WINDOW = 300.0
DEFAULT_MANDATORY_WINDOW = 60.0
ADVISORY_FRACTION = 0.5  # of the token's lifetime, at most
MANDATORY_FRACTION = 0.25
# After a failed early refresh, the next early attempt waits this long (or half the time left
# before the mandatory window): an outage must not make every association wait for a timeout.
ADVISORY_RETRY = 30.0
DEFAULT_TIMEOUT = 10.0
_BASE64URL_PART = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class _Token:
    value: Secret
    principal: str
    expires_at: float | None
    advisory_at: float  # refresh early from here on
    mandatory_at: float  # refresh or fail from here on


class TokenEndpointProvider:
    """A JWT from an OAuth2 token endpoint, cached until shortly before it expires.

    ``client_secret_keyring=(SERVICE, USER)`` names the keyring entry holding the client secret
    (``keyring set SERVICE USER``); it is read at each refresh, never cached, never logged. With
    ``auth="kerberos"`` there is no secret: the ticket cache (``kinit``) or ``KRB5_CLIENT_KTNAME``
    authenticates the client; ``kerberos_hostname`` overrides the host of ``HTTP/host`` when the
    URL's host is not the name the token service is registered under. ``scope`` and ``audience``
    are sent with the request when given; a token whose ``aud`` lacks ``audience`` is refused.
    ``clock`` (seconds since the epoch) is injectable for tests.
    """

    identity_type = IdentityType.JWT

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret_keyring: tuple[str, str] | None = None,
        scope: str | None = None,
        audience: str | None = None,
        auth: TokenEndpointAuth = "client-secret",
        ca_file: str | None = None,
        kerberos_hostname: str | None = None,
        positive_response: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        advisory_window: float = DEFAULT_ADVISORY_WINDOW,
        mandatory_window: float = DEFAULT_MANDATORY_WINDOW,
        clock: Callable[[], float] = time.time,
        keyring_backend: KeyringBackend | None = None,
    ) -> None:
        if auth not in get_args(TokenEndpointAuth):
            raise ValueError(f"auth must be one of {get_args(TokenEndpointAuth)}: {auth!r}")
        if not client_id:
            raise ValueError("client_id must be a non-empty string")
        if auth == "client-secret" and client_secret_keyring is None:
            raise ValueError(
                'auth="client-secret" needs client_secret_keyring=(SERVICE, USER): the keyring '
                "entry that holds the client secret"
            )
        if auth == "kerberos" and client_secret_keyring is not None:
            raise ValueError('auth="kerberos" sends no client secret: drop client_secret_keyring')
        if client_secret_keyring is not None and (
            len(client_secret_keyring) != 2 or not all(client_secret_keyring)
        ):
            raise ValueError("client_secret_keyring must be (SERVICE, USER), both non-empty")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds: {timeout!r}")
        if not 0 <= mandatory_window <= advisory_window:
            raise ValueError(
                "need 0 <= mandatory_window <= advisory_window: "
                f"{mandatory_window!r}, {advisory_window!r}"
            )
        self.token_url = token_url
        self.host = check_token_url(token_url)
        self.client_id = client_id
        self.client_secret_keyring = client_secret_keyring
        self.scope = scope
        self.audience = audience
        self.auth: TokenEndpointAuth = auth
        self.ca_file = ca_file
        self.kerberos_hostname = kerberos_hostname
        self.positive_response = positive_response
        self.timeout = timeout
        self.advisory_window = advisory_window
        self.mandatory_window = mandatory_window
        self._clock = clock
        self._keyring_backend = keyring_backend
        self._transport = TokenTransport(
            token_url,
            host=self.host,
            timeout=timeout,
            ca_file=ca_file,
            kerberos=auth == "kerberos",
            kerberos_hostname=kerberos_hostname,
        )
        self._refresh_lock = threading.Lock()
        self._token: _Token | None = None
        self._advisory_retry_at = 0.0

    def __repr__(self) -> str:
        return (
            f"TokenEndpointProvider(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"auth={self.auth!r}, scope={self.scope!r}, audience={self.audience!r})"
        )

    @property
    def source(self) -> str:
        return f"token endpoint {self.token_url} (client {self.client_id!r}, {self.auth})"

    def negotiate(self, target: Target) -> IdentityExchange:
        token = self._current_token()
        request = IdentityRequest(
            IdentityType.JWT,
            token.value,
            positive_response_requested=self.positive_response,
            principal=token.principal,
            source=self.source,
        )
        return IdentityExchange(request)

    # The cache -------------------------------------------------------------------------------

    def _current_token(self) -> _Token:
        token = self._token
        now = self._clock()
        if token is not None and now < token.advisory_at:
            return token
        if token is not None and now < token.mandatory_at:
            # Advisory window: one caller refreshes; the others use the still-valid token, and
            # after a failed early refresh nobody retries before the back-off ends.
            if now < self._advisory_retry_at or not self._refresh_lock.acquire(blocking=False):
                return token
        elif not self._refresh_lock.acquire(timeout=self._lock_wait):
            raise TokenEndpointUnreachable(
                f"another thread's token refresh from {self.token_url} did not finish within "
                f"{self._lock_wait:g} s; check that the token service answers"
            )
        try:
            return self._refresh()
        finally:
            self._refresh_lock.release()

    @property
    def _lock_wait(self) -> float:
        # A Kerberos refresh is two requests (401, then the authenticated one), each with a
        # connect and a read timeout.
        return 4 * self.timeout + 5

    def _refresh(self) -> _Token:
        token = self._token
        now = self._clock()
        if token is not None and now < token.advisory_at:
            return token  # another thread refreshed while this one waited
        try:
            fresh = self._fetch()
        except IdentityError as exc:
            if token is not None and now < token.mandatory_at:
                self._advisory_retry_at = now + min(ADVISORY_RETRY, (token.mandatory_at - now) / 2)
                log.warning(
                    "could not refresh the token from %s early (%s); keeping the current one, "
                    "valid until %s; next attempt at %s, mandatory from %s",
                    self.token_url,
                    exc,
                    _iso(token.expires_at),
                    _iso(self._advisory_retry_at),
                    _iso(token.mandatory_at),
                )
                return token
            raise
        self._token = fresh
        log.debug(
            "token for %r from %s, expires at %s",
            fresh.principal,
            self.token_url,
            _iso(fresh.expires_at),
        )
        return fresh

    # One request -----------------------------------------------------------------------------

    def _fetch(self) -> _Token:
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        secret = self._client_secret()
        if secret is not None:
            form["client_secret"] = secret.reveal().decode("utf-8")
        try:
            answer = self._transport.post(form)
        finally:
            form.clear()  # the one plain copy of the client secret
        status = answer.status
        if 300 <= status < 400:
            raise TokenRequestRejected(
                f"the token endpoint {self.token_url} redirected (HTTP {status}) to "
                f"{printable(answer.headers.get('location', '(nowhere)'))}; set token_url to the "
                "final URL (a token request is never re-sent to another URL)",
                status=status,
                error=None,
                error_description=None,
            )
        if status >= 400 or status < 200:
            raise self._rejected(status, answer.reason, answer.headers, answer.body, secret)
        return self._token_from(answer.body)

    def _client_secret(self) -> Secret | None:
        if self.client_secret_keyring is None:
            return None
        import keyring
        import keyring.errors

        service, user = self.client_secret_keyring
        where = f"keyring service {service!r}, user {user!r}"
        try:
            backend = self._keyring_backend or keyring.get_keyring()
            value = backend.get_password(service, user)
        except keyring.errors.NoKeyringError:
            raise CredentialUnavailable(
                f"no usable keyring backend for the client secret of {self.token_url} ({where}). "
                "Install one (for a headless server: pip install keyrings.alt) and select it "
                "with PYTHON_KEYRING_BACKEND"
            ) from None
        except Exception as exc:  # a backend may raise anything (locked, D-Bus down, corrupt)
            raise CredentialError(
                f"the keyring backend failed reading the client secret ({where}): "
                f"{type(exc).__name__}. Check that the keyring is unlocked (keyring diagnose)"
            ) from None
        if not value:
            raise CredentialUnavailable(
                f"no client secret for {self.token_url} in {where}. Add it with: "
                f"keyring set {service} {user}"
            )
        return Secret(value)

    # The answer ------------------------------------------------------------------------------

    def _rejected(
        self,
        status: int,
        reason: str,
        headers: Mapping[str, str],
        body: bytes,
        secret: Secret | None,
    ) -> TokenRequestRejected:
        error = description = None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            if isinstance(answer.get("error"), str):
                error = _shown(answer["error"], secret)
            if isinstance(answer.get("error_description"), str):
                description = _shown(answer["error_description"], secret)
        oauth = f", OAuth error {error!r}" if error else ""
        oauth += f": {description}" if description else ""
        return TokenRequestRejected(
            f"the token endpoint {self.token_url} refused the request: HTTP {status} "
            f"{printable(reason)}{oauth}. {self._hint(status, error, headers)}",
            status=status,
            error=error,
            error_description=description,
        )

    def _hint(self, status: int, error: str | None, headers: Mapping[str, str]) -> str:
        keyring_hint = (
            f"keyring set {self.client_secret_keyring[0]} {self.client_secret_keyring[1]}"
            if self.client_secret_keyring
            else ""
        )
        if error == "invalid_client" or (status == 401 and self.auth == "client-secret"):
            return (
                f"Check client_id {self.client_id!r} and the client secret in the keyring "
                f"({keyring_hint})"
                if self.auth == "client-secret"
                else f"Check that the Kerberos principal is registered as client {self.client_id!r}"
            )
        if status == 401 and self.auth == "kerberos":
            offered = "negotiate" in headers.get("www-authenticate", "").lower()
            return (
                "Kerberos authentication failed: check the ticket (klist; kinit, or a client "
                "keytab in KRB5_CLIENT_KTNAME) and that the KDC knows the service principal of "
                f"HTTP@{self.kerberos_hostname or self.host} (HTTP/ its canonical host name)"
                if offered
                else "the service does not offer Kerberos (no WWW-Authenticate: Negotiate)"
            )
        if error == "invalid_scope":
            return f"Check the scope {self.scope!r} with the token service's administrators"
        if error == "unauthorized_client":
            return f"Allow the client-credentials grant for client {self.client_id!r}"
        if error == "unsupported_grant_type":
            return "This endpoint does not offer the client-credentials grant; check token_url"
        if error == "invalid_request":
            return "Check token_url, scope and audience"
        if status == 429:
            return "The token service is rate limiting; try again later"
        if status >= 500:
            return "The token service failed; try again later or ask its administrators"
        return "Check token_url and the client's registration"

    def _token_from(self, body: bytes) -> _Token:
        where = f"the token endpoint {self.token_url}"
        try:
            answer = json.loads(body)
        except ValueError:
            raise InvalidTokenResponse(
                f"{where} answered with something that is not JSON ({len(body)} bytes); check "
                "that token_url is the token endpoint, not a login page"
            ) from None
        if not isinstance(answer, dict):
            raise InvalidTokenResponse(f"{where} answered with JSON that is not an object")
        value = answer.get("access_token")
        if not isinstance(value, str) or not value.strip():
            raise InvalidTokenResponse(
                f"{where} answered without an access_token (keys: "
                f"{printable(', '.join(sorted(str(k)[:40] for k in answer)[:10])) or 'none'}); "
                "check the "
                "grant type and the client's registration"
            )
        token_type = answer.get("token_type")
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            raise InvalidTokenResponse(
                f"{where} issued a token of type {printable(token_type[:40])!r}, not a bearer "
                "token; a DICOM identity can only carry a bearer JWT"
            )
        value = value.strip()
        claims = self._claims(value, where)
        now = self._clock()
        expiries = []
        if "exp" in claims:
            exp = claims["exp"]
            if isinstance(exp, bool) or not isinstance(exp, int | float):
                raise InvalidTokenResponse(f"{where} issued a JWT whose 'exp' is not a number")
            expiries.append(float(exp))
        expires_in = _seconds(answer.get("expires_in"))  # some services send "3599"
        if expires_in is not None:
            expiries.append(now + expires_in)
        expires_at = min(expiries) if expiries else None
        if expires_at is not None and expires_at <= now:
            raise InvalidTokenResponse(
                f"{where} issued a token that expired at {_iso(expires_at)} (now {_iso(now)}); "
                "check this machine's clock and the service's"
            )
        if self.audience is not None and claims:
            aud = claims.get("aud")
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if self.audience not in audiences:
                raise InvalidTokenResponse(
                    f"{where} issued a token for audience {audiences or 'none'}, not "
                    f"{self.audience!r}; check the audience/scope the client asks for"
                )
        sub = claims.get("sub")
        principal = sub if isinstance(sub, str) and sub else self.client_id
        return self._cached(Secret(value), principal, claims, expires_at, now)

    def _claims(self, value: str, where: str) -> Mapping[str, Any]:
        parts = value.split(".")
        if len(parts) not in (3, 5) or not all(_BASE64URL_PART.match(p) for p in parts[:2]):
            raise InvalidTokenResponse(
                f"{where} issued an access token that is not a JWT ({len(parts)} dot-separated "
                "part(s)); a DICOM type 5 identity needs a JWT: configure the service to issue "
                "JWT access tokens for this client"
            )
        if len(parts) == 5:
            return {}  # a JWE: its claims are encrypted; expires_in tells the lifetime
        import jwt  # here, not at import: PyJWT and cryptography cost ~90 ms of start-up

        try:
            claims = jwt.decode(value, options={"verify_signature": False, "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise InvalidTokenResponse(
                f"{where} issued an access token that does not decode as a JWT "
                f"({type(exc).__name__})"
            ) from None
        return claims

    def _cached(
        self,
        value: Secret,
        principal: str,
        claims: Mapping[str, Any],
        expires_at: float | None,
        now: float,
    ) -> _Token:
        if expires_at is None:  # no lifetime known: used once, fetched again next time
            return _Token(value, principal, None, now, now)
        iat = claims.get("iat")
        issued = float(iat) if isinstance(iat, int | float) and iat <= now else now
        lifetime = max(expires_at - issued, 0.0)
        advisory = min(self.advisory_window, ADVISORY_FRACTION * lifetime)
        mandatory = min(self.mandatory_window, MANDATORY_FRACTION * lifetime)
        return _Token(value, principal, expires_at, expires_at - advisory, expires_at - mandatory)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _shown(text: str, secret: Secret | None) -> str:
    """Server text for a message: printable, shortened, never the client secret."""
    if secret is not None:
        value = secret.reveal().decode("utf-8", "replace")
        if value:
            text = text.replace(value, "[redacted]")
    return shortened(text)


def _iso(ts: float | None) -> str:
    if ts is None:
        return "(unknown)"
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):  # a server's "exp" may be anything
        return f"{ts:g} s after the epoch"
