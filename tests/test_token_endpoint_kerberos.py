"""TokenEndpointProvider with Kerberos (SPNEGO) client authentication, for token services behind
Windows Integrated Authentication: the home-made token server (tests/token_server.py) accepting
as ``HTTP/localhost`` from its keytab, the real MIT KDC (k5test), and the embedded PACS verifying
what arrives. oidc-provider (tests/oidc_op) has no Kerberos client authentication, so these stay
on the home-made server; what only a hostile service does is named in each test's docstring."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from client_sdk import Client, Peer
from client_sdk.testing import EmbeddedPacs
from providers import (
    MutualAuthenticationFailed,
    Target,
    TokenEndpointNotAuthenticated,
    TokenEndpointProvider,
    TokenRequestRejected,
)
from tests.tls_certs import make_certificates
from tests.token_server import Reply, TokenServer

JWT_KEY = "token-server-hs256-key-trusted-by-the-pacs"
AUDIENCE = "EMBEDDED_PACS"
CLIENT_ID = "dicom-scu"


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer(key=JWT_KEY) as running:
        yield running


def token_of(provider: TokenEndpointProvider, target: Target) -> str:
    return provider.negotiate(target).request.primary.reveal().decode()


# Kerberos-authenticated token service -----------------------------------------------------------


@pytest.fixture(scope="module")
def http_keytab(kerberos_realm: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    # requests-kerberos asks for HTTP@<the URL's host>; with MIT's defaults
    # (dns_canonicalize_hostname and rdns on) 127.0.0.1 canonicalises to "localhost" through
    # /etc/hosts, so the token service's principal is HTTP/localhost.
    keytab = str(tmp_path_factory.mktemp("http-keytab") / "http.keytab")
    k5 = kerberos_realm._k5  # KerberosRealm keeps its k5test realm; no public addprinc
    k5.addprinc("HTTP/localhost")
    k5.extract_keytab("HTTP/localhost", keytab)
    return keytab


@pytest.fixture
def kerberos_server(http_keytab: str, kerberos_realm: Any) -> Iterator[TokenServer]:
    with TokenServer(
        key=JWT_KEY,
        kerberos_keytab=http_keytab,
        kerberos_service=f"HTTP/localhost@{kerberos_realm.name}",
    ) as running:
        yield running


@pytest.mark.parametrize("url_host", ["127.0.0.1", "localhost"])
def test_kerberos_authenticated_token_to_the_pacs(
    http_keytab: str,
    kerberos_realm: Any,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
    url_host: str,
) -> None:
    """Kerberos (SPNEGO) client authentication, which oidc-provider does not offer."""
    pacs = embedded_pacs_factory(jwt_key=JWT_KEY, jwt_audience=AUDIENCE)
    with TokenServer(key=JWT_KEY, kerberos_keytab=http_keytab, url_host=url_host) as server:
        provider = TokenEndpointProvider(server.url, client_id=CLIENT_ID, auth="kerberos")
        client = Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider)
        for _ in range(2):
            with client.associate() as session:
                assert session.outcome.principal == kerberos_realm.user
        first, second = server.requests  # the 401 challenge, then the authenticated request
    assert (first.negotiate, second.negotiate) == (False, True)
    assert second.kerberos_principal == kerberos_realm.user
    assert "client_secret" not in second.form_keys
    records = pacs.wait_for_records(2)
    assert [(r.principal, r.verified) for r in records] == [(kerberos_realm.user, True)] * 2


def test_kerberos_over_https(
    http_keytab: str, kerberos_realm: Any, tmp_path: Path, target: Target
) -> None:
    # requests-kerberos adds channel bindings (the server certificate's hash) over TLS.
    """Kerberos with channel bindings over TLS, which oidc-provider does not offer."""
    certs = make_certificates(tmp_path / "certs")
    with TokenServer(key=JWT_KEY, kerberos_keytab=http_keytab, tls=certs) as server:
        provider = TokenEndpointProvider(
            server.url, client_id=CLIENT_ID, auth="kerberos", ca_file=str(certs.ca_file)
        )
        assert provider.negotiate(target).request.principal == kerberos_realm.user
        assert server.requests[-1].kerberos_principal == kerberos_realm.user


@pytest.mark.parametrize("reply", ["none", "garbage"])
def test_kerberos_token_service_that_fails_mutual_authentication(
    kerberos_server: TokenServer, target: Target, reply: Any
) -> None:
    """Hostile: no, or a forged, mutual-authentication token from the service."""
    kerberos_server.kerberos_reply = reply
    provider = TokenEndpointProvider(kerberos_server.url, client_id=CLIENT_ID, auth="kerberos")
    with pytest.raises(TokenEndpointNotAuthenticated, match="did not prove its identity") as info:
        provider.negotiate(target)
    assert isinstance(info.value, MutualAuthenticationFailed)
    assert "HTTP@127.0.0.1" in str(info.value)


def test_kerberos_to_a_service_that_does_not_negotiate(
    server: TokenServer, kerberos_realm: Any, target: Target
) -> None:
    # A 200 without any Negotiate answer: mutual authentication is required, so it is refused.
    """Hostile: a 200 without any Negotiate answer."""
    server.reply = Reply(200, {"access_token": jwt.encode({"sub": "x"}, JWT_KEY)})
    provider = TokenEndpointProvider(server.url, client_id=CLIENT_ID, auth="kerberos")
    with pytest.raises(TokenEndpointNotAuthenticated):
        provider.negotiate(target)


def test_kerberos_without_a_ticket(
    kerberos_server: TokenServer,
    target: Target,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kerberos (no ticket: the service's 401 Negotiate), which oidc-provider does not offer."""
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-ccache'}")
    provider = TokenEndpointProvider(kerberos_server.url, client_id=CLIENT_ID, auth="kerberos")
    with pytest.raises(TokenRequestRejected, match="kinit") as info:
        provider.negotiate(target)
    assert info.value.status == 401
    assert "HTTP@127.0.0.1" in str(info.value)


def test_kerberos_tokens_are_not_logged(
    kerberos_server: TokenServer, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    """Kerberos tokens at DEBUG, which only a Negotiate service makes."""
    provider = TokenEndpointProvider(kerberos_server.url, client_id=CLIENT_ID, auth="kerberos")
    with caplog.at_level(logging.DEBUG):
        token_of(provider, target)
    assert "Authorization header: Negotiate [redacted]" in caplog.text  # requests-kerberos's
    assert "Authenticate header: [redacted]" in caplog.text
    for token in kerberos_server.negotiate_tokens:
        assert token not in caplog.text
    for token in kerberos_server.issued:
        assert token not in caplog.text
