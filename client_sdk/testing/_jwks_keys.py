"""The embedded PACS's JWT keys read from a JWKS URL (an OpenID Provider's ``jwks_uri``).

PyJWT's ``PyJWKClient`` keeps the key set (``JWKS_MAX_AGE``) and reads it again when a token
names a ``kid`` it does not hold: the provider rotated its keys. The set is read only from the
configured URL: no redirect is followed, no proxy is taken from the environment, one overall
deadline per read and a size bound on the answer. By default every unknown kid reads the set
again at once (a test peer: a rotated key must verify on the next association);
``refetch_cooldown`` makes that at most once per so many seconds, so a requestor inventing kids
cannot make a long-running PACS read the set on every association.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

__all__ = ["JWKS_MAX_AGE", "JwksKeys", "JwksUnavailable"]

JWKS_MAX_AGE = 3600.0
MAX_JWKS_BYTES = 1 << 20


class JwksUnavailable(Exception):
    """The key set could not be read or used; the message names the URL and what failed."""


class _Client(jwt.PyJWKClient):
    def __init__(self, url: str, timeout: float, cooldown: float) -> None:
        super().__init__(url, cache_jwk_set=True, lifespan=JWKS_MAX_AGE, cooldown_duration=cooldown)
        self._timeout = timeout
        self.reads = 0

    def fetch_data(self) -> Any:
        self.reads += 1
        deadline = time.monotonic() + self._timeout
        where = f"the JWKS at {self.uri}"
        try:
            with requests.Session() as session:
                session.trust_env = False  # the configured URL, never a proxy from the environment
                answer = session.get(
                    self.uri, timeout=self._timeout, allow_redirects=False, stream=True
                )
                with answer:
                    body = b""
                    for chunk in answer.iter_content(65536):
                        body += chunk
                        if len(body) > MAX_JWKS_BYTES:
                            raise JwksUnavailable(f"{where} is larger than {MAX_JWKS_BYTES} bytes")
                        if time.monotonic() > deadline:
                            raise JwksUnavailable(f"{where} was not read within {self._timeout} s")
        except requests.RequestException as exc:
            raise JwksUnavailable(f"{where} could not be read ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise JwksUnavailable(f"{where} answered HTTP {answer.status_code}, not 200")
        try:
            data = json.loads(body)
        except ValueError:
            raise JwksUnavailable(f"{where} is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise JwksUnavailable(f"{where} is not a key set (no 'keys' list)")
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(data)
        self._last_successful_fetch = time.monotonic()
        return data


class JwksKeys:
    """Signing keys by ``kid`` from ``url`` (http or https), for verifying a JWT."""

    def __init__(self, url: str, *, timeout: float = 5.0, refetch_cooldown: float = 0.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the JWKS URL must be an http(s) URL with a host, not {url!r}")
        self.url = url
        self._client = _Client(url, timeout, refetch_cooldown)

    def __repr__(self) -> str:
        return f"JwksKeys(url={self.url!r})"

    @property
    def reads(self) -> int:
        """How many times the key set was read."""
        return self._client.reads

    def key_for(self, header: dict[str, Any]) -> Any:
        """The public key for a token with this (unverified) header. Raises
        :class:`JwksUnavailable` (a safe message) when the set cannot be read or holds no such
        key."""
        kid = header.get("kid")
        try:
            if isinstance(kid, str):
                return self._client.get_signing_key(kid).key
            keys = self._client.get_signing_keys()
        except JwksUnavailable:
            raise
        except jwt.PyJWKSetError:
            raise JwksUnavailable(f"the JWKS at {self.url} holds no usable key") from None
        except jwt.PyJWKClientError:
            raise JwksUnavailable(
                f"the JWKS at {self.url} holds no key with the JWT's kid {str(kid)[:60]!r}"
            ) from None
        if len(keys) != 1:
            raise JwksUnavailable(f"the JWT names no kid and the JWKS holds {len(keys)} keys")
        return keys[0].key
