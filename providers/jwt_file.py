"""Type 5: a JSON Web Token from a file that an agent rotates."""

from __future__ import annotations

import logging
import math
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt

from providers.base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers.errors import CredentialError, CredentialExpired, CredentialUnavailable
from providers.secret import Secret

__all__ = ["JwtFileProvider"]

log = logging.getLogger(__name__)

# Far above what fits in an association (65,463 bytes); only guards memory against a wrong path.
MAX_FILE_BYTES = 1 << 20
_BASE64URL_PART = re.compile(r"^[A-Za-z0-9_-]*$")
_BEARER = re.compile(r"^bearer\s+", re.IGNORECASE)
_UTF8_BOM = b"\xef\xbb\xbf"  # what some Windows editors put first in a "UTF-8" file


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int, int, int]  # device, inode, size, mtime_ns: what "unchanged" means
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
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def negotiate(self, target: Target) -> IdentityExchange:
        loaded = self._load()
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

    def _load(self) -> _Loaded:
        try:
            st = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise CredentialUnavailable(
                f"JWT file {self.path} does not exist. Check the path, or that the agent that "
                "writes the token is running"
            ) from None
        except OSError as exc:
            raise self._unreadable(exc) from None
        if stat.S_ISDIR(st.st_mode):
            raise CredentialError(
                f"JWT file {self.path} is a directory; the path must name the token file itself"
            )
        if not stat.S_ISREG(st.st_mode):
            # A FIFO or a device could block the read forever: only regular files are read.
            raise CredentialError(
                f"JWT file {self.path} is not a regular file; have the agent write the token "
                "to a file (a temp file, then rename it over the path)"
            )
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._loaded is not None and self._loaded.stamp == stamp:
                return self._loaded
            if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                log.warning(
                    "JWT file %s is accessible by group or others (mode %o); "
                    "restrict it with: chmod 600 %s",
                    self.path,
                    stat.S_IMODE(st.st_mode),
                    self.path,
                )
            self._loaded = _Loaded(stamp, *self._parse(self._read(st.st_size)))
            return self._loaded

    def _read(self, size: int) -> bytes:
        if size > MAX_FILE_BYTES:
            raise CredentialError(
                f"JWT file {self.path} is {size} bytes, more than any token could be; "
                "check that the path names the token file"
            )
        try:
            with self.path.open("rb") as fh:
                return fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: OSError) -> CredentialError:
        """The file is there (or its folder is) but cannot be read: configured, yet broken."""
        if isinstance(exc, PermissionError):
            return CredentialError(
                f"JWT file {self.path} cannot be read: permission denied for this process "
                f"(uid {os.geteuid()}). Let the agent write it readable by this user "
                f"(owner, mode 600), and its folder searchable; ls -l {self.path} shows who owns it"
            )
        return CredentialError(
            f"JWT file {self.path} cannot be read: {exc.strerror or type(exc).__name__}. "
            "Check the path and the file system it is on"
        )

    def _parse(self, raw: bytes) -> tuple[Secret, Mapping[str, Any]]:
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
            return Secret(text), {}
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
                f"JWT file {self.path} holds a token whose header or claims cannot be decoded "
                f"({type(exc).__name__}); {what_to_do}"
            ) from None
        return Secret(text), claims

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
                raise CredentialError(
                    f"JWT in {self.path} is for audience {audiences or 'none'}, not "
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

    def __repr__(self) -> str:
        return f"JwtFileProvider(path={str(self.path)!r}, audience={self.audience!r})"


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):  # beyond the years datetime can show
        return f"{ts:g} s since 1970"
