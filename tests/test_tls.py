"""TLS to the embedded PACS: verified by default, mutual TLS, TLS 1.2 at least, and every failure
named for what it is (pynetdicom itself only says "aborted")."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from client_sdk import (
    AssociationAborted,
    Client,
    ClientCertificateRejected,
    ClientCertificateRequired,
    ConfigError,
    Decision,
    HostnameMismatch,
    Peer,
    PeerUnreachable,
    PlainToTlsPort,
    Session,
    Timeouts,
    TlsConfig,
    TlsConfigError,
    TlsHandshakeFailed,
    TlsHandshakeTimeout,
    TlsToPlainPort,
    TlsVersionMismatch,
    UntrustedCertificate,
    load_config,
)
from client_sdk._association.tls_failures import probe_tls
from client_sdk._cli.exit_codes import exit_code
from client_sdk.testing import EmbeddedPacs
from providers import JwtFileProvider, PasswordProvider
from tests.conftest import poll
from tests.tcp_server import tcp_server
from tests.timeouts import OPERATIONS
from tests.tls_certs import CertificateFiles

PASSWORD = "tls-test-password-7f3a"
TLS_1_2 = ssl.TLSVersion.TLSv1_2


@contextlib.contextmanager
def serving(ssl_context: ssl.SSLContext | None = None) -> Iterator[EmbeddedPacs]:
    """An embedded PACS that, before it stops, lets connections that sent no PDU end.

    pynetdicom cannot abort a connection that sent no A-ASSOCIATE-RQ (Evt15 in Sta2 raises in
    its reactor thread), which the SDK's diagnostic TLS probe is. The probe ends it itself with
    an A-ABORT and waits for the close, but a test may stop the PACS just before that is done.
    """
    with EmbeddedPacs(users={"alice": PASSWORD}, ssl_context=ssl_context) as pacs:
        yield pacs
        ae = pacs._ae
        if ae is not None:
            poll(
                lambda: (
                    not any(
                        a.dul.is_alive() and a.dul.state_machine.current_state == "Sta2"
                        for a in ae.active_associations
                    )
                ),
                what="the PACS to see its probe connections end",
            )


@pytest.fixture
def tls_pacs(certs: CertificateFiles) -> Iterator[EmbeddedPacs]:
    with serving(certs.server_context()) as pacs:
        yield pacs


def client(pacs: EmbeddedPacs, tls: TlsConfig | None, timeouts: Timeouts = OPERATIONS) -> Client:
    return Client(
        Peer(pacs.host, pacs.port, pacs.ae_title, tls=tls),
        identity=PasswordProvider("alice", PASSWORD, positive_response=True),
        timeouts=timeouts,
    )


def verified(certs: CertificateFiles, **changes: object) -> TlsConfig:
    settings: dict[str, object] = {"ca_file": certs.ca_file, "server_hostname": "localhost"}
    settings.update(changes)
    return TlsConfig(**settings)  # type: ignore[arg-type]


def mutual(certs: CertificateFiles, client_certs: CertificateFiles) -> TlsConfig:
    return verified(
        certs, cert_file=client_certs.client_cert_file, key_file=client_certs.client_key_file
    )


def tls_socket(session: Session) -> ssl.SSLSocket:
    association_socket = session.association.dul.socket
    assert association_socket is not None
    sock = association_socket.socket
    assert isinstance(sock, ssl.SSLSocket)
    return sock


def failure(
    pacs: EmbeddedPacs, tls: TlsConfig | None, timeouts: Timeouts = OPERATIONS
) -> Exception:
    """The error of one echo, checked for what every TLS error message must hold."""
    with pytest.raises(PeerUnreachable) as info:
        client(pacs, tls, timeouts).echo()
    message = str(info.value)
    assert f"{pacs.host}:{pacs.port}" in message  # where
    assert PASSWORD not in message and PASSWORD not in repr(info.value)
    assert exit_code(info.value) == 5  # the CLI's "peer unreachable"
    return info.value


# The happy paths -----------------------------------------------------------------------------


def test_verified_tls_with_nodelay(tls_pacs: EmbeddedPacs, certs: CertificateFiles) -> None:
    with client(tls_pacs, verified(certs)).associate() as session:
        assert session.echo() == 0
        assert session.outcome.decision is Decision.CONFIRMED
        sock = tls_socket(session)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_plain_sockets_have_nodelay_too() -> None:
    with (
        serving() as plain,
        client(plain, None).associate() as session,
    ):
        sock = session.association.dul.socket
        assert sock is not None and sock.socket is not None
        assert sock.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_one_context_for_every_association(tls_pacs: EmbeddedPacs, certs: CertificateFiles) -> None:
    tls = verified(certs)
    tls_client = client(tls_pacs, tls)
    used = []
    for _ in range(3):
        with tls_client.associate() as session:
            used.append(tls_socket(session).context)
    assert used[0] is used[1] is used[2] is tls.context()


def test_one_context_shared_by_threads(tls_pacs: EmbeddedPacs, certs: CertificateFiles) -> None:
    tls_client = client(tls_pacs, verified(certs))
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda _: tls_client.echo(), range(8)))
    assert statuses == [0] * 8
    assert len(tls_pacs.wait_for_records(8, timeout=10)) == 8


def test_context_rebuilt_when_a_file_changes(tmp_path: Path, certs: CertificateFiles) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(certs.ca_file.read_bytes())
    tls = TlsConfig(ca_file=ca_file)
    first = tls.context()
    assert tls.context() is first
    stat = ca_file.stat()
    os.utime(ca_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a rotation
    assert tls.context() is not first


def test_mutual_tls_accepted(certs: CertificateFiles) -> None:
    server = certs.server_context(client_ca=certs.ca_file)
    with serving(server) as pacs:
        with client(pacs, mutual(certs, certs)).associate() as session:
            assert session.echo() == 0
        assert [r.verified for r in pacs.wait_for_records(1)] == [True]


def test_mutual_tls_from_the_config_file(tmp_path: Path, certs: CertificateFiles) -> None:
    """The loader builds the TlsConfig (relative paths against the file) that associates."""
    server = certs.server_context(client_ca=certs.ca_file)
    with serving(server) as pacs:
        config_file = tmp_path / "config.toml"
        pki = os.path.relpath(certs.ca_file.parent, tmp_path)
        config_file.write_text(
            f"""
[peers.archive]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"

[peers.archive.tls]
ca_file = "{pki}/ca.pem"
cert_file = "{pki}/client.pem"
key_file = "{pki}/client.key"
server_hostname = "localhost"
"""
        )
        built = load_config(config_file).client("archive")
        tls = built.peer.tls
        assert tls is not None and tls.server_hostname == "localhost"
        assert [
            Path(str(path)).resolve() for path in (tls.ca_file, tls.cert_file, tls.key_file)
        ] == [
            certs.ca_file.resolve(),
            certs.client_cert_file.resolve(),
            certs.client_key_file.resolve(),
        ]
        assert built.echo() == 0


# Files checked before anything connects --------------------------------------------------------


@pytest.mark.parametrize("key", ["ca_file", "cert_file", "key_file"])
def test_missing_file_named_before_any_connect(
    tls_pacs: EmbeddedPacs, certs: CertificateFiles, tmp_path: Path, key: str
) -> None:
    missing = tmp_path / f"missing-{key}.pem"
    tls = mutual(certs, certs)
    tls = TlsConfig(
        **{**{k: getattr(tls, k) for k in ("ca_file", "cert_file", "key_file")}, key: missing}
    )
    token = tmp_path / "no-such-token.jwt"  # fetching it would fail with a credential error
    tls_client = Client(
        Peer(tls_pacs.host, tls_pacs.port, tls_pacs.ae_title, tls=tls),
        identity=JwtFileProvider(token),
        timeouts=OPERATIONS,
    )
    with pytest.raises(TlsConfigError, match=f"TLS {key} '{missing}' does not exist"):
        tls_client.echo()  # before the credential is fetched, and before any connect
    assert tls_pacs.records == []
    assert exit_code(TlsConfigError("x")) == 3  # the CLI's configuration error


def test_unusable_files(
    certs: CertificateFiles, stranger_certs: CertificateFiles, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(TlsConfigError, match="holds no usable CA certificate"):
        TlsConfig(ca_file=junk).context()
    with pytest.raises(TlsConfigError, match="key must be the certificate's own"):
        TlsConfig(
            cert_file=certs.client_cert_file, key_file=stranger_certs.client_key_file
        ).context()
    with pytest.raises(TlsConfigError, match="needs cert_file too"):
        TlsConfig(key_file=certs.client_key_file)
    assert issubclass(TlsConfigError, ConfigError)


def test_encrypted_key_is_refused_without_a_prompt(certs: CertificateFiles, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.client_key_file.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    tls = TlsConfig(cert_file=certs.client_cert_file, key_file=encrypted)
    with pytest.raises(TlsConfigError, match="encrypted, and the SDK never prompts"):
        tls.context()


# Each failure, typed ---------------------------------------------------------------------------


def test_untrusted_certificate(tls_pacs: EmbeddedPacs, stranger_certs: CertificateFiles) -> None:
    error = failure(tls_pacs, verified(stranger_certs))
    assert isinstance(error, UntrustedCertificate)
    assert str(stranger_certs.ca_file) in str(error) and "ca_file" in str(error)
    assert tls_pacs.records == []


def test_hostname_mismatch(tls_pacs: EmbeddedPacs, certs: CertificateFiles) -> None:
    error = failure(tls_pacs, verified(certs, server_hostname="archive.example.org"))
    assert isinstance(error, HostnameMismatch)
    assert "'archive.example.org'" in str(error) and "server_hostname" in str(error)


def test_tls_against_a_plain_port(certs: CertificateFiles) -> None:
    with serving() as plain:
        error = failure(plain, verified(certs))
    assert isinstance(error, TlsToPlainPort)
    assert error.reason == "WRONG_VERSION_NUMBER"
    assert "plain DICOM" in str(error)


def test_plain_against_a_tls_port(tls_pacs: EmbeddedPacs) -> None:
    error = failure(tls_pacs, None)
    assert isinstance(error, PlainToTlsPort)
    assert not isinstance(error, TlsHandshakeFailed)
    assert "expects TLS" in str(error) and "--tls" in str(error)


def test_plain_peer_that_closes_is_not_called_a_tls_port() -> None:
    """A plain peer that hangs up on the A-ASSOCIATE-RQ does not speak TLS either: the probe
    finds no TLS answer, and the error stays a plain abort."""
    with _closing_server() as (host, port):
        peer = Peer(host, port, "CLOSER")
        with pytest.raises(AssociationAborted):
            Client(peer, timeouts=OPERATIONS).echo()


def test_plain_against_a_peer_answering_with_a_tls_alert() -> None:
    alert = bytes.fromhex("15 03 03 00 02 02 46")  # fatal protocol_version, as some servers send
    with _closing_server(alert) as (host, port), pytest.raises(PlainToTlsPort) as info:
        Client(Peer(host, port, "TLS_ONLY"), timeouts=OPERATIONS).echo()
    assert "with a TLS record (15 03 ...)" in str(info.value)


def test_tls_to_a_peer_that_hangs_up_on_the_hello(certs: CertificateFiles) -> None:
    with _closing_server() as (host, port):
        peer = Peer(host, port, "CLOSER", tls=verified(certs))
        with pytest.raises(TlsToPlainPort, match="closed the connection on our TLS hello"):
            Client(peer, timeouts=OPERATIONS).echo()


def test_tls_handshake_stall_is_bounded_by_the_connect_timeout(certs: CertificateFiles) -> None:
    # A listener that never accepts: the kernel completes TCP, nobody ever answers the hello.
    with socket.create_server(("127.0.0.1", 0), backlog=8) as silent:
        port = silent.getsockname()[1]
        peer = Peer("127.0.0.1", port, "SILENT", tls=verified(certs))
        started = time.monotonic()
        with pytest.raises(TlsHandshakeTimeout, match=r"connect timeout \(1 s\)"):
            Client(peer, timeouts=Timeouts(connect=1, acse=5, dimse=5, network=5)).echo()
        assert time.monotonic() - started < 1 + 4  # the timeout, plus generous slack


def test_tls_handshake_slow_drip_is_bounded_by_the_connect_timeout(certs: CertificateFiles) -> None:
    # A peer that answers the hello with a record header for 16 KB, then one byte every 0.2 s:
    # each read gets data in time, so only a deadline for the whole handshake stops it.
    with _dripping_server() as (host, port):
        peer = Peer(host, port, "DRIP", tls=verified(certs))
        started = time.monotonic()
        with pytest.raises(TlsHandshakeTimeout, match=r"connect timeout \(1 s\)"):
            Client(peer, timeouts=Timeouts(connect=1, acse=5, dimse=5, network=5)).echo()
        assert time.monotonic() - started < 1 + 3  # the drip lasts 12 s


@pytest.mark.parametrize("version", [None, TLS_1_2], ids=["tls1.3", "tls1.2"])
def test_mutual_tls_without_a_client_certificate(
    certs: CertificateFiles, version: ssl.TLSVersion | None
) -> None:
    server = certs.server_context(client_ca=certs.ca_file, maximum_version=version)
    with serving(server) as pacs:
        error = failure(pacs, verified(certs))
        assert pacs.records == []
    assert isinstance(error, ClientCertificateRequired)
    assert "cert_file" in str(error) and "key_file" in str(error)


@pytest.mark.parametrize("version", [None, TLS_1_2], ids=["tls1.3", "tls1.2"])
def test_mutual_tls_with_an_untrusted_client_certificate(
    certs: CertificateFiles, stranger_certs: CertificateFiles, version: ssl.TLSVersion | None
) -> None:
    server = certs.server_context(client_ca=certs.ca_file, maximum_version=version)
    with serving(server) as pacs:
        error = failure(pacs, mutual(certs, stranger_certs))
        assert pacs.records == []
    assert isinstance(error, ClientCertificateRejected)
    assert str(stranger_certs.client_cert_file) in str(error)


def test_server_capped_at_tls_1_1(certs: CertificateFiles) -> None:
    server = certs.server_context(maximum_version=ssl.TLSVersion.TLSv1_1)
    with serving(server) as pacs:
        # The server does speak TLS 1.1 to a client that allows it: the refusal is the SDK's.
        assert _handshake_version(pacs, certs, ssl.TLSVersion.TLSv1_1) == "TLSv1.1"
        error = failure(pacs, verified(certs))
    assert isinstance(error, TlsVersionMismatch)
    assert "TLS 1.2 or later" in str(error)


def test_probe(certs: CertificateFiles) -> None:
    mutual_server = certs.server_context(client_ca=certs.ca_file)
    with (
        serving() as plain,
        serving(certs.server_context()) as tls,
        serving(mutual_server) as mtls,
    ):
        assert not probe_tls(plain.host, plain.port, 2).speaks_tls
        assert probe_tls(tls.host, tls.port, 2).speaks_tls
        assert not probe_tls(tls.host, tls.port, 2).certificate_requested
        assert probe_tls(mtls.host, mtls.port, 2).certificate_requested


def test_cli_names_the_tls_failure(
    tls_pacs: EmbeddedPacs, stranger_certs: CertificateFiles, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    address = f"{tls_pacs.host}:{tls_pacs.port}"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "client_sdk", "echo", address, "--ae-title", "PACS"]
        return subprocess.run(
            [*command, "--connect-timeout", "5", *args],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    untrusted = cli("--ca-file", str(stranger_certs.ca_file), "--server-hostname", "localhost")
    assert untrusted.returncode == 5, untrusted.stderr
    assert "certificate does not verify against the ca_file" in untrusted.stderr
    plain = cli()
    assert plain.returncode == 5, plain.stderr
    assert "The port expects TLS" in plain.stderr
    key_alone = cli("--key-file", str(stranger_certs.client_key_file))
    assert key_alone.returncode == 3, key_alone.stderr
    assert "needs cert_file too" in key_alone.stderr


# Helpers ----------------------------------------------------------------------------------------


def _handshake_version(pacs: EmbeddedPacs, certs: CertificateFiles, minimum: ssl.TLSVersion) -> str:
    context = ssl.create_default_context(cafile=certs.ca_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection(pacs.address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return str(tls.version())


def _dripping_server() -> contextlib.AbstractContextManager[tuple[str, int]]:
    """To each connection, after the client's hello, a TLS handshake record header announcing
    16 KB, then one byte every 0.2 s for 12 s at most."""

    def drip(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(2)
        with contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(bytes.fromhex("16 03 03 40 00"))
            for _ in range(60):  # the pace is the hostile peer's behaviour, not a wait
                if stop.wait(0.2):
                    break
                conn.sendall(b"\x02")

    return tcp_server(drip)


def _closing_server(reply: bytes = b"") -> contextlib.AbstractContextManager[tuple[str, int]]:
    """Closes each connection: at once without a byte, or after reading what the client sent
    and answering ``reply``."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        if reply:
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(reply)

    return tcp_server(answer)
