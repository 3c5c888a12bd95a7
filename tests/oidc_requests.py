"""Plain OAuth 2.0 requests to the test OpenID Provider (:mod:`tests.oidc_fixtures`), for tests
that check the provider itself and for tests that need a token from it without the SDK: a
client-credentials token with each client authentication method, a device login approved by the
fixture's browser, a refresh, a PKCE pair, and JWT checks with PyJWT's PyJWKClient."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

import jwt
import requests

from tests.oidc_fixtures import DEVICE_GRANT, PACS_AUDIENCE, PACS_SCOPE, RunningOidcProvider

HTTP_TIMEOUT = 5.0
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def post(
    op: RunningOidcProvider, endpoint: str, data: Mapping[str, str], **kw: Any
) -> requests.Response:
    """A form POST to a discovery endpoint (``token``, ``revocation``, ...), bounded."""
    with op.session() as s:
        return s.post(op.endpoint(endpoint), data=dict(data), timeout=HTTP_TIMEOUT, **kw)


def form_basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 2.3.1: id and secret are form-urlencoded, then joined and base64-encoded."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def verified(op: RunningOidcProvider, token: str, *, audience: str, typ: str | None) -> Any:
    """The claims of ``token`` after PyJWKClient found its key by kid in the provider's JWKS."""
    assert jwt.get_unverified_header(token).get("typ") == typ
    key = jwt.PyJWKClient(op.endpoint("jwks"), cache_keys=False).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=op.issuer,
        options={"require": ["exp", "iat", "sub"]},
    )


def verified_access_token(op: RunningOidcProvider, token: str) -> Any:
    return verified(op, token, audience=PACS_AUDIENCE, typ="at+jwt")  # RFC 9068


def client_assertion(op: RunningOidcProvider, *, lifetime: int = 60) -> str:
    """A private_key_jwt assertion (RFC 7523) for the provider's JWT client."""
    client = op.clients["private_key_jwt"]
    assert client.private_key_pem is not None
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client.client_id,
        "sub": client.client_id,
        "aud": op.endpoint("token"),
    }
    claims |= {"jti": str(uuid.uuid4()), "iat": now, "exp": now + lifetime}
    return jwt.encode(
        claims, client.private_key_pem, algorithm="RS256", headers={"kid": client.key_id}
    )


def client_credentials(op: RunningOidcProvider, role: str, **extra: str) -> requests.Response:
    client = op.clients[role]
    data = {"grant_type": "client_credentials", "scope": PACS_SCOPE, **extra}
    if role == "post":
        assert client.secret is not None
        return post(
            op, "token", data | {"client_id": client.client_id, "client_secret": client.secret}
        )
    if role == "basic":
        assert client.secret is not None
        return post(op, "token", data, headers=form_basic(client.client_id, client.secret))
    data |= {"client_assertion_type": JWT_BEARER, "client_assertion": client_assertion(op)}
    return post(op, "token", data)


def device_start(op: RunningOidcProvider, scope: str = "openid offline_access dicom") -> Any:
    answer = post(
        op, "device_authorization", {"client_id": op.clients["device"].client_id, "scope": scope}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def device_poll(op: RunningOidcProvider, device_code: str) -> requests.Response:
    data = {"client_id": op.clients["device"].client_id, "grant_type": DEVICE_GRANT}
    return post(op, "token", data | {"device_code": device_code})


def device_login(op: RunningOidcProvider, login: str = "alice") -> Any:
    started = device_start(op)
    op.approve_device(started["user_code"], login, op.users[login])
    answer = device_poll(op, started["device_code"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh(op: RunningOidcProvider, role: str, refresh_token: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return post(op, "token", data | {"client_id": op.clients[role].client_id})


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorization_url(
    op: RunningOidcProvider, redirect_uri: str, challenge: str, **params: str
) -> str:
    """The browser client's authorization request with a PKCE S256 ``challenge``."""
    query = {"client_id": op.clients["browser"].client_id, "response_type": "code"}
    query |= {"redirect_uri": redirect_uri, "scope": "openid offline_access dicom"}
    query |= {"code_challenge": challenge, "code_challenge_method": "S256"} | params
    return f"{op.endpoint('authorization')}?{urlencode(query)}"


def jwks_kids(op: RunningOidcProvider) -> list[str]:
    """The kids in the provider's JWKS, in its order."""
    with op.session() as s:
        keys = s.get(op.endpoint("jwks"), timeout=HTTP_TIMEOUT).json()["keys"]
    return [str(k["kid"]) for k in keys]


def active(op: RunningOidcProvider, token: str) -> bool:
    """Introspection (RFC 7662) by a confidential client: whether ``token`` is still valid."""
    client = op.clients["basic"]
    assert client.secret is not None
    answer = post(
        op, "introspection", {"token": token}, headers=form_basic(client.client_id, client.secret)
    )
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["active"])
