"""``DicomWebClient`` with Bearer tokens that expire (issue 18): the token the server refuses as
expired is renewed once, within the same call, and the call succeeds; a second refusal is the
answer (tests/test_dicomweb_client.py: a token from another key). Against Apache's mod_oauth2
in front of Orthanc: a JWT file rotated by its agent, and the token endpoint of the tests'
OpenID Provider (oidc-provider) issuing one-second tokens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from client_sdk import DicomWebClient
from providers import JwtFileProvider, TokenEndpointProvider
from tests.conftest import poll, write_token
from tests.oidc_fixtures import start_oidc_provider
from tests.web_helpers import access_since, make_token
from tests.web_servers import ApacheProxy, BearerAuth, apache_proxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


class Sent:
    """A response hook that keeps the status and Authorization of each reply it sees, and may
    act on it (``then``). As a session hook it runs after the auth object's own, so it sees
    the final answer of a request."""

    def __init__(self, then: Any = None) -> None:
        self.replies: list[tuple[int, str]] = []
        self.then = then

    def __call__(self, response: requests.Response, **_: Any) -> None:
        sent = response.request.headers.get("Authorization", "")
        self.replies.append((response.status_code, str(sent)))
        if self.then is not None:
            self.then(response)


def test_an_expired_jwt_is_replaced_by_the_rotated_one_once(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    # Expired 5 s ago: within the provider's leeway, so it is sent; the server refuses it.
    path = write_token(tmp_path / "token.jwt", make_token(signing_key, lifetime=-5))
    fresh = make_token(signing_key)
    # The agent rotates the file while the refused request is on its way back: a hook that
    # runs before the auth object's own.
    rotate = Sent(lambda r: write_token(path, fresh) if r.status_code == 401 else None)
    with DicomWebClient(bearer_proxy.url, JwtFileProvider(path), timeout=20) as client:
        client.session.auth = HookFirst(client.session.auth, rotate)
        mark = len(bearer_proxy.access_log())
        assert client.echo() == 0x0000
    assert [status for status, _ in rotate.replies] == [401]  # the hook sees the first answer
    # One call: refused (expired), the rotated token sent once, accepted.
    refused, accepted = access_since(bearer_proxy, mark, 2)
    assert refused.startswith("401 - ") and accepted.startswith("200 "), bearer_proxy.describe()
    assert len(bearer_proxy.access_log()) == mark + 2
    assert "JWT expired" in bearer_proxy.process.log()


class HookFirst(requests.auth.AuthBase):
    """``auth``, with ``hook`` called on each answer before the auth object's own hook."""

    def __init__(self, auth: Any, hook: Any) -> None:
        self.auth = auth
        self.hook = hook

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = self.auth(request)
        assert request.hooks is not None
        request.hooks["response"].insert(0, self.hook)
        return request


class LateFrozenClock:
    """The provider's clock, a minute behind and stopped: its cached token never reaches its
    refresh window, while the server's real clock passes the token's ``exp``."""

    def __init__(self) -> None:
        self.now = time.time() - 60

    def __call__(self) -> float:
        return self.now


def test_an_expired_token_from_the_endpoint_is_renewed_once(
    backend: str, tmp_path: Path, file_keyring: Any
) -> None:
    with start_oidc_provider(tmp_path / "op", ttl={"ClientCredentials": 1}) as op:
        scheme = BearerAuth(jwks_uri=op.endpoint("jwks"), audience=op.audience)
        with apache_proxy(backend, scheme=scheme) as proxy:
            client_entry = op.clients["post"]
            file_keyring.set_password("oidc-test", client_entry.client_id, client_entry.secret)
            provider = TokenEndpointProvider(
                op.endpoint("token"),
                client_id=client_entry.client_id,
                client_secret_keyring=("oidc-test", client_entry.client_id),
                scope=op.scope,
                audience=op.audience,
                keyring_backend=file_keyring,
                clock=LateFrozenClock(),
            )
            sent = Sent()
            with DicomWebClient(proxy.url, provider, timeout=20) as client:
                client.session.hooks["response"].append(sent)
                assert client.echo() == 0x0000
                issued = sent.replies[0][1]
                claims = jwt.decode(issued.split()[1], options={"verify_signature": False})
                poll(lambda: int(time.time()) > claims["exp"], timeout=5, what="the token's exp")
                mark = len(proxy.access_log())
                assert client.find({"PatientID": "*"}) is not None
            # One call: refused (expired), renewed once, accepted; never a third request.
            refused, accepted = access_since(proxy, mark, 2)
            assert refused.startswith("401 - ") and accepted.startswith("200 "), proxy.describe()
            assert len(proxy.access_log()) == mark + 2
            status, authorization = sent.replies[-1]
            assert status == 200 and authorization != issued  # the renewed token
            assert "JWT expired" in proxy.process.log()
