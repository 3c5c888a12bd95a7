"""Interop with DCMTK 3.6.7 (Debian's ``dcmtk``), in both directions, on 127.0.0.1 only.

The SDK as requestor, DCMTK as acceptor (``storescp``, ``dcmqrscp``): DCMTK's strict A-ASSOCIATE
parser accepts every identity type the SDK sends (1, 2, 3, 5), and its association dump shows the
type, the positive-response flag, the username as sent (UTF-8 included) and the raw PDU, in which
the identity item is found byte for byte. DCMTK never answers an identity, so a requested response
is always missing: the default policy raises ``ServerResponseMissing`` and sends a real A-ABORT
(DCMTK's DUL trace names the PDU), ``MissingResponse.WARN`` proceeds to C-STORE, C-FIND, C-GET and
C-MOVE.

DCMTK as requestor (``storescu``), the embedded PACS as acceptor: a verified identity with a
positive response requested gets the answer that DCMTK demands (stock pynetdicom's silence makes
storescu fail), and a wrong password is rejected with (1, 2, 1).

DCMTK 3.6.7's acceptors log a type-2 password in clear at ``-d``: every password here is a dummy.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid

from client_sdk import (
    STUDY_ROOT_FIND,
    VERIFICATION,
    Client,
    Decision,
    DimseFailure,
    MissingResponse,
    Peer,
    Policy,
    ServerResponseMissing,
)
from client_sdk.testing import EmbeddedPacs, ct_dataset
from providers import (
    IdentityExchange,
    IdentityProvider,
    JwtFileProvider,
    PasswordProvider,
    Target,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, write_token
from tests.dcmtk_peers import (
    DcmtkPeers,
    DcmtkProcess,
    DcmtkRun,
    associate_request_pdus,
    association_requests,
    files_in,
    requested_identity,
)
from tests.timeouts import THIRD_PARTY

pytestmark = pytest.mark.interop

HOST = "127.0.0.1"
WARN = Policy(missing_response=MissingResponse.WARN)
DUMMY_PASSWORD = "dummy-pässwort"  # DCMTK logs it in clear: never a real one


# Fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def dcmtk(tmp_path: Path) -> Iterator[DcmtkPeers]:
    """Starts DCMTK programs under tmp_path; all killed at teardown, failed test or not. Their
    logs are printed at teardown: pytest shows them with a failure of any kind (an exception
    from the SDK included), and hides them otherwise."""
    peers = DcmtkPeers(tmp_path)
    try:
        with peers:
            yield peers
    finally:
        print(peers.reports())


class Recording:
    """Wraps a provider and keeps the fields it sent, so the test can find them on the wire."""

    def __init__(self, inner: IdentityProvider) -> None:
        self.inner = inner
        self.identity_type = getattr(inner, "identity_type", None)
        self.sent: list[tuple[int, bool, bytes, bytes]] = []

    def negotiate(self, target: Target) -> IdentityExchange:
        exchange = self.inner.negotiate(target)
        request = exchange.request
        secondary = request.secondary.reveal() if request.secondary is not None else b""
        self.sent.append(
            (
                int(request.identity_type),
                request.positive_response_requested,
                request.primary.reveal(),
                secondary,
            )
        )
        return exchange

    def item(self, index: int = -1) -> bytes:
        """The user identity sub-item (58H) as PS3.7 D.3.3.7.1 lays it out."""
        kind, positive, primary, secondary = self.sent[index]
        length = 6 + len(primary) + len(secondary)
        return (
            b"\x58\x00"
            + length.to_bytes(2, "big")
            + bytes([kind, int(positive)])
            + len(primary).to_bytes(2, "big")
            + primary
            + len(secondary).to_bytes(2, "big")
            + secondary
        )


def client(peer: DcmtkProcess, identity: Any, policy: Policy | None = None) -> Client:
    return Client(
        Peer(HOST, peer.port, peer.ae_title), identity=identity, policy=policy, timeouts=THIRD_PARTY
    )


def only_request(peer: DcmtkProcess, count: int = 1) -> str:
    """The last A-ASSOCIATE-RQ dump, after checking DCMTK logged ``count`` of them."""
    requests = association_requests(peer.log(), called=peer.ae_title)
    assert len(requests) == count, f"{len(requests)} A-ASSOCIATE-RQ dumps{peer.report()}"
    return requests[-1]


def accepted_dump_has_no_response(peer: DcmtkProcess) -> None:
    """DCMTK's A-ASSOCIATE-AC dump: accepted, and no user identity response in it."""
    ac = re.findall(
        r"^D: =+ BEGIN A-ASSOCIATE-AC =+\n(.*?)^D: =+ END A-ASSOCIATE-AC =+$",
        peer.log(),
        re.MULTILINE | re.DOTALL,
    )
    assert ac, f"DCMTK sent no A-ASSOCIATE-AC{peer.report()}"
    assert "D: User Identity Negotiation Response:  none\n" in ac[-1], peer.report()


def same_instances(received: list[Dataset], sent: list[Dataset], where: str) -> None:
    by_uid = {str(ds.SOPInstanceUID): ds for ds in received}
    expected = {str(ds.SOPInstanceUID): ds for ds in sent}
    assert set(by_uid) == set(expected), where
    for uid, ds in expected.items():
        assert by_uid[uid].PixelData == ds.PixelData, f"PixelData of {uid} differs{where}"
        assert by_uid[uid].StudyInstanceUID == ds.StudyInstanceUID, where


def output_of(peer: DcmtkProcess) -> Path:
    assert peer.output_dir is not None
    return peer.output_dir


def ct_file(directory: Path, **kwargs: Any) -> tuple[Path, Dataset]:
    ds = ct_dataset(**kwargs)
    path = directory / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, ds


# The SDK as requestor, storescp as acceptor ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    mode: int
    label: str
    username: str | None
    password: str | None
    positive: bool


CASES = [
    Case("type1-ascii", 1, "Username", "alice", None, True),
    Case("type1-utf8", 1, "Username", "jürgen", None, True),
    Case("type1-no-response-requested", 1, "Username", "jürgen", None, False),
    Case("type2-utf8", 2, "Username/Password", "jürgen", DUMMY_PASSWORD, True),
    Case("type5-jwt", 5, "JWT", None, None, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_storescp_shows_each_identity_as_sent(
    case: Case, dcmtk: DcmtkPeers, tmp_path: Path
) -> None:
    """storescp -d accepts the association and its dump shows the type, the positive-response
    flag and the username; the raw A-ASSOCIATE-RQ it hex-dumps holds our 58H item byte for
    byte (UTF-8 username, the always-present secondary length). DCMTK sends no response; with
    WARN the C-ECHO goes through (no response requested: the policy is not consulted)."""
    scp = dcmtk.storescp()
    token = make_jwt()
    inner: Any
    if case.mode == 1:
        inner = UsernameProvider(case.username or "", positive_response=case.positive)
    elif case.mode == 2:
        inner = PasswordProvider(case.username or "", DUMMY_PASSWORD, positive_response=True)
    else:
        inner = JwtFileProvider(write_token(tmp_path / "token.jwt", token), positive_response=True)
    provider = Recording(inner)

    with client(scp, provider, WARN).associate(sop_classes=[VERIFICATION]) as session:
        assert session.echo() == 0x0000
        outcome = session.outcome
    scp.wait_for(r"^I: Association Release$")

    expected = Decision.WARN if case.positive else Decision.NOT_REQUESTED
    assert outcome.decision is expected, f"{outcome.summary()}{scp.report()}"
    assert not outcome.response_received, f"{outcome.summary()}{scp.report()}"
    seen = requested_identity(only_request(scp))
    assert seen is not None, scp.report()
    assert seen.mode == case.mode, scp.report()
    assert seen.mode_label == case.label, scp.report()
    flag = "Yes" if case.positive else "No"
    assert f"Positive Response requested: {flag}" in seen.lines, scp.report()
    assert seen.positive_response is case.positive, scp.report()
    if case.username is not None:
        assert f"Username: [{case.username}]" in seen.lines, scp.report()
    assert seen.password == case.password, scp.report()
    if case.mode == 5:
        assert f"JSON Web Token (not dumped) length: {len(token)}" in seen.lines, scp.report()
    accepted_dump_has_no_response(scp)
    pdus = associate_request_pdus(scp.log())
    assert len(pdus) == 1, scp.report()
    assert pdus[0].complete, scp.report()
    assert provider.item() in pdus[0].data, f"our 58H item is not in DCMTK's dump{scp.report()}"


def test_storescp_shows_kerberos_ticket(
    kerberos_realm: Any, dcmtk: DcmtkPeers, caplog: pytest.LogCaptureFixture
) -> None:
    """Type 3 (a GSS-API token from the real KDC; opaque to DCMTK): accepted, dumped as
    "Kerberos Service Ticket (not dumped) length: N" with N our token's length. DCMTK never sends
    the AP-REP, so mutual_auth="optional" + WARN proceeds, and the default "required" aborts even
    under WARN (ServerResponseMissing), with a real A-ABORT."""
    from providers import KerberosProvider

    scp = dcmtk.storescp(log_level="trace")
    optional = Recording(KerberosProvider(hostname="localhost", mutual_auth="optional"))
    with caplog.at_level(logging.WARNING, logger="client_sdk"):
        assert client(scp, optional, WARN).echo() == 0x0000
    scp.wait_for(r"^I: Association Release$")
    assert "did not confirm the kerberos identity" in caplog.text

    required = Recording(KerberosProvider(hostname="localhost"))
    with pytest.raises(ServerResponseMissing, match="requires the answer whatever the policy"):
        client(scp, required, WARN).echo()
    scp.wait_for(r"^I: Association Aborted$")
    scp.wait_for(r"DUL  Event:  A-ABORT PDU \(on transport\)")

    requests = association_requests(scp.log())
    assert len(requests) == 2, scp.report()
    assert scp.log().count("I: Association Acknowledged") == 2, scp.report()
    pdus = associate_request_pdus(scp.log())
    for index, block in enumerate(requests):
        seen = requested_identity(block)
        token = required.sent[0][2] if index else optional.sent[0][2]
        assert token[:1] == b"\x60", "not a GSS-API initial context token"
        assert seen is not None, scp.report()
        assert (seen.mode, seen.mode_label) == (3, "Kerberos"), scp.report()
        assert f"Kerberos Service Ticket (not dumped) length: {len(token)}" in seen.lines
        assert seen.positive_response is True, scp.report()
        item = (required if index else optional).item()
        assert pdus[index].holds(item), f"our 58H item is not in DCMTK's dump{scp.report()}"
    assert "DUL  Event:  Transport connection closed" not in scp.log(), scp.report()


@pytest.mark.parametrize(
    ("policy", "pdu", "dcmtk_line"),
    [
        (MissingResponse.ABORT, "A-ABORT PDU", "I: Association Aborted"),
        (MissingResponse.RELEASE, "A-RELEASE-RQ PDU", "I: Association Release"),
    ],
    ids=["abort", "release"],
)
def test_missing_response_ends_the_association_properly(
    policy: MissingResponse, pdu: str, dcmtk_line: str, dcmtk: DcmtkPeers, tmp_path: Path
) -> None:
    """DCMTK accepts but never answers the identity. With ABORT (the default) the SDK raises
    ServerResponseMissing and sends a real A-ABORT: DCMTK's DUL trace shows the PDU arriving
    ("A-ABORT PDU (on transport)", action "AA 3 Indicate Peer Aborted"), not "Transport connection
    closed" (what a dropped TCP connection looks like). RELEASE: a real A-RELEASE-RQ. Nothing is
    stored either way."""
    scp = dcmtk.storescp(log_level="trace")
    path, _ = ct_file(tmp_path)
    identity = UsernameProvider("alice", positive_response=True)
    used = Policy() if policy is MissingResponse.ABORT else Policy(missing_response=policy)
    assert used.missing_response is policy

    with pytest.raises(ServerResponseMissing, match="sent no user identity response") as raised:
        client(scp, identity, used).store(path)

    ended = "aborted" if policy is MissingResponse.ABORT else "released"
    assert f"association {ended}" in str(raised.value)
    scp.wait_for(rf"^{re.escape(dcmtk_line)}$")
    log = scp.log()
    assert "I: Association Acknowledged" in log, scp.report()
    assert f"DUL  Event:  {pdu} (on transport)" in log, scp.report()
    assert "DUL  Event:  Transport connection closed" not in log, scp.report()
    if policy is MissingResponse.ABORT:
        assert "DUL  Action: AA 3 Indicate Peer Aborted" in log, scp.report()
    assert "Received Store Request" not in log, scp.report()
    assert files_in(output_of(scp)) == [], scp.report()


def test_storescp_logs_a_dropped_connection_differently(dcmtk: DcmtkPeers) -> None:
    """The control for the test above: a requestor that closes TCP after the A-ASSOCIATE-AC,
    without an A-ABORT, shows in storescp's trace as "Transport connection closed" / "AA 4
    Indicate AP Abort", although the info line is the same "Association Aborted"."""
    scp = dcmtk.storescp(log_level="trace")
    with socket.create_connection((HOST, scp.port), timeout=5) as sock:
        sock.sendall(minimal_associate_rq(scp.ae_title))
        header = read_exact(sock, 6)
        assert header[0] == 0x02, f"no A-ASSOCIATE-AC: {header.hex()}{scp.report()}"
        read_exact(sock, int.from_bytes(header[2:], "big"))
    scp.wait_for(r"^I: Association Aborted$")
    log = scp.log()
    assert "DUL  Event:  Transport connection closed" in log, scp.report()
    assert "DUL  Action: AA 4 Indicate AP Abort" in log, scp.report()
    assert "A-ABORT PDU (on transport)" not in log, scp.report()


def minimal_associate_rq(called: str, calling: str = "RAW_SOCKET") -> bytes:
    """An A-ASSOCIATE-RQ (PS3.8 9.3.2) proposing Verification in Implicit VR Little Endian."""

    def item(kind: int, value: bytes) -> bytes:
        return bytes([kind, 0]) + len(value).to_bytes(2, "big") + value

    context = (
        bytes([1, 0, 0, 0]) + item(0x30, VERIFICATION.encode()) + item(0x40, b"1.2.840.10008.1.2")
    )
    user = item(0x51, (16384).to_bytes(4, "big")) + item(0x52, b"1.2.826.0.1.3680043.9.9999")
    body = (
        b"\x00\x01\x00\x00"
        + called.ljust(16).encode()
        + calling.ljust(16).encode()
        + bytes(32)
        + item(0x10, b"1.2.840.10008.3.1.1.1")
        + item(0x20, context)
        + item(0x50, user)
    )
    return b"\x01\x00" + len(body).to_bytes(4, "big") + body


def read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        data += chunk
    return data


def test_missing_response_warn_stores_the_file(
    dcmtk: DcmtkPeers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """WARN: one WARNING, then the C-STORE goes through and storescp writes the file to its
    --output-directory, the same instance we sent (SOP Instance UID, pixel data)."""
    scp = dcmtk.storescp()
    path, sent = ct_file(tmp_path)
    identity = PasswordProvider("jürgen", DUMMY_PASSWORD, positive_response=True)

    with caplog.at_level(logging.WARNING, logger="client_sdk"):
        assert client(scp, identity, WARN).store(path) == [0x0000]
    scp.wait_for(r"^I: Association Release$")

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert "did not confirm the username+passcode identity of 'jürgen'" in warnings[0].message
    assert DUMMY_PASSWORD not in caplog.text
    stored = files_in(output_of(scp))
    assert len(stored) == 1, scp.report()
    assert stored[0].name == f"CT.{sent.SOPInstanceUID}", scp.report()
    same_instances([pydicom.dcmread(stored[0])], [sent], scp.report())
    seen = requested_identity(only_request(scp))
    assert seen is not None, scp.report()
    assert (seen.mode, seen.username, seen.password) == (2, "jürgen", DUMMY_PASSWORD)


# The SDK as requestor, dcmqrscp as acceptor: C-STORE, C-FIND, C-GET, C-MOVE -------------------


@dataclass
class Archive:
    qr: DcmtkProcess
    destination: EmbeddedPacs
    study_uid: str
    series_uid: str
    datasets: list[Dataset]


@pytest.fixture
def archive(dcmtk: DcmtkPeers) -> Iterator[Archive]:
    """dcmqrscp with a read-write storage area, an EmbeddedPacs registered in its HostTable as
    move destination, and one study of two CT images stored into it by the SDK (C-STORE with a
    type-1 identity)."""
    with EmbeddedPacs(ae_title="SDK_MOVE_DEST") as destination:
        qr = dcmtk.dcmqrscp(move_destinations={destination.ae_title: (HOST, destination.port)})
        study, series = generate_uid(), generate_uid()
        datasets = [ct_dataset(study_uid=study, series_uid=series, seed=i) for i in range(2)]
        for i, ds in enumerate(datasets):
            ds.InstanceNumber = i + 1
        loader = client(qr, UsernameProvider("loader", positive_response=True), WARN)
        assert loader.store(*datasets) == [0x0000, 0x0000], qr.report()
        assert len(files_in(output_of(qr), ["*.dcm"])) == 2, qr.report()
        yield Archive(qr, destination, study, series, datasets)


def test_dcmqrscp_find_with_jwt(archive: Archive, tmp_path: Path) -> None:
    """C-FIND (Session.find) at STUDY and IMAGE level, type 5 with a positive response
    requested: dcmqrscp accepts, never answers, WARN proceeds, and the matches are ours."""
    qr = archive.qr
    token = make_jwt()
    identity = JwtFileProvider(write_token(tmp_path / "token.jwt", token), positive_response=True)
    with client(qr, identity, WARN).associate(sop_classes=[STUDY_ROOT_FIND]) as session:
        assert session.outcome.decision is Decision.WARN
        studies = session.find({"StudyInstanceUID": "", "PatientID": "TEST-0001"}, level="STUDY")
        images = session.find(
            {
                "StudyInstanceUID": archive.study_uid,
                "SeriesInstanceUID": archive.series_uid,
                "SOPInstanceUID": "",
            },
            level="IMAGE",
        )
    assert [str(ds.StudyInstanceUID) for ds in studies] == [archive.study_uid], qr.report()
    found = {str(ds.SOPInstanceUID) for ds in images}
    assert found == {str(ds.SOPInstanceUID) for ds in archive.datasets}, qr.report()
    qr.wait_for(r"^I: Association Release$", count=2)
    seen = requested_identity(only_request(qr, count=2))
    assert seen is not None, qr.report()
    assert (seen.mode, seen.mode_label, seen.positive_response) == (5, "JWT", True), qr.report()
    assert f"JSON Web Token (not dumped) length: {len(token)}" in seen.lines, qr.report()


def test_dcmqrscp_get_with_password(archive: Archive, tmp_path: Path) -> None:
    """C-GET (Client.get, output_dir): dcmqrscp sends both instances back over our association;
    the files written are the datasets we stored (SOP Instance UID, pixel data)."""
    qr = archive.qr
    identity = PasswordProvider("jürgen", DUMMY_PASSWORD, positive_response=True)
    result = client(qr, identity, WARN).get(
        {"StudyInstanceUID": archive.study_uid}, level="STUDY", output_dir=tmp_path / "got"
    )
    assert (result.status, result.completed, result.failed, result.warning) == (0, 2, 0, 0), (
        f"{result}{qr.report()}"
    )
    assert len(result.paths) == 2, qr.report()
    same_instances([pydicom.dcmread(p) for p in result.paths], archive.datasets, qr.report())
    qr.wait_for(r"^I: Association Release$", count=2)
    seen = requested_identity(only_request(qr, count=2))
    assert seen is not None, qr.report()
    assert (seen.mode, seen.username, seen.password) == (2, "jürgen", DUMMY_PASSWORD)


def test_dcmqrscp_move_to_embedded_pacs(archive: Archive) -> None:
    """C-MOVE (Client.move) to an EmbeddedPacs that dcmqrscp knows from its HostTable: dcmqrscp
    opens its own association (no identity) and the PACS receives exactly what we stored. An AE
    title dcmqrscp does not know fails with 0xA801 and a message that says what to do."""
    qr, destination = archive.qr, archive.destination
    identity = UsernameProvider("jürgen", positive_response=True)
    result = client(qr, identity, WARN).move(
        {"StudyInstanceUID": archive.study_uid}, destination=destination.ae_title
    )
    assert (result.status, result.completed, result.failed) == (0, 2, 0), f"{result}{qr.report()}"
    (record,) = destination.wait_for_records(1)
    assert record.calling_ae_title == qr.ae_title, record
    assert record.identity_type is None, record
    assert record.dimse == ["C-STORE", "C-STORE"], record
    assert record.ended == "released", record
    same_instances(destination.datasets, archive.datasets, qr.report())
    qr.wait_for(r"^I: Association Release$", count=2)
    seen = requested_identity(only_request(qr, count=2))
    assert seen is not None, qr.report()
    assert (seen.mode, seen.username, seen.positive_response) == (1, "jürgen", True)

    with pytest.raises(DimseFailure, match="0xA801") as raised:
        client(qr, identity, WARN).move(
            {"StudyInstanceUID": archive.study_uid}, destination="NOBODY"
        )
    assert raised.value.status == 0xA801, qr.report()
    assert "Register that AE title" in str(raised.value)


def test_dcmqrscp_require_find_move(dcmtk: DcmtkPeers) -> None:
    """dcmqrscp --require-find (like archives that want a C-FIND context next to C-MOVE) rejects
    a C-MOVE context proposed alone: Client.move should propose Study Root C-FIND with it."""
    with EmbeddedPacs(ae_title="SDK_MOVE_DEST") as destination:
        qr = dcmtk.dcmqrscp(
            move_destinations={destination.ae_title: (HOST, destination.port)},
            extra=["--require-find"],
        )
        ds = ct_dataset()
        assert client(qr, None).store(ds) == [0x0000], qr.report()
        result = client(qr, None).move(
            {"StudyInstanceUID": ds.StudyInstanceUID}, destination=destination.ae_title
        )
        assert result.completed == 1, qr.report()
        same_instances(destination.datasets, [ds], qr.report())


# DCMTK storescu as requestor, the embedded PACS as acceptor ----------------------------------


def storescu(dcmtk: DcmtkPeers, pacs: EmbeddedPacs, path: Path, *identity: str) -> DcmtkRun:
    """``storescu -d -aec AE <identity> --pos-response 127.0.0.1 PORT FILE``."""
    return dcmtk.storescu(
        "-d", "-aec", pacs.ae_title, *identity, "--pos-response", HOST, str(pacs.port), str(path)
    )


@pytest.mark.parametrize("user", ["alice", "jürgen"])
def test_storescu_password_gets_the_response_it_demands(
    user: str, dcmtk: DcmtkPeers, tmp_path: Path
) -> None:
    """storescu --user --password --pos-response: the PACS verifies and answers with a 59H item
    (zero-length server response); storescu accepts it and stores. The UTF-8 username from
    DCMTK's argv is verified too."""
    path, sent = ct_file(tmp_path)
    with EmbeddedPacs(users={user: DUMMY_PASSWORD}, response_mode="standard") as pacs:
        run = storescu(dcmtk, pacs, path, "--user", user, "--password", DUMMY_PASSWORD)
        (record,) = pacs.wait_for_records(1)
        received = pacs.datasets
    log = run.log()
    assert run.returncode == 0, run.report()
    assert "I: Association Accepted" in log, run.report()
    response = (
        "D: User Identity Negotiation Response:\nD:   Server Response (not dumped) length: 0\n"
    )
    assert response in log, run.report()
    assert "I: Received Store Response" in log, run.report()
    assert record.identity_type == 2 and record.principal == user, record
    assert record.verified and record.response_requested, record
    assert (record.response_sent, record.response_length) == ("empty", 0), record
    assert (record.ended, record.dimse) == ("released", ["C-STORE"]), record
    same_instances(received, [sent], run.report())


def test_storescu_fails_against_stock_pynetdicom(dcmtk: DcmtkPeers, tmp_path: Path) -> None:
    """Stock pynetdicom never answers types 1/2: storescu (--pos-response) gives up after the
    A-ASSOCIATE-AC and closes the TCP connection without an A-ABORT; nothing is stored."""
    path, _ = ct_file(tmp_path)
    with EmbeddedPacs(users={"alice": DUMMY_PASSWORD}, response_mode="pynetdicom") as pacs:
        run = storescu(dcmtk, pacs, path, "--user", "alice", "--password", DUMMY_PASSWORD)
        (record,) = pacs.wait_for_records(1)
        received = pacs.datasets
    log = run.log()
    assert run.returncode == 1, run.report()
    assert (
        "E: User Identity Negotiation failed: Positive response requested but none received\n"
        in log
    ), run.report()
    assert "F: 0006:0108 ASC User Identification Negotiation failed\n" in log, run.report()
    assert record.verified and record.response_sent == "none", record
    assert (record.ended, record.dimse) == ("closed", []), record
    assert received == [], run.report()


def test_storescu_jwt_gets_the_response_it_demands(dcmtk: DcmtkPeers, tmp_path: Path) -> None:
    """storescu --jwt FILE --pos-response: the PACS verifies the JWT (key, audience, expiry) and
    answers; storescu stores."""
    path, sent = ct_file(tmp_path)
    token = write_token(tmp_path / "token.jwt", make_jwt(sub="bob@example.org"))
    with EmbeddedPacs(jwt_key=JWT_KEY, jwt_audience=AUDIENCE, response_mode="standard") as pacs:
        run = storescu(dcmtk, pacs, path, "--jwt", str(token))
        (record,) = pacs.wait_for_records(1)
        received = pacs.datasets
    assert run.returncode == 0, run.report()
    assert "D:   Authentication mode 5: JWT\n" in run.log(), run.report()
    assert "D:   Server Response (not dumped) length: 0\n" in run.log(), run.report()
    assert (record.identity_type, record.principal) == (5, "bob@example.org"), record
    assert record.verified and record.response_sent == "empty", record
    assert record.ended == "released", record
    same_instances(received, [sent], run.report())


def test_storescu_kerberos_ticket_is_verified(
    kerberos_realm: Any, dcmtk: DcmtkPeers, tmp_path: Path
) -> None:
    """storescu --kerberos FILE (a GSS-API token from the real KDC) --pos-response: the PACS, a
    GSS acceptor with the service keytab, verifies it and answers with the AP-REP, which storescu
    takes (it does not check type-3 answers) and stores."""
    import spnego

    context = spnego.client(hostname="localhost", service="dicom", protocol="kerberos")
    ticket = tmp_path / "ticket.bin"
    ticket.write_bytes(bytes(context.step()))
    path, sent = ct_file(tmp_path)
    with EmbeddedPacs(kerberos_keytab=kerberos_realm.pacs_keytab) as pacs:
        run = storescu(dcmtk, pacs, path, "--kerberos", str(ticket))
        (record,) = pacs.wait_for_records(1)
        received = pacs.datasets
    assert run.returncode == 0, run.report()
    assert "D:   Authentication mode 3: Kerberos\n" in run.log(), run.report()
    assert (record.identity_type, record.principal) == (3, kerberos_realm.user), record
    assert record.verified and record.response_sent == "reply", record
    assert f"Server Response (not dumped) length: {record.response_length}" in run.log()
    same_instances(received, [sent], run.report())


def test_storescu_wrong_password_is_rejected_permanently(dcmtk: DcmtkPeers, tmp_path: Path) -> None:
    """A wrong password: the PACS rejects with (1, 2, 1) as PS3.7 says, which storescu reports as
    a permanent rejection by the ACSE service provider; nothing is stored."""
    path, _ = ct_file(tmp_path)
    with EmbeddedPacs(users={"alice": DUMMY_PASSWORD}, response_mode="standard") as pacs:
        run = storescu(dcmtk, pacs, path, "--user", "alice", "--password", "wrong-dummy")
        (record,) = pacs.wait_for_records(1)
        received = pacs.datasets
    log = run.log()
    assert run.returncode == 1, run.report()
    for line in (
        "F: Association Rejected:",
        "F: Result: Rejected Permanent, Source: Service Provider (ACSE Related)",
        "F: Reason: No Reason",
    ):
        assert f"{line}\n" in log, run.report()
    assert record.rejected == (1, 2, 1), record
    assert record.verified is False and record.principal == "alice", record
    assert record.failure == "wrong password for 'alice'", record
    assert (record.ended, record.dimse) == ("rejected", []), record
    assert received == [], run.report()
