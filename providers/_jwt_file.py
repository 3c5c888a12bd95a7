"""Type 5: a JSON Web Token from a file that an agent rotates."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from providers._base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers._errors import CredentialError, CredentialExpired
from providers._outside_text import label, quoted
from providers._rotating_file import RotatingFile
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._token_file import TokenFileProvider

log = logging.getLogger("providers.jwt_file")

_BASE64URL_PART = re.compile(r"^[A-Za-z0-9_-]*$")
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)
_UTF8_BOM = b"\xef\xbb\xbf"  # what some Windows editors put first in a "UTF-8" file


@dataclass(frozen=True)
class _Loaded:
    token: Secret
    claims: Mapping[str, Any]  # empty for a JWE: its claims are encrypted

    def __repr__(self) -> str:  # total: copy.deepcopy leaves a half-built one in a frame
        return total_repr(self, lambda: f"_Loaded({self.token!r}, {quoted(self.claims, 200)})")


class JwtFileProvider(TokenFileProvider[_Loaded]):
    """Reads a compact JWT from ``path`` whenever the file changed since the last read.

    The signature is not verified here (the peer does that); the claims are read only to refuse,
    before anything is sent, a token that is expired, not yet valid, or for another audience.
    """

    identity_type = IdentityType.JWT

    def _open_file(self) -> RotatingFile[_Loaded]:
        return RotatingFile(self.path, self._parse, what="JWT file", noun="token")

    @property
    def _loaded(self) -> _Loaded | None:
        return self._file.cached

    @secret_safe  # the file's text, PyJWT's errors and frames: none may ride out on an error
    def negotiate(self, target: Target) -> IdentityExchange:
        loaded = self._file.load()
        self._check_claims(loaded.claims)
        sub = loaded.claims.get("sub")
        request = IdentityRequest(
            IdentityType.JWT,
            loaded.token,
            positive_response_requested=self.positive_response,
            # Only a label for logs and audit (the peer reads the token): one printable line.
            principal=label(sub) if isinstance(sub, str) else "",
            source=f"JWT file {self.path}",
        )
        return IdentityExchange(request)

    def _parse(self, raw: bytes) -> _Loaded:
        what_to_do = "check what the token agent writes to it"
        try:
            text = raw.removeprefix(_UTF8_BOM).decode("ascii").strip()
        except UnicodeDecodeError:
            raise CredentialError(
                f"JWT file {self.path} holds bytes that are not ASCII, so no compact JWT "
                f"(base64url text); {what_to_do}, and that the path names the token file"
            ) from None
        text = _BEARER.sub("", text, count=1).strip()
        if not text:
            raise CredentialError(
                f"JWT file {self.path} is empty; the token agent may not have written it yet. "
                "Check that it runs, and that it replaces the file atomically (a temp file, then "
                "a rename)"
            )
        parts = text.split(".")
        if len(parts) not in (3, 5):
            raise CredentialError(
                f"JWT file {self.path} does not hold a compact JWT: expected 3 (JWS) or 5 (JWE) "
                f"base64url parts separated by dots, found {len(parts)} part(s); {what_to_do}"
            )
        bad = next((n for n, part in enumerate(parts, 1) if not _BASE64URL_PART.match(part)), 0)
        if bad:
            raise CredentialError(
                f"JWT file {self.path} does not hold a compact JWT: part {bad} of {len(parts)} has "
                f"characters outside base64url (A-Z a-z 0-9 - _); {what_to_do}"
            )
        if len(parts) == 5:
            return _Loaded(Secret(text), {})
        import jwt  # here, not at import: PyJWT and cryptography cost ~90 ms of start-up

        try:
            claims = jwt.decode(
                text,
                options={
                    "verify_signature": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            raise CredentialError(
                f"JWT file {self.path} holds a token whose header or claims cannot be decoded "
                f"({type(exc).__name__}); {what_to_do}"
            ) from None
        return _Loaded(Secret(text), claims)

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        """Refuse, before sending, what the peer's PyJWT-style check would refuse anyway."""
        now = self._clock()
        exp = self._time_claim(claims, "exp")
        if exp is not None and now > exp + self.leeway:
            raise CredentialExpired(
                f"JWT in {self.path} expired at {_iso(exp)} (now {_iso(now)}, leeway "
                f"{self.leeway:g} s); nothing was sent. Check that the agent rotating it runs"
            )
        for claim, meaning in (("nbf", "is not valid before"), ("iat", "was issued at")):
            start = self._time_claim(claims, claim)
            if start is not None and now + self.leeway < start:
                raise CredentialExpired(
                    f"JWT in {self.path} {meaning} {_iso(start)}, in the future (now "
                    f"{_iso(now)}, leeway {self.leeway:g} s); nothing was sent. Check this "
                    "machine's clock (timedatectl) and the token issuer's"
                )
        if self.audience is not None:
            aud = claims.get("aud")
            audiences = (
                [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
            )
            if self.audience not in audiences:
                shown = quoted(audiences) if audiences else "none"
                raise CredentialError(
                    f"JWT in {self.path} is for audience {shown}, not "
                    f"{self.audience!r}; nothing was sent. Request a token for {self.audience!r}"
                )

    def _time_claim(self, claims: Mapping[str, Any], claim: str) -> float | None:
        value = claims.get(claim)
        if value is None:
            return None
        try:
            seconds = float(value) if isinstance(value, int | float) else math.nan
        except OverflowError:  # an int too large for a float
            seconds = math.nan
        if isinstance(value, bool) or not math.isfinite(seconds):
            raise CredentialError(
                f"JWT in {self.path}: the {claim!r} claim is not a number of seconds since "
                "1970 (NumericDate); the token issuer must fix the token"
            )
        return seconds


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):  # beyond the years datetime can show
        return f"{ts:g} s since 1970"
