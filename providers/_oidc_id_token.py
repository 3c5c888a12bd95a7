"""ID tokens verified against the issuer's JWKS (OpenID Connect Core 3.1.3.7, 12.2).

PyJWT's ``PyJWKClient`` finds the key by ``kid``: the key set is cached (``JWKS_MAX_AGE``) and
read again once when a token names a ``kid`` it does not hold (the provider rotated its keys;
no cool-down: tokens come only from the token endpoint this client asked). The key set is read
through the same transport as every other request (:class:`~providers._oidc_server.OidcServer`),
not PyJWT's urllib (no deadline, proxies from the environment, no loopback check).

Checked: the signature (an asymmetric algorithm the provider advertises), ``iss`` (the issuer of
the discovery document), ``aud`` (the client id; ``azp`` too when there are several), ``exp``
and ``iat`` (60 s of leeway), ``sub`` present, ``nonce`` (when the login sent one), and on a
refresh the same ``sub`` as the login's.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from providers._errors import CredentialError
from providers._oidc_errors import InvalidIdToken
from providers._oidc_server import OidcServer
from providers._outside_text import label
from providers._safe_errors import secret_safe, total_repr
from providers._scrub import server_text
from providers._secret import Secret
from providers._token_answer import iso_time

log = logging.getLogger("providers.oidc_id_token")

JWKS_MAX_AGE = 3600.0
LEEWAY = 60  # seconds of clock difference allowed for exp and iat
_REQUIRED = ["iss", "sub", "aud", "exp", "iat"]


@dataclass(frozen=True)
class IdToken:
    """What a verified ID token says of the person (no token: only these claims)."""

    subject: str
    name: str | None  # preferred_username, name or email, for people to read
    issuer: str
    expires_at: float
    auth_time: float | None


def _jwks_client(server: OidcServer, url: str) -> Any:
    import jwt

    class JwksClient(jwt.PyJWKClient):
        def fetch_data(self) -> Any:
            keys = server.get_json(url, "the JWKS endpoint").field("keys")
            data = {"keys": keys if isinstance(keys, list) else []}
            log.debug("read the JWKS of %s at %s: %d key(s)", server.issuer, url, len(data["keys"]))
            if self.jwk_set_cache is not None:
                self.jwk_set_cache.put(data)
            self._last_successful_fetch = time.monotonic()
            return data

    return JwksClient(url, cache_jwk_set=True, lifespan=JWKS_MAX_AGE, cooldown_duration=0)


class IdTokenVerifier:
    """Verifies the ID tokens of ``server`` for the client ``client_id``."""

    def __init__(self, server: OidcServer, client_id: str) -> None:
        self.server = server
        self.client_id = client_id
        self._jwks: Any = None
        self._jwks_url: str | None = None

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"IdTokenVerifier({self.server.issuer!r}, {self.client_id!r})"
        )

    @secret_safe  # the token, its claims and PyJWT's frames
    def verify(
        self, id_token: Secret, *, nonce: str | None = None, subject: str | None = None
    ) -> IdToken:
        """The claims of ``id_token``, verified; :class:`InvalidIdToken` says what failed.
        ``nonce``: the one the login sent; ``subject``: the person of an earlier ID token."""
        try:
            import jwt
        except ImportError as exc:  # pragma: no cover - PyJWT is a dependency
            raise CredentialError(f"PyJWT is missing ({exc.name})") from None
        endpoints = self.server.endpoints()
        where = f"the ID token from {self.server.issuer}"
        token = id_token.reveal().decode("utf-8", "replace")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except Exception as exc:  # a hostile token may upset the parser in any way
            problem: str | None = f"does not decode as a JWT ({type(exc).__name__})"
            header, unverified = {}, {}
        else:
            problem = None
        if problem is None:
            problem = self._check_signature(token, header, endpoints.id_token_algorithms)
        if problem is None:
            problem = self._check_claims(unverified, endpoints.issuer)
        if problem is None:
            problem = self._check_binding(unverified, nonce, subject)
        if problem is not None:
            raise InvalidIdToken(f"{where} {problem}; the login's tokens were not kept")
        name = next(
            (
                label(v, 128)
                for k in ("preferred_username", "name", "email")
                if isinstance(v := unverified.get(k), str) and v
            ),
            None,
        )
        auth_time = unverified.get("auth_time")
        return IdToken(
            subject=label(str(unverified["sub"]), 256),
            name=name,
            issuer=endpoints.issuer,
            expires_at=_seconds(unverified["exp"]) or 0.0,
            auth_time=_seconds(auth_time),
        )

    def _keys(self, url: str) -> Any:
        if self._jwks is None or self._jwks_url != url:
            self._jwks, self._jwks_url = _jwks_client(self.server, url), url
        return self._jwks

    def _check_signature(
        self, token: str, header: dict[str, Any], algorithms: tuple[str, ...]
    ) -> str | None:
        import jwt

        alg = header.get("alg")
        if alg not in algorithms:
            shown = server_text(str(alg), limit=20)
            return f"is signed with {shown!r}, not one of {', '.join(algorithms)}"
        kid = header.get("kid")
        jwks = self._keys(self.server.endpoints().jwks)
        try:
            if isinstance(kid, str):
                key = jwks.get_signing_key(kid)
            else:  # no kid: the key set must hold exactly one signing key
                keys = jwks.get_signing_keys()
                if len(keys) != 1:
                    return f"names no key id (kid), and the JWKS holds {len(keys)} keys"
                key = keys[0]
        except jwt.PyJWKSetError:  # before PyJWTError: no usable key at all
            return "cannot be verified: the issuer's JWKS holds no key this client can use"
        except jwt.PyJWTError:  # PyJWKClientError: no key with this kid, even read again
            shown = server_text(str(kid), limit=60)
            return (
                f"is signed with the key {shown!r}, which the issuer's JWKS does not hold (read "
                "again for it)"
            )
        try:
            jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            return f"has a signature that does not verify with the issuer's key {key.key_id!r}"
        except Exception as exc:  # a key that does not fit the algorithm, a bad header
            return f"cannot be verified ({type(exc).__name__})"
        return None

    def _check_claims(self, claims: dict[str, Any], issuer: str) -> str | None:
        iss, aud = claims.get("iss"), claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        for name in _REQUIRED:
            if name not in claims:
                return f"lacks the {name!r} claim"
        if not isinstance(iss, str) or iss != issuer:
            return f"was issued by {server_text(str(iss), limit=120)!r}, not {issuer!r}"
        if self.client_id not in audiences:
            shown = server_text(", ".join(map(str, audiences)), limit=120)
            return f"is for the audience [{shown}], not this client {self.client_id!r}"
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self.client_id:
            return f"was issued to {server_text(str(azp), limit=80)!r} (azp), not this client"
        exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
        if exp is None or iat is None:
            return "has an 'exp' or 'iat' that is not a number"
        now = time.time()
        if exp + LEEWAY < now:
            return f"expired at {iso_time(exp)} (now {iso_time(now)}); check this machine's clock"
        if iat - LEEWAY > now:
            return f"was issued at {iso_time(iat)}, in the future; check this machine's clock"
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            return "has no subject ('sub')"
        return None

    def _check_binding(
        self, claims: dict[str, Any], nonce: str | None, subject: str | None
    ) -> str | None:
        if nonce is not None:
            said = claims.get("nonce")
            given = said.encode("utf-8", "surrogatepass") if isinstance(said, str) else b""
            if not hmac.compare_digest(given, nonce.encode()):
                return (
                    "carries another nonce than this login sent: an answer to another login "
                    "(replayed or injected)"
                )
        if subject is not None and claims.get("sub") != subject:
            return "is for another person ('sub') than the login's"
        return None


def _seconds(value: object) -> float | None:
    """A finite NumericDate, or None (a bool, a string, a number beyond float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None
