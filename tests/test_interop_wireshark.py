"""What the SDK puts on the wire, as Wireshark's DICOM dissector (tshark) reads it.

tshark captures on ``lo`` with a port filter while the SDK associates with an embedded PACS:

* in clear, the dissector's User Identity fields (type, positive-response flag, field lengths,
  primary field) are exactly what the SDK sent for types 1, 2 and 5;
* with TLS (a CA and a server certificate for localhost made at test time), the capture holds a
  TLS handshake for "localhost" and neither the username nor the password anywhere in its raw
  bytes, and the dissector finds no User Identity item; a control capture of the same association
  without TLS holds both, so the search can fail;
* (no capture) a TLS peer that completes the handshake and never answers must be bounded by the
  ACSE timeout.

"Capturing on 'Loopback'" on tshark's stderr comes before the capture really sees packets (a
datagram sent right after it is lost), and packets reach the file up to a second late. So the
capture is proven live by a UDP marker to a port of ours that the filter includes, and before
tshark is stopped a second marker must come out of it: every packet before that one is in the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from client_sdk import AssociationAborted, Client, Decision, Peer, Timeouts, TlsConfig
from client_sdk.testing import EmbeddedPacs
from providers import JwtFileProvider, PasswordProvider, ResponseStatus, UsernameProvider
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, require_program, write_token
from tests.orthanc_peer import LoggedProcess, LogTimeout, ProcessExited
from tests.timeouts import LOCAL
from tests.tls_certs import CertificateFiles

pytestmark = pytest.mark.interop

FIELDS = "dicom.userinfo.user_identify"
NO_PERMISSION = re.compile(
    r"permission to capture|Operation not permitted|couldn't run .*dumpcap", re.IGNORECASE
)


def unavailable(why: str) -> None:
    """Capturing is impossible here: a failure under CI=true, a skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}")
    pytest.skip(why)


@dataclass
class Capture:
    """One running ``tshark -i lo`` writing ``path``, for ``port`` plus a UDP marker port."""

    tshark: str
    port: int
    path: Path
    process: LoggedProcess
    marker: socket.socket

    def _mark(self, label: str, timeout: float) -> None:
        """Send UDP datagrams carrying a fresh marker until tshark prints it back."""
        payload = f"{label}-{secrets.token_hex(8)}".encode()
        address = self.marker.getsockname()
        deadline = time.monotonic() + timeout
        while True:
            self.marker.sendto(payload, address)
            try:
                self.process.wait_for(re.escape(payload.hex()), timeout=0.1)
                return
            except LogTimeout:
                if time.monotonic() > deadline:
                    raise

    def wait_live(self, timeout: float = 10) -> None:
        # tshark prints "Capturing on" even when dumpcap then fails for lack of permission.
        try:
            self.process.wait_for(r"Capturing on '", timeout=timeout)
            self._mark("capture-live", timeout)
        except ProcessExited:
            if NO_PERMISSION.search(self.process.log()):
                unavailable(f"tshark cannot capture on lo here:\n{self.process.describe()}")
            raise

    def stop(self, timeout: float = 10) -> Path:
        """Flush (marker), stop tshark with SIGINT, return the pcapng file."""
        self._mark("capture-end", timeout)
        status = self.process.stop(signal.SIGINT, timeout=timeout)
        assert status == 0, f"tshark ended with {status}\n{self.process.describe()}"
        assert self.path.stat().st_size > 0, self.process.describe()
        return self.path

    def fields(self, decode_as: str, display_filter: str, *fields: str) -> list[list[str]]:
        """``tshark -r`` the file with the port decoded as ``decode_as``: one row per packet."""
        argv = [self.tshark, "-r", str(self.path), "-d", f"tcp.port=={self.port},{decode_as}"]
        argv += ["-Y", display_filter, "-T", "fields", "-E", "separator=/t"]
        for name in fields:
            argv += ["-e", name]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        assert out.returncode == 0, f"$ {' '.join(argv)}\n{out.stderr}"
        return [line.split("\t") for line in out.stdout.splitlines() if line.strip()]


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Callable[[int], Capture]]:
    """Start captures of a TCP port; each tshark is killed at teardown, whatever happened."""
    tshark = require_program("tshark", "tshark")
    started: list[Capture] = []

    def start(port: int) -> Capture:
        marker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        marker.bind(("127.0.0.1", 0))
        name = f"capture{len(started)}"
        path = tmp_path / f"{name}.pcapng"
        marker_port = marker.getsockname()[1]
        argv = [tshark, "-i", "lo", "-f", f"tcp port {port} or udp port {marker_port}"]
        # -P -l: also print each packet (here: only a UDP payload) as soon as it is captured.
        argv += ["-w", str(path), "-P", "-l", "-T", "fields", "-e", "udp.payload"]
        process = LoggedProcess(argv, tmp_path / f"{name}.log")
        cap = Capture(tshark, port, path, process, marker)
        started.append(cap)
        process.start()
        cap.wait_live()
        return cap

    yield start
    for cap in started:
        cap.process.stop(signal.SIGINT, timeout=5)
        cap.marker.close()


def test_dissector_reads_what_the_sdk_sent_for_types_1_2_5(
    capture: Callable[[int], Capture], tmp_path: Path
) -> None:
    username, password = "alice", "correct horse battery staple"
    token = make_jwt()
    token_file = write_token(tmp_path / "token.jwt", token)
    providers = [
        UsernameProvider(username),  # no positive response requested: the flag must read 0
        PasswordProvider(username, password, positive_response=True),
        JwtFileProvider(token_file, audience=AUDIENCE, positive_response=True),
    ]
    # (type, positive response requested, primary length, primary field) as the SDK sent them
    expected = [
        ["1", "0", str(len(username)), username],
        ["2", "1", str(len(username)), username],
        ["5", "1", str(len(token)), token],
    ]
    with EmbeddedPacs(users={username: password}, jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as pacs:
        cap = capture(pacs.port)
        peer = Peer(pacs.host, pacs.port, pacs.ae_title)
        for provider in providers:
            assert Client(peer, identity=provider, timeouts=LOCAL).echo() == 0
        records = pacs.wait_for_records(len(providers))
        cap.stop()

    where = f"capture {cap.path}\n{cap.process.describe()}"
    assert [(r.identity_type, r.principal, r.verified) for r in records] == [
        (1, username, True),
        (2, username, True),
        (5, "alice@example.org", True),
    ], records
    rows = cap.fields(
        "dicom",
        FIELDS,
        "tcp.stream",
        f"{FIELDS}.type",
        f"{FIELDS}.response_requested",
        f"{FIELDS}.primary_field_length",
        f"{FIELDS}.primary_field",
        f"{FIELDS}.secondary_field_length",
        f"{FIELDS}.secondary_field",
    )
    streams = [row[0] for row in rows]
    assert len(set(streams)) == len(streams) == 3, (rows, where)
    assert [row[1:5] for row in rows] == expected, where
    # tshark 4.0 shows the secondary field (length and value) for type 2 only.
    assert [row[5:] for row in rows] == [["", ""], [str(len(password)), password], ["", ""]], where

    # The items themselves: in the A-ASSOCIATE-RQ the user information sub-items come in
    # ascending order with the 58H item last, and its length is 6 + primary + secondary (the
    # secondary length field is always there, zero for types 1 and 5); in the A-ASSOCIATE-AC the
    # embedded PACS ("standard" mode) answers a requested response with an empty 59H item.
    pdus = cap.fields(
        "dicom",
        "dicom.pdu.type == 1 || dicom.pdu.type == 2",
        "tcp.stream",
        "dicom.pdu.type",
        "dicom.assoc.item.type",
        "dicom.assoc.item.len",
        "dicom.userinfo.data",
    )
    by_stream: dict[str, dict[str, tuple[list[int], list[int], str]]] = {}
    for stream, pdu, types, lengths, *data in pdus:
        items = [int(t, 16) for t in types.split(",")], [int(n) for n in lengths.split(",")]
        by_stream.setdefault(stream, {})[pdu] = (*items, data[0] if data else "")
    secondary_lengths = [0, len(password), 0]
    for stream, primary, secondary, asked in zip(
        streams, (username, username, token), secondary_lengths, (False, True, True), strict=True
    ):
        rq_types, rq_lengths, _ = by_stream[stream]["0x01"]
        user_info = rq_types[rq_types.index(0x50) + 1 :]
        assert user_info == sorted(user_info) and user_info[-1] == 0x58, (rq_types, where)
        assert rq_lengths[-1] == 6 + len(primary) + secondary, (rq_lengths, where)
        ac_types, ac_lengths, ac_data = by_stream[stream]["0x02"]
        if asked:
            assert (ac_types[-1], ac_lengths[-1], ac_data) == (0x59, 2, "0000"), where
        else:
            assert 0x59 not in ac_types, where


@pytest.mark.parametrize("tls", [False, True], ids=["control-no-tls", "tls"])
def test_tls_hides_the_username_and_password_on_the_wire(
    capture: Callable[[int], Capture], certs: CertificateFiles, tls: bool
) -> None:
    # Distinctive values, so that finding them in the capture can only mean they were sent.
    username = f"wire-user-{secrets.token_hex(6)}"
    password = f"wire-pass-{secrets.token_hex(12)}"
    server_context = certs.server_context() if tls else None
    with EmbeddedPacs(users={username: password}, ssl_context=server_context) as pacs:
        cap = capture(pacs.port)
        config = TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")
        client = Client(
            Peer(pacs.host, pacs.port, pacs.ae_title, tls=config if tls else None),
            identity=PasswordProvider(username, password, positive_response=True),
            timeouts=LOCAL,
        )
        with client.associate() as session:
            # A zero-length 59H item came back: confirmed, not "verified" (only Kerberos can be).
            assert session.outcome.decision is Decision.CONFIRMED
            assert session.outcome.status is ResponseStatus.EMPTY
            assert session.echo() == 0
        (record,) = pacs.wait_for_records(1)
        cap.stop()

    assert (record.identity_type, record.principal, record.verified) == (2, username, True)
    raw = cap.path.read_bytes()
    identity_rows = cap.fields("dicom", FIELDS, f"{FIELDS}.type")
    client_hellos = cap.fields(
        "tls", "tls.handshake.type == 1", "tls.handshake.extensions_server_name"
    )
    where = f"capture {cap.path} ({len(raw)} bytes)\n{cap.process.describe()}"
    if tls:
        assert username.encode() not in raw, where
        assert password.encode() not in raw, where
        assert identity_rows == [], where
        assert client_hellos == [["localhost"]], where
    else:
        assert username.encode() in raw, where
        assert password.encode() in raw, where
        assert identity_rows == [["2"]], where
        assert client_hellos == [], where


def test_tls_peer_that_never_answers_is_bounded_by_the_acse_timeout(
    certs: CertificateFiles,
) -> None:
    """No capture here: the TLS transport alone. A listener that completes the handshake, reads
    the A-ASSOCIATE-RQ and never answers (a TLS-terminating proxy in front of a dead PACS)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server_context = certs.server_context()
    connections: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            raw, _ = listener.accept()
            connections.append(raw)
            tls = server_context.wrap_socket(raw, server_side=True)  # raw is detached now
            connections.append(tls)
            while tls.recv(65536):
                pass

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    timeouts = Timeouts(connect=2, acse=1, dimse=2, network=2)
    client = Client(
        Peer(
            "127.0.0.1",
            listener.getsockname()[1],
            "SILENT",
            tls=TlsConfig(ca_file=certs.ca_file, server_hostname="localhost"),
        ),
        identity=UsernameProvider("alice"),
        timeouts=timeouts,
    )
    outcome: list[BaseException | int] = []

    def run() -> None:
        try:
            outcome.append(client.echo())
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    caller.start()
    caller.join(timeout=timeouts.acse + timeouts.network + 3)
    hung = caller.is_alive()
    elapsed = time.monotonic() - started
    # Closing the server side unblocks a hung client: nothing outlives the test.
    for raw in connections:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)
        raw.close()
    listener.close()
    caller.join(timeout=10)
    server.join(timeout=10)

    assert not hung, f"Client.echo() still blocked after {elapsed:.1f} s (ACSE timeout 1 s)"
    (error,) = outcome
    assert isinstance(error, AssociationAborted), repr(error)
    assert "ACSE timeout" in str(error)
