"""TokenEndpointProvider against the real OpenID Provider (tests/oidc_op, oidc-provider): every
case of the token endpoint a certified provider can play. Client credentials reach the embedded
PACS (through the provider's JWKS, or a fixed RS256 key), fetched once for several associations
and once for eight threads at once, with the form the provider recorded; scope and audience sent;
HTTPS verified with ca_file, the system store and not certifi; nothing sent before the transport
check or without a secret; a wrong secret; a token for another audience, or none asked; the
advisory and mandatory windows, and their clamp for a short lifetime, with the provider really
stopped for the failures; no secret or token in DEBUG logs. The home-made server
(tests/token_server.py, in tests/test_token_endpoint.py and test_token_hostile.py) stays for what
a real provider will not do, each test there naming it; client_secret_basic and private_key_jwt
in depth: tests/test_token_client_auth.py."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from client_sdk import Client, InsecureTransport, Peer
from client_sdk.testing import EmbeddedPacs
from providers import (
    CredentialUnavailable,
    IdentityType,
    InvalidTokenResponse,
    Target,
    TokenEndpointError,
    TokenEndpointProvider,
    TokenEndpointUnreachable,
    TokenRequestRejected,
)
from providers._token_client_auth import TokenEndpointAuth
from tests.conftest import AUDIENCE
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider
from tests.oidc_login_helpers import Witness

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
    before = len(op.token_requests())
    provider = provider_for(op, role, file_keyring, positive_response=True)
    client = Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider)
    for _ in range(3):
        with client.associate() as session:
            assert session.outcome.identity_type is IdentityType.JWT
            assert session.outcome.principal == client_id
            assert client_id in session.outcome.source
            assert op.endpoint("token") in session.outcome.source
            session.echo()
    records = pacs.wait_for_records(3)
    assert [(r.principal, r.verified, r.response_sent) for r in records] == [
        (client_id, True, "empty")
    ] * 3
    (sent,) = op.token_requests()[before:]  # one request for three associations
    secret_in = {"post": ["client_id", "client_secret"], "basic": []}[role]
    assert sent["keys"] == sorted(["audience", "grant_type", "scope", *secret_in])
    assert (sent["auth_scheme"], sent["client_id"]) == (
        "Basic" if role == "basic" else None,
        client_id,
    )
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
    assert op.token_requests()[-1]["audience"] == "OTHER-PACS"  # asked for; not granted
    unchecked = provider_for(op, "post", file_keyring, audience=None)
    assert jwt.decode(token_of(unchecked), options={"verify_signature": False})["aud"] == AUDIENCE


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


def test_rs256_with_a_fixed_key_and_the_scope_and_audience_sent(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    """The PACS trusts the provider's current public key (no JWKS): RS256 verified."""
    op = oidc_provider
    pacs = embedded_pacs_factory(jwt_key=op.public_key_pem(), jwt_audience=AUDIENCE)
    before = len(op.token_requests())
    provider = provider_for(op, "basic", file_keyring)
    with Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider).associate():
        pass
    (sent,) = op.token_requests()[before:]
    assert (sent["scope"], sent["audience"], sent["outcome"]) == (op.scope, AUDIENCE, "issued")
    assert jwt.get_unverified_header(token_of(provider))["alg"] == "RS256"
    (record,) = pacs.wait_for_records(1)
    assert (record.principal, record.verified) == (op.clients["basic"].client_id, True)


def test_https_verified_with_ca_file_and_refused_without(
    oidc_provider_tls: RunningOidcProvider, file_keyring: Any
) -> None:
    op = oidc_provider_tls
    assert op.issuer.startswith("https://127.0.0.1:") and op.ca_file is not None
    before = len(op.token_requests())
    trusting = provider_for(op, "post", file_keyring, ca_file=str(op.ca_file))
    claims = jwt.decode(token_of(trusting), options={"verify_signature": False})
    assert claims["client_id"] == op.clients["post"].client_id
    untrusting = provider_for(op, "post", file_keyring)  # the system store lacks the test CA
    with pytest.raises(TokenEndpointUnreachable, match="certificate verify failed") as info:
        untrusting.negotiate(TARGET)
    assert "ca_file" in str(info.value)
    assert len(op.token_requests()) == before + 1  # the refused handshake sent nothing


def test_https_default_trust_is_the_system_store_not_certifi(
    oidc_provider_tls: RunningOidcProvider,
    file_keyring: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # OpenSSL's default verify paths honour SSL_CERT_FILE: the "system store" becomes the test
    # CA, which certifi's bundle (requests' own default) does not hold.
    monkeypatch.setenv("SSL_CERT_FILE", str(oidc_provider_tls.ca_file))
    assert token_of(provider_for(oidc_provider_tls, "basic", file_keyring))
    missing = provider_for(
        oidc_provider_tls, "basic", file_keyring, ca_file=str(tmp_path / "none.pem")
    )
    with pytest.raises(TokenEndpointError, match="cannot be loaded"):
        missing.negotiate(TARGET)


def test_plain_tcp_to_a_remote_peer_is_refused_before_any_token_request(
    oidc_provider: RunningOidcProvider, file_keyring: Any, no_outside_connections: list[Any]
) -> None:
    op = oidc_provider
    before = len(op.token_requests())
    provider = provider_for(op, "post", file_keyring)
    client = Client(Peer("pacs.hospital.example", 104, "PACS"), identity=provider)
    with pytest.raises(InsecureTransport, match="jwt identity"):
        client.associate()
    assert len(op.token_requests()) == before
    assert no_outside_connections == []


def test_no_client_secret_in_the_keyring_sends_nothing(
    oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    op = oidc_provider
    before = len(op.token_requests())
    provider = TokenEndpointProvider(
        op.endpoint("token"),
        client_id=op.clients["post"].client_id,
        client_secret_keyring=(SERVICE, "nobody"),
        keyring_backend=file_keyring,
    )
    with pytest.raises(CredentialUnavailable, match=f"keyring set {SERVICE} nobody"):
        provider.negotiate(TARGET)
    assert len(op.token_requests()) == before


def test_eight_threads_at_once_get_one_token(
    oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    op = oidc_provider
    before = len(op.token_requests())
    provider = provider_for(op, "basic", file_keyring)
    start = threading.Barrier(8)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            start.wait(timeout=10)
            tokens.append(token_of(provider))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and len(tokens) == 8 and len(set(tokens)) == 1
    assert len(op.token_requests()) == before + 1


def test_windows_are_clamped_to_a_fraction_of_a_short_lifetime(
    tmp_path: Path, file_keyring: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A 60 s token: the advisory window is min(300, 60/2) = 30 s before exp, the mandatory one
    min(60, 60/4) = 15 s."""
    clock = Clock()
    with start_oidc_provider(tmp_path / "op", ttl={"ClientCredentials": 60}) as op:
        provider = provider_for(op, "post", file_keyring, clock=clock)
        first = token_of(provider)
        clock.now = expiry(first) - 31  # not yet advisory: cached
        assert token_of(provider) == first
        clock.now = expiry(first) - 29  # advisory: a new token
        second = token_of(provider)
        assert second != first
        assert len(op.token_requests()) == 2
    clock.now = expiry(second) - 16  # advisory, not mandatory: kept, with a warning
    with caplog.at_level(logging.WARNING, logger="providers"):
        assert token_of(provider) == second
    assert "keeping the current one" in caplog.text
    clock.now = expiry(second) - 14  # mandatory
    with pytest.raises(TokenEndpointUnreachable):
        provider.negotiate(TARGET)


def test_no_secret_or_token_in_debug_logs(
    oidc_provider: RunningOidcProvider, file_keyring: Any, witness: Witness
) -> None:
    op = oidc_provider
    provider = provider_for(op, "post", file_keyring)
    witness.secret(op.clients["post"].secret)
    witness.secret(token_of(provider))
    wrong = provider_for(op, "post", file_keyring, secret="not-the-secret-2")
    witness.secret("not-the-secret-2")
    with pytest.raises(TokenRequestRejected) as info:
        wrong.negotiate(TARGET)
    witness.error(info.value)
    assert 'POST /token HTTP/1.1" 200' in witness.caplog.text  # urllib3's DEBUG line
    assert 'POST /token HTTP/1.1" 401' in witness.caplog.text
    witness.assert_no_leaks()
