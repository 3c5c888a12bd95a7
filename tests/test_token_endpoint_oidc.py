"""TokenEndpointProvider against the real OpenID Provider (tests/oidc_op, oidc-provider): the
cases of tests/test_token_endpoint.py a real provider can play. Client credentials reach the
embedded PACS, which verifies them with the provider's JWKS, and are fetched once for several
associations; a wrong secret; a token for another audience; the advisory and mandatory refresh
windows, with the provider really stopped for the failures. The home-made server
(tests/token_server.py) stays for what a real provider will not do: HTTP 503, garbage answers,
an error text echoing the secret, a silent endpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from client_sdk import Client, Peer
from client_sdk.testing import EmbeddedPacs
from providers import (
    IdentityType,
    InvalidTokenResponse,
    Target,
    TokenEndpointProvider,
    TokenEndpointUnreachable,
    TokenRequestRejected,
)
from providers._token_endpoint import TokenEndpointAuth
from tests.conftest import AUDIENCE
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider

pytestmark = pytest.mark.usefixtures("no_outside_connections")

SERVICE = "oidc-op.test"
TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")
ROLES: dict[str, TokenEndpointAuth] = {"post": "client-secret", "basic": "client-secret-basic"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def provider_for(
    op: RunningOidcProvider, role: str, keyring: Any, secret: str | None = None, **kw: Any
) -> TokenEndpointProvider:
    client = op.clients[role]
    keyring.set_password(SERVICE, client.client_id, secret or client.secret)
    kw.setdefault("scope", op.scope)
    kw.setdefault("audience", AUDIENCE)
    return TokenEndpointProvider(
        op.endpoint("token"),
        client_id=client.client_id,
        client_secret_keyring=(SERVICE, client.client_id),
        auth=ROLES[role],
        keyring_backend=keyring,
        timeout=5.0,
        **kw,
    )


def token_of(provider: TokenEndpointProvider) -> str:
    return provider.negotiate(TARGET).request.primary.reveal().decode()


@pytest.mark.parametrize("role", sorted(ROLES))
def test_client_credentials_reach_the_pacs_and_are_fetched_once(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
    role: str,
) -> None:
    op = oidc_provider
    client_id = op.clients[role].client_id
    pacs = embedded_pacs_factory(
        jwt_jwks_url=op.endpoint("jwks"), jwt_audience=AUDIENCE, jwt_issuer=op.issuer
    )
    provider = provider_for(op, role, file_keyring)
    client = Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider)
    for _ in range(3):
        with client.associate() as session:
            assert session.outcome.identity_type is IdentityType.JWT
            assert session.outcome.principal == client_id
            session.echo()
    records = pacs.wait_for_records(3)
    assert [(r.principal, r.verified) for r in records] == [(client_id, True)] * 3
    token = token_of(provider)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["aud"], claims["client_id"], claims["iss"]) == (AUDIENCE, client_id, op.issuer)
    assert token_of(provider) == token  # the provider's tokens differ (jti): fetched once


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_wrong_secret_is_invalid_client_with_advice(
    oidc_provider: RunningOidcProvider, file_keyring: Any, role: str
) -> None:
    op = oidc_provider
    wrong = "not-the-secret-1"  # printable ASCII: RFC 6749 VSCHAR
    provider = provider_for(op, role, file_keyring, secret=wrong)
    with pytest.raises(TokenRequestRejected, match="invalid_client") as info:
        provider.negotiate(TARGET)
    assert info.value.status == 401
    message = str(info.value)
    assert f"keyring set {SERVICE} {op.clients[role].client_id}" in message
    assert op.endpoint("token") in message
    assert wrong not in message and wrong not in repr(info.value)


def test_a_token_for_another_audience_is_refused(
    oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    op = oidc_provider
    # The provider issues its tokens for the PACS's audience whatever 'audience' asks for.
    provider = provider_for(op, "post", file_keyring, audience="OTHER-PACS")
    with pytest.raises(InvalidTokenResponse, match="not 'OTHER-PACS'") as info:
        provider.negotiate(TARGET)
    assert AUDIENCE in str(info.value)
    assert op.clients["post"].secret not in str(info.value)  # type: ignore[operator]


def expiry(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


def test_advisory_and_mandatory_windows_with_the_provider_stopped(
    tmp_path: Path, file_keyring: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    with start_oidc_provider(tmp_path / "op") as op:
        assert op.ttl["ClientCredentials"] == 300  # advisory 150 s, mandatory 60 s before exp
        provider = provider_for(op, "post", file_keyring, clock=clock)
        first = token_of(provider)
        clock.now = expiry(first) - 151  # before the advisory window: cached
        assert token_of(provider) == first
        clock.now = expiry(first) - 149  # advisory: refreshed early, a new token
        second = token_of(provider)
        assert second != first
        token_url = op.endpoint("token")
    # The provider is stopped: nothing listens at its token endpoint any more.
    clock.now = expiry(second) - 100  # advisory: the current token is kept, with a warning
    with caplog.at_level(logging.WARNING, logger="providers"):
        assert token_of(provider) == second
    assert "keeping the current one" in caplog.text and token_url in caplog.text
    assert second not in caplog.text
    clock.now = expiry(second) - 59  # mandatory: the failure is raised
    with pytest.raises(TokenEndpointUnreachable) as info:
        provider.negotiate(TARGET)
    assert token_url in str(info.value)
