"""Where the token request's bytes go (issue 14, finding 2): never to a proxy named by the
environment; through a proxy only when ``proxy=`` names one, for HTTPS, as a CONNECT tunnel.
And the one deadline of an exchange (finding 3) over TLS and through the tunnel.

A real proxy on 127.0.0.1 (:class:`tests.http_proxy.RecordingProxy`) records what reaches it;
a control shows that plain requests, with the same environment, does send to it. The token
endpoint is the real OpenID Provider (tests/oidc_op, over HTTP and HTTPS), but for the hostile
cases (a stalled handshake, an answer dripped), which the home-made server plays."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from client_sdk import InvalidConfig, load_config
from providers import Target, TokenEndpointProvider, TokenEndpointUnreachable
from tests.conftest import free_port
from tests.http_proxy import RecordingProxy
from tests.oidc_fixtures import RunningOidcProvider
from tests.tls_certs import CertificateFiles
from tests.token_server import RawReply, TokenServer, silent_listener

JWT_KEY = "token-server-hs256-key-trusted-by-the-pacs"
CLIENT_ID = "dicom-scu"
CLIENT_SECRET = "pr0xy s3cret/Ü+never-seen"
SERVICE = "idp.test.example"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
DEADLINE = 0.5
BOUND = DEADLINE + 1.5  # on a loaded machine


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    with RecordingProxy() as running:
        yield running


@pytest.fixture
def environment_proxy(proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch) -> RecordingProxy:
    """Every proxy variable, both cases, names the recording proxy; nothing is exempt."""
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv(name.lower(), proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return proxy


def provider(
    url: str, keyring: Any, client: tuple[str, str] = (CLIENT_ID, CLIENT_SECRET), **kwargs: Any
) -> TokenEndpointProvider:
    client_id, secret = client
    keyring.set_password(SERVICE, client_id, secret)
    return TokenEndpointProvider(
        url,
        client_id=client_id,
        client_secret_keyring=(SERVICE, client_id),
        keyring_backend=keyring,
        **kwargs,
    )


def post_client(op: RunningOidcProvider) -> tuple[str, str]:
    """The real provider's client_secret_post client: its id and secret."""
    client = op.clients["post"]
    assert client.secret is not None
    return client.client_id, client.secret


def secret_forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, urllib.parse.quote_plus(secret).encode(), urllib.parse.quote(raw).encode()]


def test_environment_proxies_are_not_used_for_plain_http(
    environment_proxy: RecordingProxy,
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    target: Target,
) -> None:
    op = oidc_provider
    url, client = op.endpoint("token"), post_client(op)
    before = len(op.token_requests())
    assert provider(url, file_keyring, client).negotiate(target).request.primary
    assert len(op.token_requests()) == before + 1
    assert environment_proxy.seen == []
    # The control: requests' defaults, in the same environment, post to the proxy.
    requests.post(url, data={"client_secret": client[1]}, timeout=5)
    (seen,) = environment_proxy.seen
    assert seen.startswith(f"POST {url} ".encode())
    assert urllib.parse.quote_plus(client[1]).encode() in seen
    assert len(op.token_requests()) == before + 1


def test_environment_proxies_are_not_used_for_https(
    environment_proxy: RecordingProxy,
    oidc_provider_tls: RunningOidcProvider,
    certs: CertificateFiles,
    file_keyring: Any,
    target: Target,
) -> None:
    op = oidc_provider_tls
    before = len(op.token_requests())
    made = provider(op.endpoint("token"), file_keyring, post_client(op), ca_file=str(certs.ca_file))
    assert made.negotiate(target).request.primary
    assert len(op.token_requests()) == before + 1
    assert environment_proxy.seen == []


def test_an_explicit_proxy_sees_a_connect_and_nothing_else(
    proxy: RecordingProxy,
    oidc_provider_tls: RunningOidcProvider,
    certs: CertificateFiles,
    file_keyring: Any,
    target: Target,
) -> None:
    op = oidc_provider_tls
    client = post_client(op)
    before = len(op.token_requests())
    made = provider(
        op.endpoint("token"), file_keyring, client, ca_file=str(certs.ca_file), proxy=proxy.url
    )
    assert made.negotiate(target).request.principal == client[0]
    assert len(op.token_requests()) == before + 1
    authority = op.issuer.split("/")[2]
    (seen,) = proxy.seen
    assert seen.split(b"\r\n", 1)[0].startswith(f"CONNECT {authority} HTTP/1.".encode())
    assert not any(form in seen for form in secret_forms(client[1]))
    assert b"/token" not in seen and b"client_secret" not in seen


def test_a_proxy_that_cannot_be_reached_is_named(
    certs: CertificateFiles, file_keyring: Any, target: Target
) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    made = provider(
        "https://127.0.0.1:1/token", file_keyring, ca_file=str(certs.ca_file), proxy=dead_proxy
    )
    with pytest.raises(TokenEndpointUnreachable, match=f"the proxy {dead_proxy} did not open"):
        made.negotiate(target)


@pytest.mark.parametrize(
    ("token_url", "proxy", "match"),
    [
        ("http://127.0.0.1:8080/token", "http://127.0.0.1:3128", "only used for an https://"),
        ("https://idp.example/token", "http://user:pw@proxy.example:3128", "credentials"),
        ("https://idp.example/token", "https://proxy.example:3128", "http://HOST:PORT"),
        ("https://idp.example/token", "socks5://proxy.example:1080", "http://HOST:PORT"),
        ("https://idp.example/token", "http://proxy.example", "http://HOST:PORT"),
        ("https://idp.example/token", "http://proxy.example:3128/path", "without a path"),
    ],
)
def test_proxy_rules(file_keyring: Any, token_url: str, proxy: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        provider(token_url, file_keyring, proxy=proxy)
    assert "pw" not in str(info.value)


def test_the_proxy_key_of_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[identities.idp]\ntype = "token-endpoint"\n'
        'token_url = "https://idp.hospital.example/oauth2/token"\n'
        'client_id = "dicom-router"\nclient_secret_keyring = ["idp", "dicom-router"]\n'
        'proxy = "http://proxy.hospital.example:3128"\n\n'
        '[identities.plain]\ntype = "token-endpoint"\n'
        'token_url = "http://127.0.0.1:8080/token"\nclient_id = "x"\nauth = "kerberos"\n'
        'proxy = "http://proxy.hospital.example:3128"\n',
        encoding="utf-8",
    )
    with pytest.raises(InvalidConfig) as info:
        load_config(path, environ={})
    (error,) = info.value.errors
    assert "identities.plain.proxy" in error and "only used for an https://" in error
    path.write_text(path.read_text().split("[identities.plain]")[0], encoding="utf-8")
    made = load_config(path, environ={}).identities["idp"]
    assert getattr(made, "proxy", None) == "http://proxy.hospital.example:3128"


def test_a_stalled_tls_handshake_ends_at_the_deadline(
    certs: CertificateFiles, file_keyring: Any, target: Target
) -> None:
    """Hostile: a listener that accepts and never starts the handshake."""
    with silent_listener() as url:
        made = provider(
            url.replace("http:", "https:"),
            file_keyring,
            ca_file=str(certs.ca_file),
            timeout=DEADLINE,
        )
        started = time.monotonic()
        with pytest.raises(TokenEndpointUnreachable, match=r"within the deadline of 0\.5 s"):
            made.negotiate(target)
    assert time.monotonic() - started < BOUND


@pytest.mark.parametrize("through_proxy", [False, True])
def test_an_answer_dripped_over_tls_ends_at_the_deadline(
    through_proxy: bool,
    proxy: RecordingProxy,
    certs: CertificateFiles,
    file_keyring: Any,
    target: Target,
) -> None:
    """Hostile: a header dripped a line at a time, the home-made server's."""
    with TokenServer(key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}, tls=certs) as server:
        server.reply = RawReply(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 9, 0.05)
        made = provider(
            server.url,
            file_keyring,
            ca_file=str(certs.ca_file),
            timeout=DEADLINE,
            proxy=proxy.url if through_proxy else None,
        )
        started = time.monotonic()
        with pytest.raises(TokenEndpointUnreachable, match=r"within the deadline of 0\.5 s"):
            made.negotiate(target)
        took = time.monotonic() - started
        assert len(server.requests) == 1  # the request went through; the answer was cut
    assert DEADLINE * 0.9 <= took < BOUND
    assert len(proxy.seen) == (1 if through_proxy else 0)
