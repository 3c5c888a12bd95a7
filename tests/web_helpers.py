"""Helpers shared by the DICOMweb stack tests (test_web_servers, test_web_roundtrip): plain HTTP
sessions that ignore proxies and netrc from the environment, QIDO, signed JWTs, the Kerberos
``requests`` auth, and reading Apache's access log with a bound. The fixtures are in
tests/web_fixtures.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import poll
from tests.web_servers import REALM_NAME, ApacheProxy

PASSWORD = "correct horse battery staple"
AUDIENCE = "DICOMWEB"
SUBJECT = "alice@example.org"
BASIC_CHALLENGE = f'Basic realm="{REALM_NAME}"'
HTTP_TIMEOUT = 20.0
KRB5_MECH_OID = bytes.fromhex("06092a864886f712010202")  # DER of 1.2.840.113554.1.2.2


def session(auth: Any = None) -> requests.Session:
    """No proxy or netrc from the environment: only 127.0.0.1 is contacted."""
    s = requests.Session()
    s.trust_env = False
    s.auth = auth
    return s


def qido(proxy_or_url: ApacheProxy | str, **kwargs: Any) -> requests.Response:
    base = proxy_or_url.url if isinstance(proxy_or_url, ApacheProxy) else proxy_or_url
    auth = kwargs.pop("auth", None)
    with session(auth) as s:
        return s.get(f"{base}/studies", timeout=HTTP_TIMEOUT, **kwargs)


# --- servers -------------------------------------------------------------------------------------


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def make_token(
    key: rsa.RSAPrivateKey, *, kid: str = "k1", lifetime: float | None = 300, **claims: Any
) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"sub": SUBJECT, "aud": AUDIENCE, "iat": now}
    if lifetime is not None:
        body["exp"] = now + int(lifetime)
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class BearerAuthHeader(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def kerberos_auth(service: str = "HTTP") -> Any:
    from requests_kerberos import REQUIRED, HTTPKerberosAuth

    return HTTPKerberosAuth(
        mutual_authentication=REQUIRED, hostname_override="localhost", service=service
    )


def access_since(proxy: ApacheProxy, mark: int, count: int) -> list[str]:
    """The ``count`` access-log lines after the first ``mark`` ones, once written (Apache logs
    a request after it has replied)."""
    poll(lambda: len(proxy.access_log()) >= mark + count, timeout=5, what="the access log")
    return proxy.access_log()[mark : mark + count]


def access_line(proxy: ApacheProxy, mark: int, request: str, *, status: int) -> str:
    """The first access-log line after ``mark`` with ``status`` and ``request``, once written."""

    def matching() -> list[str]:
        lines = proxy.access_log()[mark:]
        return [line for line in lines if line.startswith(f"{status} ") and request in line]

    poll(lambda: bool(matching()), timeout=5, what=f"{status} {request} in the access log")
    return matching()[0]
