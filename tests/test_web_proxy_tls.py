"""Where a DICOMweb request goes (issue 18): no proxy from the environment, an explicit proxy
(``DicomWebClient(proxy=...)``) used as configured, plain HTTP with a password refused through
it unless the policy allows it, and ``TlsConfig.server_hostname`` as the name in SNI and in the
certificate check. Against the real Apache (Basic) + Orthanc stack; HTTPS through
tests/http_relay.py's TLS relay, proxies are tests/http_proxy.py's recording proxy on 127.0.0.1
(it tunnels CONNECT to 127.0.0.1 and answers any forwarding request 502 without forwarding it).
A configured DICOMweb peer takes its proxy from ``[peers.NAME] proxy`` only.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import requests

from client_sdk import (
    ConfigError,
    DicomWebClient,
    DimseFailure,
    HttpAuthenticationRejected,
    InsecureTransport,
    Policy,
    TlsConfig,
    UntrustedCertificate,
    load_config,
)
from providers import PasswordProvider
from tests.http_proxy import RecordingProxy
from tests.http_relay import HttpRelay
from tests.tls_certs import make_certificates
from tests.web_helpers import PASSWORD
from tests.web_servers import ApacheProxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")
OFF_LOOPBACK = "http://pacs.example.org/dicom-web"  # never reached: refused, or the proxy's


def alice() -> PasswordProvider:
    return PasswordProvider("alice", PASSWORD)


def test_a_proxy_in_the_environment_sees_no_traffic(
    basic_proxy: ApacheProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_certificates(tmp_path / "tls")
    with RecordingProxy() as proxy, HttpRelay(basic_proxy.port, tls=certs.server_context()) as tls:
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        plain = DicomWebClient(basic_proxy.url, alice(), timeout=20)
        verified = TlsConfig(ca_file=certs.ca_file)
        over_tls = DicomWebClient(f"{tls.url}/dicom-web", alice(), tls=verified, timeout=20)
        for client in (plain, over_tls):
            with client:
                assert client.echo() == 0x0000
        assert proxy.seen == []
        # The control: a plain requests session does take the variables, to this proxy.
        assert requests.get(f"{basic_proxy.url}/studies", timeout=20).status_code == 502
        assert len(proxy.seen) == 1


def test_an_explicit_proxy_carries_https_in_a_tunnel(
    basic_proxy: ApacheProxy, tmp_path: Path
) -> None:
    certs = make_certificates(tmp_path / "tls")
    with RecordingProxy() as proxy, HttpRelay(basic_proxy.port, tls=certs.server_context()) as tls:
        url = f"{tls.url}/dicom-web"
        verified = TlsConfig(ca_file=certs.ca_file)
        with DicomWebClient(url, alice(), tls=verified, proxy=proxy.url, timeout=20) as client:
            assert client.echo() == 0x0000
        seen = proxy.seen
    assert seen and all(h.startswith(f"CONNECT 127.0.0.1:{tls.port} ".encode()) for h in seen)
    assert not any(b"Authorization" in head for head in seen)  # inside the tunnel only


@pytest.mark.parametrize(
    "url", [OFF_LOOPBACK, "http://localhost:9/dicom-web"], ids=["off-loopback", "localhost-name"]
)
def test_a_password_over_plain_http_through_a_proxy_is_refused_with_nothing_sent(
    url: str,
) -> None:
    # Through a proxy the client cannot see where "localhost" leads: the proxy resolves it.
    with RecordingProxy() as proxy:
        with (
            DicomWebClient(url, alice(), proxy=proxy.url, timeout=5) as client,
            pytest.raises(InsecureTransport, match="nothing was sent") as refused,
        ):
            client.echo()
        assert proxy.seen == []
    assert PASSWORD not in str(refused.value)


def test_a_policy_that_allows_plain_http_sends_it_to_the_proxy() -> None:
    allowed = Policy(allow_insecure_transport=True)
    with RecordingProxy() as proxy:
        client = DicomWebClient(OFF_LOOPBACK, alice(), policy=allowed, proxy=proxy.url, timeout=5)
        with client, pytest.raises(DimseFailure, match="HTTP 502"):
            client.echo()  # the recording proxy forwards nothing
        (request,) = proxy.seen
    assert request.startswith(b"GET http://pacs.example.org/dicom-web/studies?")
    assert b"\r\nAuthorization: Basic " in request  # what the policy allowed


def test_only_an_explicit_policy_lets_plain_http_reach_a_non_loopback_address(
    basic_proxy: ApacheProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pure logic: the tests only ever connect to 127.0.0.1, so the session's check of the
    # connected address is made to call it "not loopback".
    monkeypatch.setattr("providers._http_deadline.is_loopback_address", lambda address: False)
    refused = DicomWebClient(basic_proxy.url, alice(), timeout=20)
    with refused, pytest.raises(InsecureTransport, match="not a loopback address"):
        refused.echo()
    allowed = Policy(allow_insecure_transport=True)
    with DicomWebClient(basic_proxy.url, alice(), policy=allowed, timeout=20) as client:
        assert client.echo() == 0x0000


def sni_recording(context: ssl.SSLContext) -> list[str | None]:
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]
    return names


def test_server_hostname_is_the_sni_name_and_the_certificate_check(
    basic_proxy: ApacheProxy, tmp_path: Path
) -> None:
    certs = make_certificates(tmp_path / "tls", hostname="pacs.test")  # also for 127.0.0.1
    context = certs.server_context()
    names = sni_recording(context)
    with HttpRelay(basic_proxy.port, tls=context) as relay:
        url = f"{relay.url}/dicom-web"
        named = TlsConfig(ca_file=certs.ca_file, server_hostname="pacs.test")
        with DicomWebClient(url, alice(), tls=named, timeout=20) as client:
            assert client.echo() == 0x0000
        assert names == ["pacs.test"]
        # The certificate holds 127.0.0.1 too: only server_hostname can make this one fail.
        other = TlsConfig(ca_file=certs.ca_file, server_hostname="other.test")
        with (
            DicomWebClient(url, alice(), tls=other, timeout=20) as client,
            pytest.raises(UntrustedCertificate, match=r"other\.test") as refused,
        ):
            client.echo()
        assert names == ["pacs.test", "other.test"]
    assert PASSWORD not in str(refused.value)


def write_config(path: Path, peer: str) -> Path:
    path.write_text(f"[peers.web]\n{peer}\n")
    return path


def test_a_configured_proxy_is_used_and_the_environment_is_not(
    basic_proxy: ApacheProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_certificates(tmp_path / "tls")
    with (
        RecordingProxy() as configured,
        RecordingProxy() as environment,
        HttpRelay(basic_proxy.port, tls=certs.server_context()) as relay,
    ):
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, environment.url)
        peer = (
            f'url = "{relay.url}/dicom-web"\nproxy = "{configured.url}"\n'
            f'[peers.web.tls]\nca_file = "{certs.ca_file}"'
        )
        config = load_config(write_config(tmp_path / "c.toml", peer), environ={})
        # No identity configured: Apache's 401 is the answer, through the configured proxy.
        with config.web_client("web") as client, pytest.raises(HttpAuthenticationRejected):
            client.echo()
        (tunnel,) = configured.seen
        assert tunnel.startswith(f"CONNECT 127.0.0.1:{relay.port} ".encode())
        assert environment.seen == []
    shown = {s.key: s.value for s in config.effective("web")}
    assert shown["proxy"] == configured.url


@pytest.mark.parametrize(
    ("peer", "says"),
    [
        ('url = "https://pacs.example.org/dicom-web"\nproxy = "http://u:pw@proxy:3128"', "no user"),
        ('url = "https://pacs.example.org/dicom-web"\nproxy = "socks5://proxy:1080"', "http://"),
        ('host = "pacs"\nport = 104\nae_title = "PACS"\nproxy = "http://p:3128"', "DICOMweb"),
    ],
    ids=["user-part", "not-http", "dimse-peer"],
)
def test_a_configured_proxy_is_checked(peer: str, says: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"peers\.web\.proxy") as refused:
        load_config(write_config(tmp_path / "c.toml", peer), environ={})
    assert says in str(refused.value) and "u:pw" not in str(refused.value)


def test_the_configuration_gives_each_kind_of_peer_its_client(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[peers.web]\nurl = "https://pacs.example.org/dicom-web"\n'
        '[peers.dimse]\nhost = "127.0.0.1"\nport = 11112\nae_title = "PACS"\n'
    )
    config = load_config(path, environ={})
    with config.web_client("web") as client:
        assert isinstance(client, DicomWebClient)
    with pytest.raises(ConfigError, match=r"Config\.web_client\('web'\)"):
        config.client("web")
    with pytest.raises(ConfigError, match=r"not a DICOMweb peer.*Config\.client\('dimse'\)"):
        config.web_client("dimse")
