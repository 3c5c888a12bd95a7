"""``providers._http_auth`` Bearer (issue 18) against Apache's mod_oauth2 in front of Orthanc's
DICOMweb: tokens from a JWT file (the proxy trusts a fixed key) and from the token endpoint of
the tests' OpenID Provider (oidc-provider; the proxy takes its keys from the provider's JWKS).

A good token gets in; a refused one (``invalid_token``) is renewed once: the JWT file read again
after its agent rotated it, the token endpoint asked for a new token although the cached one is
not due for refresh. The same token again, or a second 401, is the answer: never a third
request. A token for another audience is a 403, not retried. Any provider with a token cache
(``forget``: the OIDC login too) is told of the refused token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from providers import (
    IdentityExchange,
    IdentityRequest,
    IdentityType,
    JwtFileProvider,
    Secret,
    TokenEndpointProvider,
    TokenRequestRejected,
)
from providers._bearer_auth import ProviderTokens
from providers._http_auth import http_auth
from providers._http_origin import Origin
from tests.conftest import poll, write_token
from tests.http_auth_helpers import lines_for, logged, new_mark, qido, send_with_hook
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider
from tests.web_helpers import SUBJECT, make_token, public_jwk, rsa_key
from tests.web_servers import ApacheProxy, BearerAuth, apache_proxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


# --- a JWT file ----------------------------------------------------------------------------------


def test_bearer_from_a_jwt_file(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(signing_key))
    mark = new_mark()
    reply = qido(http_auth(JwtFileProvider(path), url=bearer_proxy.url), bearer_proxy.url, mark)
    assert reply.status_code == 200
    (line,) = logged(bearer_proxy, mark, 1)
    assert line.startswith(f'200 {SUBJECT} "GET /dicom-web/studies?')


def test_a_token_signed_by_another_key_is_one_401(
    bearer_proxy: ApacheProxy, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(rsa_key()))
    mark = new_mark()
    reply = qido(http_auth(JwtFileProvider(path), url=bearer_proxy.url), bearer_proxy.url, mark)
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    assert reply.history == []  # the file was read again: the same token, no retry
    logged(bearer_proxy, mark, 1)


def test_an_expired_token_is_replaced_by_the_one_the_agent_rotated_in_once(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    # Expired 5 s ago: within the provider's leeway (30 s), so it is sent; the server refuses it.
    path = write_token(tmp_path / "token.jwt", make_token(signing_key, lifetime=-5))
    auth = http_auth(JwtFileProvider(path), url=bearer_proxy.url)
    fresh = make_token(signing_key)
    mark = new_mark()
    # The agent rotates the file while the refused request is on its way back.
    reply = send_with_hook(
        auth,
        bearer_proxy.url,
        mark,
        lambda r: write_token(path, fresh) if r.status_code == 401 else None,
    )
    assert reply.status_code == 200, bearer_proxy.describe()
    assert [r.status_code for r in reply.history] == [401]
    assert reply.request.headers["Authorization"] == f"Bearer {fresh}"
    assert "JWT expired" in bearer_proxy.process.log()
    refused, accepted = logged(bearer_proxy, mark, 2)
    assert refused.startswith("401 - ") and accepted.startswith(f"200 {SUBJECT} ")


def test_a_second_401_after_the_file_was_read_again_is_the_answer(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(signing_key, lifetime=-5))
    auth = http_auth(JwtFileProvider(path), url=bearer_proxy.url)
    also_bad = make_token(rsa_key())  # the agent writes a token the server does not trust
    mark = new_mark()
    reply = send_with_hook(
        auth,
        bearer_proxy.url,
        mark,
        lambda r: write_token(path, also_bad) if r.status_code == 401 else None,
    )
    assert reply.status_code == 401
    assert [r.status_code for r in reply.history] == [401]
    logged(bearer_proxy, mark, 2)  # two requests, never a third


def test_a_token_for_another_audience_is_forbidden_without_a_retry(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(signing_key, aud="ELSEWHERE"))
    mark = new_mark()
    reply = qido(http_auth(JwtFileProvider(path), url=bearer_proxy.url), bearer_proxy.url, mark)
    assert reply.status_code == 403 and reply.history == []
    logged(bearer_proxy, mark, 1)


# --- the token endpoint of a real OpenID Provider ------------------------------------------------


def endpoint_provider(
    op: RunningOidcProvider, keyring: Any, *, secret: str | None = None, **kwargs: Any
) -> TokenEndpointProvider:
    client = op.clients["post"]
    keyring.set_password("oidc-test", client.client_id, secret or client.secret)
    return TokenEndpointProvider(
        op.endpoint("token"),
        client_id=client.client_id,
        client_secret_keyring=("oidc-test", client.client_id),
        scope=op.scope,
        audience=op.audience,
        keyring_backend=keyring,
        **kwargs,
    )


@pytest.fixture(scope="module")
def oidc_proxy(backend: str, oidc_provider: RunningOidcProvider) -> Iterator[ApacheProxy]:
    scheme = BearerAuth(jwks_uri=oidc_provider.endpoint("jwks"), audience=oidc_provider.audience)
    with apache_proxy(backend, scheme=scheme) as proxy:
        yield proxy


def test_bearer_from_the_token_endpoint(
    oidc_proxy: ApacheProxy, oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    auth = http_auth(endpoint_provider(oidc_provider, file_keyring), url=oidc_proxy.url)
    mark = new_mark()
    replies = [qido(auth, oidc_proxy.url, mark) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200], oidc_proxy.describe()
    assert len({r.request.headers["Authorization"] for r in replies}) == 1  # one cached token
    client_id = oidc_provider.clients["post"].client_id
    assert all(line.startswith(f"200 {client_id} ") for line in logged(oidc_proxy, mark, 3))


def test_a_wrong_client_secret_sends_nothing_to_the_server(
    oidc_proxy: ApacheProxy, oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    provider = endpoint_provider(oidc_provider, file_keyring, secret="not the client secret")
    mark = new_mark()
    with pytest.raises(TokenRequestRejected, match="invalid_client"):
        qido(http_auth(provider, url=oidc_proxy.url), oidc_proxy.url, mark)
    assert lines_for(oidc_proxy, mark) == []


def test_a_refused_token_is_renewed_once_and_a_second_401_is_the_answer(
    backend: str, oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    # A proxy that trusts another key: every token of the provider is invalid there.
    with apache_proxy(backend, scheme=BearerAuth(jwk=public_jwk(rsa_key(), "k1"))) as proxy:
        auth = http_auth(endpoint_provider(oidc_provider, file_keyring), url=proxy.url)
        mark = new_mark()
        reply = qido(auth, proxy.url, mark)
        assert reply.status_code == 401
        assert [r.status_code for r in reply.history] == [401]
        first, second = reply.history[0].request, reply.request
        assert first.headers["Authorization"] != second.headers["Authorization"]  # renewed
        logged(proxy, mark, 2)  # never a third request


class LateFrozenClock:
    """The provider's clock, a minute behind and stopped: its cached token never reaches its
    refresh window (the answer's ``expires_in`` counts from this clock), while the server's
    real clock passes the token's ``exp``."""

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
            provider = endpoint_provider(op, file_keyring, clock=LateFrozenClock())
            auth = http_auth(provider, url=proxy.url)
            first = qido(auth, proxy.url)
            assert first.status_code == 200 and first.history == []
            issued = first.request.headers["Authorization"]
            claims = jwt.decode(issued.split()[1], options={"verify_signature": False})
            poll(lambda: int(time.time()) > claims["exp"], timeout=5, what="the token's exp")
            mark = new_mark()
            second = qido(auth, proxy.url, mark)
            assert second.status_code == 200, proxy.describe()
            assert [r.request.headers["Authorization"] for r in second.history] == [issued]
            assert second.request.headers["Authorization"] != issued
            refused, accepted = logged(proxy, mark, 2)
            assert refused.startswith("401 - ") and accepted.startswith("200 ")
            assert "JWT expired" in proxy.process.log()


# --- any provider with a token cache: told of the refusal ----------------------------------------


class CachedTokens:
    """Pure logic: a provider whose cache holds ``tokens[0]`` until told it was refused (as
    ``OidcLoginProvider`` and ``TokenEndpointProvider`` are, through ``forget``)."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.forgotten: list[str] = []

    def negotiate(self, target: Any) -> Any:
        request = IdentityRequest(IdentityType.JWT, Secret(self.tokens[0]), principal="carol")
        return IdentityExchange(request)

    def forget(self, refused: Any) -> None:
        self.forgotten.append(refused.reveal().decode())
        if self.tokens[0] == self.forgotten[-1] and len(self.tokens) > 1:
            self.tokens.pop(0)


def test_a_provider_with_a_token_cache_is_told_of_the_refused_token() -> None:
    provider = CachedTokens("first.token", "second.token")
    tokens = ProviderTokens(provider, Origin.of("https://pacs.example.org/").target)
    sent = tokens.current()
    assert tokens.principal == "carol"
    renewed = tokens.renewed(sent)
    assert provider.forgotten == ["first.token"]
    assert renewed is not None and renewed.reveal() == b"second.token"
    # Nothing newer to be had: None, not the refused token again.
    assert tokens.renewed(renewed) is None and provider.forgotten[-1] == "second.token"
