"""TLS to the embedded PACS: verified by default, and every failure named for what it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import Client, Decision, Peer, Timeouts, TlsConfig
from client_sdk.errors import PeerUnreachable
from client_sdk.testing import EmbeddedPacs
from providers import PasswordProvider
from tests.tls_certs import CertificateFiles, make_certificates

FAST = Timeouts(connect=5, acse=5, dimse=10, network=10)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_pacs(certs: CertificateFiles) -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users={"alice": "pw"}, ssl_context=certs.server_context()) as pacs:
        yield pacs


def client(pacs: EmbeddedPacs, tls: TlsConfig | None) -> Client:
    return Client(
        Peer(pacs.host, pacs.port, pacs.ae_title, tls=tls),
        identity=PasswordProvider("alice", "pw", positive_response=True),
        timeouts=FAST,
    )


def test_verified_tls(tls_pacs: EmbeddedPacs, certs: CertificateFiles) -> None:
    tls = TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")
    with client(tls_pacs, tls).associate() as session:
        assert session.echo() == 0
        assert session.identity.decision is Decision.CONFIRMED
        assert session.association.dul.socket.socket.version() in ("TLSv1.2", "TLSv1.3")


def test_untrusted_certificate(tls_pacs: EmbeddedPacs, tmp_path: Path) -> None:
    other = make_certificates(tmp_path / "other")
    with pytest.raises(PeerUnreachable, match="certificate of the peer does not verify"):
        client(tls_pacs, TlsConfig(ca_file=other.ca_file, server_hostname="localhost")).echo()
    assert tls_pacs.records == []


def test_hostname_mismatch(tls_pacs: EmbeddedPacs, certs: CertificateFiles) -> None:
    tls = TlsConfig(ca_file=certs.ca_file, server_hostname="archive.example.org")
    with pytest.raises(PeerUnreachable, match="Hostname mismatch"):
        client(tls_pacs, tls).echo()


def test_tls_against_a_plain_port(certs: CertificateFiles) -> None:
    with EmbeddedPacs(users={"alice": "pw"}) as plain:
        tls = TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")
        with pytest.raises(PeerUnreachable, match="TLS handshake failed"):
            client(plain, tls).echo()
