"""Type 5: a JSON Web Token from a file that an agent rotates."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from providers.base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers.errors import CredentialError, CredentialExpired
from providers.rotating_file import RotatingFile
from providers.secret import Secret

__all__ = ["JwtFileProvider"]

log = logging.getLogger(__name__)

_BASE64URL_PART = re.compile(r"^[A-Za-z0-9_-]*$")
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)


@dataclass(frozen=True)
class _Loaded:
    token: Secret
    claims: Mapping[str, Any]  # empty for a JWE: its claims are encrypted


class JwtFileProvider:
    """Reads a compact JWT from ``path`` whenever the file changed since the last read.

    The signature is not verified here (the peer does that); the claims are read only to refuse,
    before anything is sent, a token that is expired, not yet valid, or for another audience.
    """

    identity_type = IdentityType.JWT

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        audience: str | None = None,
        leeway: float = 30,
        positive_response: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.audience = audience
        self.leeway = leeway
        self.positive_response = positive_response
        self._clock = clock
        self._file = RotatingFile(self.path, self._parse, what="JWT file", noun="token")

    @property
    def _loaded(self) -> _Loaded | None:
        return self._file.cached

    def negotiate(self, target: Target) -> IdentityExchange:
        loaded = self._file.load()
        self._check_claims(loaded.claims)
        sub = loaded.claims.get("sub")
        request = IdentityRequest(
            IdentityType.JWT,
            loaded.token,
            positive_response_requested=self.positive_response,
            principal=sub if isinstance(sub, str) else "",
            source=f"JWT file {self.path}",
        )
        return IdentityExchange(request)

    def _parse(self, raw: bytes) -> _Loaded:
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise CredentialError(
                f"JWT file {self.path} holds non-ASCII bytes; a compact JWT is base64url text"
            ) from None
        text = _BEARER.sub("", text, count=1).strip()
        if not text:
            raise CredentialError(
                f"JWT file {self.path} is empty; the token agent may not have written it yet"
            )
        parts = text.split(".")
        if len(parts) not in (3, 5) or not all(_BASE64URL_PART.match(p) for p in parts):
            raise CredentialError(
                f"JWT file {self.path} does not hold a compact JWT: expected 3 (JWS) or 5 (JWE) "
                f"base64url parts separated by dots, found {len(parts)} part(s)"
            )
        if len(parts) == 5:
            return _Loaded(Secret(text), {})
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
        except jwt.PyJWTError as exc:
            raise CredentialError(
                f"JWT file {self.path} holds a token that cannot be decoded "
                f"({type(exc).__name__}); "
                "check what the token agent writes"
            ) from None
        return _Loaded(Secret(text), claims)

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        exp = claims.get("exp")
        if exp is not None:
            if not isinstance(exp, int | float):
                raise CredentialError(f"JWT in {self.path}: the 'exp' claim is not a number")
            if now > exp + self.leeway:
                raise CredentialExpired(
                    f"JWT in {self.path} expired at {_iso(exp)} (now {_iso(now)}, leeway "
                    f"{self.leeway:g} s); nothing was sent. Check that the agent rotating it runs"
                )
        nbf = claims.get("nbf")
        if nbf is not None:
            if not isinstance(nbf, int | float):
                raise CredentialError(f"JWT in {self.path}: the 'nbf' claim is not a number")
            if now + self.leeway < nbf:
                raise CredentialExpired(
                    f"JWT in {self.path} is not valid before {_iso(nbf)} (now {_iso(now)}); "
                    "nothing was sent. Check this machine's clock"
                )
        if self.audience is not None:
            aud = claims.get("aud")
            audiences = (
                [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else []
            )
            if self.audience not in audiences:
                raise CredentialError(
                    f"JWT in {self.path} is for audience {audiences or 'none'}, not "
                    f"{self.audience!r}; nothing was sent. Request a token for {self.audience!r}"
                )

    def __repr__(self) -> str:
        return f"JwtFileProvider(path={str(self.path)!r}, audience={self.audience!r})"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
