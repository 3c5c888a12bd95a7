"""The DICOMweb session of client_sdk (issue 18, step 1) against the real Apache+Orthanc stack:
each scheme through the provider's HTTP auth, a wrong credential a typed 401 with the parsed
challenge, plain HTTP off loopback refused with nothing sent (proxies: test_web_proxy_tls.py), and
transport failures (refused, cut mid-answer, a trickling server) typed within the one deadline."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from client_sdk import (
    AssociationAborted,
    InsecureTransport,
    NotAuthorized,
    PeerUnreachable,
    Policy,
    TlsConfig,
    UntrustedCertificate,
)
from client_sdk._cli.exit_codes import exit_code
from client_sdk._web.failures import HttpAuthenticationRejected
from client_sdk._web.session import web_session
from providers import JwtFileProvider, KerberosProvider, PasswordProvider
from providers._negotiate_auth import HttpNegotiateAuth
from tests.conftest import write_token
from tests.http_relay import HttpRelay
from tests.leak_search import find_leaks, planted
from tests.secret_exposure import exposure, outcome, raised
from tests.tcp_server import tcp_server
from tests.tls_certs import make_certificates
from tests.web_helpers import PASSWORD, make_token
from tests.web_servers import ApacheProxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


def studies(session: Any, url: str) -> int:
    with session:
        return int(session.get(f"{url}/studies", params={"limit": "1"}).status_code)


def test_basic(basic_proxy: ApacheProxy) -> None:
    s = web_session(basic_proxy.url, PasswordProvider("alice", PASSWORD), timeout=20)
    assert studies(s, basic_proxy.url) == 200


def test_basic_wrong_password_is_a_401_with_its_challenge(basic_proxy: ApacheProxy) -> None:
    s = web_session(basic_proxy.url, PasswordProvider("alice", "wrong"), timeout=20)
    with pytest.raises(HttpAuthenticationRejected) as rejected:
        studies(s, basic_proxy.url)
    assert [c.scheme for c in rejected.value.challenges] == ["Basic"]
    assert "401" in str(rejected.value) and "wrong" not in str(rejected.value)
    assert rejected.value.__context__ is None and rejected.value.__cause__ is None


def test_bearer(bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    token = write_token(tmp_path / "token.jwt", make_token(signing_key))
    s = web_session(bearer_proxy.url, JwtFileProvider(token), timeout=20)
    assert studies(s, bearer_proxy.url) == 200


def test_bearer_from_another_key_is_a_401(bearer_proxy: ApacheProxy, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = write_token(tmp_path / "token.jwt", make_token(other))
    s = web_session(bearer_proxy.url, JwtFileProvider(token), timeout=20)
    with pytest.raises(HttpAuthenticationRejected) as rejected:
        studies(s, bearer_proxy.url)
    assert rejected.value.challenges[0].is_scheme("Bearer")
    assert rejected.value.challenges[0].params.get("error") == "invalid_token"


def test_negotiate(negotiate_proxy: ApacheProxy, kerberos_ticket: str) -> None:
    s = web_session(
        negotiate_proxy.url, KerberosProvider(), timeout=20, kerberos_hostname="localhost"
    )
    for _ in range(2):  # each reply verified; the session is reused
        assert s.get(f"{negotiate_proxy.url}/studies").status_code == 200
    s.close()


def test_negotiate_for_another_service_is_a_401(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    # A real ticket, for dicom/localhost: Apache's HTTP keytab cannot decrypt it.
    s = web_session(negotiate_proxy.url, None, timeout=20)
    s.auth = HttpNegotiateAuth(
        KerberosProvider(), url=negotiate_proxy.url, hostname="localhost", service="dicom"
    )
    with pytest.raises(HttpAuthenticationRejected) as rejected:
        studies(s, negotiate_proxy.url)
    assert rejected.value.challenges[0].is_scheme("Negotiate")


def test_no_credential_is_a_401(basic_proxy: ApacheProxy) -> None:
    with pytest.raises(HttpAuthenticationRejected):
        studies(web_session(basic_proxy.url, None, timeout=20), basic_proxy.url)


def test_basic_over_plain_http_off_loopback_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connects: list[Any] = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connects.append(a))
    url = "http://pacs.example.org/dicom-web"
    s = web_session(url, PasswordProvider("alice", PASSWORD), timeout=5)
    with pytest.raises(InsecureTransport, match="nothing was sent") as refused:
        studies(s, url)
    assert PASSWORD not in str(refused.value)
    assert connects == []


def test_plain_http_off_loopback_may_be_allowed() -> None:
    url = "http://pacs.example.org/dicom-web"
    policy = Policy(allow_insecure_transport=True)
    s = web_session(url, PasswordProvider("alice", PASSWORD), policy=policy, timeout=5)
    assert s.auth is not None  # built; nothing is sent to a name off loopback in the tests


def test_connection_refused_is_peer_unreachable() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    url = f"http://127.0.0.1:{port}/dicom-web"
    with pytest.raises(PeerUnreachable, match="connection refused"):
        studies(web_session(url, PasswordProvider("alice", PASSWORD), timeout=5), url)


def _cut_mid_answer(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/dicom+json\r\n")
    conn.sendall(b"Content-Length: 1000\r\n\r\n[{")  # the server stops here


def _trickle(conn: socket.socket, stop: threading.Event) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    while not stop.wait(0.2):  # a byte every 0.2 s: each read is quick, the whole is not
        try:
            conn.sendall(b" ")
        except OSError:
            return


def test_a_server_stopped_mid_answer_is_aborted() -> None:
    with tcp_server(_cut_mid_answer) as (host, port):
        url = f"http://{host}:{port}/dicom-web"
        with pytest.raises(AssociationAborted, match="broke during the exchange") as aborted:
            studies(web_session(url, PasswordProvider("alice", PASSWORD), timeout=5), url)
    assert PASSWORD not in str(aborted.value) and aborted.value.__context__ is None


def test_a_trickling_server_ends_at_the_deadline() -> None:
    with tcp_server(_trickle) as (host, port):
        url = f"http://{host}:{port}/dicom-web"
        started = time.monotonic()
        with pytest.raises(AssociationAborted, match="within the deadline of 1 s"):
            studies(web_session(url, PasswordProvider("alice", PASSWORD), timeout=1), url)
        assert time.monotonic() - started < 3


WRONG_PASSWORD = "wrong pässword+/=canary"


@pytest.mark.parametrize("password", [PASSWORD, WRONG_PASSWORD], ids=["right", "wrong"])
def test_no_secret_in_debug_output_errors_or_reprs(
    basic_proxy: ApacheProxy,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    password: str,
) -> None:
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for name in ("urllib3", "requests", "providers", "client_sdk"):
            caplog.set_level(logging.DEBUG, logger=name)
        s = web_session(basic_proxy.url, PasswordProvider("alice", password), timeout=20)
        texts.append(repr(s))
        result = outcome(lambda: studies(s, basic_proxy.url))
        with tcp_server(_cut_mid_answer) as (host, port):
            url = f"http://{host}:{port}/dicom-web"
            cut_session = web_session(url, PasswordProvider("alice", password))
            cut = raised(lambda: studies(cut_session, url))
    for shown in (result, cut):
        if isinstance(shown, BaseException):
            texts.append(exposure(shown))
    assert (result == 200) == (password == PASSWORD)
    assert isinstance(cut, AssociationAborted)
    captured = capfd.readouterr()
    text = "\n".join([captured.out, captured.err, caplog.text, *texts])
    assert "send: b'GET /dicom-web/studies" in captured.out  # the debug output was on
    for form, planted_text in planted(password.encode()).items():
        assert find_leaks(planted_text, [password]), f"the search would miss {form}"
    assert find_leaks(text, [password]) == [], [
        t[:3000] for t in texts if find_leaks(t, [password])
    ]


def test_a_token_for_another_audience_is_not_authorized(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token = write_token(tmp_path / "token.jwt", make_token(signing_key, aud="ANOTHER"))
    s = web_session(bearer_proxy.url, JwtFileProvider(token), timeout=20)
    with pytest.raises(NotAuthorized, match="403 Forbidden") as refused:
        studies(s, bearer_proxy.url)
    assert exit_code(refused.value) == exit_code(NotAuthorized("0x0124", status=0x0124)) == 9


def test_https_verified_with_the_tls_config_ca_file(
    basic_proxy: ApacheProxy, tmp_path: Path
) -> None:
    ours, stranger = make_certificates(tmp_path / "ours"), make_certificates(tmp_path / "other")
    with HttpRelay(basic_proxy.port, tls=ours.server_context()) as relay:
        url = f"{relay.url}/dicom-web"
        provider = PasswordProvider("alice", PASSWORD)
        trusted = web_session(url, provider, tls=TlsConfig(ca_file=ours.ca_file), timeout=10)
        assert studies(trusted, url) == 200
        untrusted = web_session(url, provider, tls=TlsConfig(ca_file=stranger.ca_file), timeout=10)
        with pytest.raises(UntrustedCertificate, match="does not verify") as refused:
            studies(untrusted, url)
        assert PASSWORD not in str(refused.value)
        # The system store (no ca_file) does not know the test CA either.
        with pytest.raises(UntrustedCertificate):
            studies(web_session(url, provider, timeout=10), url)
