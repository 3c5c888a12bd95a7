"""The embedded PACS against a raw pynetdicom requestor on 127.0.0.1 (not the SDK's client)."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import UserIdentityNegotiation

from client_sdk import STUDY_ROOT_FIND, VERIFICATION
from client_sdk.testing import AssociationRecord, EmbeddedPacs, ResponseMode, ct_dataset
from tests.conftest import poll
from tests.processes import background, listening
from tests.raw_pynetdicom import rejection
from tests.tls_certs import make_certificates

HOST = "127.0.0.1"
PASSWORD = "s3cret-Pässword"
USERS = {"alice": PASSWORD, "jürgen": "pässwörd-ü"}
JWT_KEY = "embedded-pacs-test-hs256-key-of-32+bytes"
AUDIENCE = "EMBEDDED_PACS"
MODES: tuple[ResponseMode, ...] = ("standard", "silent", "echo", "pynetdicom")
REPO = Path(__file__).resolve().parents[1]
PacsIn = Callable[[ResponseMode], EmbeddedPacs]


# Helpers ------------------------------------------------------------------------------------


def make_jwt(*, lifetime: float = 300, audience: str | None = AUDIENCE, sub: str = "bob") -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + lifetime}
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, JWT_KEY, algorithm="HS256")


def identity(
    kind: int, primary: bytes, secondary: bytes = b"", *, positive: bool = True
) -> UserIdentityNegotiation:
    item = UserIdentityNegotiation()
    item.user_identity_type = kind
    item.primary_field = primary
    item.secondary_field = secondary
    item.positive_response_requested = positive
    return item


def client_ae() -> AE:
    ae = AE(ae_title="TEST_SCU")
    ae.connection_timeout = 5
    ae.acse_timeout = 5
    ae.dimse_timeout = 10
    ae.network_timeout = 10
    ae.add_requested_context(VERIFICATION)
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(STUDY_ROOT_FIND)
    return ae


@contextlib.contextmanager
def associated(
    pacs: EmbeddedPacs, item: UserIdentityNegotiation | None = None
) -> Iterator[Association]:
    """An association to ``pacs``; released on exit if still up."""
    assoc = client_ae().associate(
        HOST, pacs.port, ae_title=pacs.ae_title, ext_neg=[item] if item else None
    )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def only_record(pacs: EmbeddedPacs) -> AssociationRecord:
    (record,) = pacs.wait_for_records(1)
    return record


def store(pacs: EmbeddedPacs, *datasets: Dataset) -> None:
    with associated(pacs) as assoc:
        assert assoc.is_established
        for ds in datasets:
            assert assoc.send_c_store(ds).Status == 0x0000


def c_find(pacs: EmbeddedPacs, **keys: Any) -> tuple[list[Dataset], int]:
    """Study Root C-FIND; returns (pending identifiers, final status)."""
    query = Dataset()
    for keyword, value in keys.items():
        setattr(query, keyword, value)
    found: list[Dataset] = []
    final = -1
    with associated(pacs) as assoc:
        assert assoc.is_established
        for status, ident in assoc.send_c_find(query, STUDY_ROOT_FIND):
            assert status is not None, "no C-FIND response"
            if status.Status == 0xFF00:
                assert ident is not None
                found.append(ident)
            else:
                final = status.Status
    return found, final


# Fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running() -> Iterator[dict[ResponseMode, EmbeddedPacs]]:
    """One PACS per response mode for the module (stopping one costs ~0.5 s)."""
    started = {
        mode: EmbeddedPacs(
            users=USERS, jwt_key=JWT_KEY, jwt_audience=AUDIENCE, response_mode=mode
        ).start()
        for mode in MODES
    }
    yield started
    for pacs in started.values():
        pacs.stop()


@pytest.fixture
def pacs_in(running: dict[ResponseMode, EmbeddedPacs]) -> PacsIn:
    def get(mode: ResponseMode) -> EmbeddedPacs:
        pacs = running[mode]
        pacs.wait_for_records(0)  # earlier tests' associations have all ended
        pacs.clear()
        return pacs

    return get


# What a verified identity gets back ----------------------------------------------------------

TOKEN = make_jwt(lifetime=3600)

ITEMS: dict[int, tuple[bytes, bytes, str]] = {
    1: (b"alice", b"", "alice"),
    2: (b"alice", PASSWORD.encode(), "alice"),
    5: (TOKEN.encode(), b"", "bob"),
}

# mode -> identity type -> expected server_response (None: no 59H item in the A-ASSOCIATE-AC)
EXPECTED_RESPONSE: dict[str, dict[int, bytes | None]] = {
    "standard": {1: b"", 2: b"", 5: b""},
    "silent": {1: None, 2: None, 5: None},
    "echo": {1: b"", 2: b"", 5: TOKEN.encode()},
    "pynetdicom": {1: None, 2: None, 5: b""},
}


@pytest.mark.parametrize("kind", [1, 2, 5])
@pytest.mark.parametrize("mode", MODES)
def test_verified_identity_response(pacs_in: PacsIn, mode: ResponseMode, kind: int) -> None:
    pacs = pacs_in(mode)
    primary, secondary, principal = ITEMS[kind]
    with associated(pacs, identity(kind, primary, secondary)) as assoc:
        assert assoc.is_established
        response = assoc.acceptor.user_identity
        expected = EXPECTED_RESPONSE[mode][kind]
        if expected is None:
            assert response is None
        else:
            assert response is not None
            assert response.server_response == expected
        assert assoc.send_c_echo().Status == 0x0000

    record = only_record(pacs)
    assert record.identity_type == kind
    assert record.principal == principal
    assert record.verified is True
    assert record.failure is None
    assert record.response_requested is True
    assert record.response_sent == ("none" if expected is None else "echo" if expected else "empty")
    assert record.response_length == (None if expected is None else len(expected))
    assert record.rejected is None
    assert record.ended == "released"
    assert record.dimse == ["C-ECHO"]
    assert record.calling_ae_title == "TEST_SCU"
    assert record.called_ae_title == "EMBEDDED_PACS"


@pytest.mark.parametrize("kind", [1, 2, 5])
@pytest.mark.parametrize("mode", MODES)
def test_no_response_unless_requested(pacs_in: PacsIn, mode: ResponseMode, kind: int) -> None:
    pacs = pacs_in(mode)
    primary, secondary, _ = ITEMS[kind]
    with associated(pacs, identity(kind, primary, secondary, positive=False)) as assoc:
        assert assoc.is_established
        assert assoc.acceptor.user_identity is None
    record = only_record(pacs)
    assert (record.verified, record.response_requested, record.response_sent) == (
        True,
        False,
        "none",
    )


def test_utf8_username_and_password(pacs_in: PacsIn) -> None:
    pacs = pacs_in("standard")
    item = identity(2, "jürgen".encode(), "pässwörd-ü".encode())
    with associated(pacs, item) as assoc:
        assert assoc.is_established
    assert only_record(pacs).principal == "jürgen"


# What a failed identity gets back ------------------------------------------------------------

FAILURES: dict[str, tuple[UserIdentityNegotiation, str]] = {
    "wrong password": (identity(2, b"alice", b"not-it"), "wrong password for 'alice'"),
    "unknown user (type 2)": (identity(2, b"bob", b"whatever"), "unknown user 'bob'"),
    "unknown user (type 1)": (identity(1, b"bob"), "unknown user 'bob'"),
    "non-UTF-8 username": (identity(1, b"al\xffce"), "username is not valid UTF-8"),
    "expired JWT": (identity(5, make_jwt(lifetime=-120).encode()), "JWT expired"),
    "wrong audience": (
        identity(5, make_jwt(audience="ELSEWHERE").encode()),
        "JWT audience mismatch",
    ),
    "forged JWT": (
        identity(5, jwt.encode({"sub": "x", "exp": 2**40, "aud": AUDIENCE}, "k" * 40).encode()),
        "JWT signature invalid",
    ),
    "JWT without exp": (
        identity(5, jwt.encode({"sub": "x", "aud": AUDIENCE}, JWT_KEY).encode()),
        "JWT missing required claim 'exp'",
    ),
    "not a JWT": (identity(5, b"not.a.jwt"), "JWT malformed"),
    "Kerberos": (identity(3, b"\x60\x82ticket"), "type 3 not supported by the embedded PACS yet"),
    "SAML": (identity(4, b"<saml/>"), "type 4 not supported by the embedded PACS yet"),
}


@pytest.mark.parametrize("case", list(FAILURES))
@pytest.mark.parametrize("mode", MODES)
def test_failed_identity_is_rejected(pacs_in: PacsIn, mode: ResponseMode, case: str) -> None:
    pacs = pacs_in(mode)
    item, failure = FAILURES[case]
    with associated(pacs, item) as assoc:
        triple = rejection(assoc)
    expected = (2, 2, 1) if mode == "pynetdicom" else (1, 2, 1)
    assert triple == expected
    record = only_record(pacs)
    assert record.verified is False
    assert record.failure == failure
    assert record.rejected == expected
    assert record.ended == "rejected"
    assert record.response_sent == "none"


def test_types_need_configuration(embedded_pacs_factory: Callable[..., EmbeddedPacs]) -> None:
    pacs = embedded_pacs_factory()  # no users, no JWT key
    for item in (identity(1, b"alice"), identity(2, b"alice", b"pw"), identity(5, TOKEN.encode())):
        with associated(pacs, item) as assoc:
            assert rejection(assoc) == (1, 2, 1)
    failures = [r.failure for r in pacs.wait_for_records(3)]
    assert failures == ["no users configured", "no users configured", "no JWT key configured"]


@pytest.mark.parametrize(("mode", "triple"), [("standard", (1, 2, 1)), ("pynetdicom", (2, 2, 1))])
def test_require_identity(
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
    mode: ResponseMode,
    triple: tuple[int, int, int],
) -> None:
    pacs = embedded_pacs_factory(users=USERS, require_identity=True, response_mode=mode)
    with associated(pacs) as assoc:
        assert rejection(assoc) == triple
    with associated(pacs, identity(1, b"alice")) as assoc:
        assert assoc.is_established
    missing, offered = pacs.wait_for_records(2)
    assert (missing.verified, missing.failure, missing.rejected) == (
        False,
        "no user identity offered",
        triple,
    )
    assert (offered.verified, offered.ended) == (True, "released")


def test_without_identity_nothing_is_checked(pacs_in: PacsIn) -> None:
    pacs = pacs_in("standard")
    with associated(pacs) as assoc:
        assert assoc.is_established
        assert assoc.acceptor.user_identity is None
    record = only_record(pacs)
    assert (record.identity_type, record.verified, record.principal) == (None, None, None)


# How associations end ------------------------------------------------------------------------


def test_abort_is_recorded(pacs_in: PacsIn) -> None:
    pacs = pacs_in("standard")
    assoc = client_ae().associate(
        HOST, pacs.port, ae_title=pacs.ae_title, ext_neg=[identity(1, b"alice")]
    )
    assert assoc.is_established
    assoc.abort()
    assert only_record(pacs).ended == "aborted"


def test_dropped_connection_is_closed_not_aborted(pacs_in: PacsIn) -> None:
    pacs = pacs_in("standard")
    assoc = client_ae().associate(HOST, pacs.port, ae_title=pacs.ae_title)
    assert assoc.is_established
    sock = assoc.dul.socket
    assert sock is not None
    assert sock.socket is not None
    raw = sock.socket
    raw.shutdown(socket.SHUT_RDWR)  # no A-ABORT, no A-RELEASE: the wire just goes away
    assert only_record(pacs).ended == "closed"
    assoc.kill()
    raw.close()  # pynetdicom skips close() when its own shutdown() fails on a dead socket


def _bare_connections() -> list[Association]:
    """Acceptor associations whose connection is open but sent no A-ASSOCIATE-RQ (Sta2)."""
    return [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, Association)
        and thread.is_acceptor
        and thread.dul.state_machine.current_state == "Sta2"
    ]


def test_stop_with_a_connection_that_never_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # A port probe: connect, send nothing. pynetdicom's AE.shutdown() would send it an A-ABORT,
    # which is invalid before the A-ASSOCIATE-RQ and kills the DUL thread with InvalidEventError.
    crashed: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", crashed.append)
    pacs = EmbeddedPacs(users=USERS).start()
    established = client_ae().associate(
        HOST, pacs.port, ae_title=pacs.ae_title, ext_neg=[identity(1, b"alice")]
    )
    assert established.is_established
    probe = socket.create_connection((HOST, pacs.port), timeout=5)
    try:
        poll(lambda: len(_bare_connections()) == 1, what="the PACS to accept the bare connection")
        (bare,) = _bare_connections()
        started = time.monotonic()
        pacs.stop()
        took = time.monotonic() - started
        assert probe.recv(1) == b"", "the PACS did not close the bare connection"
    finally:
        probe.close()
    poll(lambda: not bare.is_alive() and not bare.dul.is_alive(), what="its threads to end")
    poll(lambda: established.is_aborted, what="the established association to be aborted")
    assert crashed == [], [f"{c.thread}: {c.exc_type.__name__}: {c.exc_value}" for c in crashed]
    assert took < 3, f"stop() took {took:.1f} s"
    assert pacs.records[0].ended == "closed"  # the established one; the probe left no record
    assert len(pacs.records) == 1


def _read_to_the_end(sock: socket.socket) -> None:
    """Read until the peer closes (a reset counts); a timeout of the socket fails the test."""
    with contextlib.suppress(ConnectionResetError):
        while sock.recv(65536):
            pass


def test_stop_with_a_tls_handshake_left_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pynetdicom does the TLS handshake in its accept loop, blocking and without a timeout: a
    # client that goes quiet mid-handshake used to make stop() (server.shutdown()) wait forever.
    crashed: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", crashed.append)
    certs = make_certificates(tmp_path)
    pacs = EmbeddedPacs(users=USERS, ssl_context=certs.server_context()).start()
    probe = socket.create_connection((HOST, pacs.port), timeout=5)
    try:
        # Half a handshake: the ClientHello goes out, the server's first flight comes back (so
        # the PACS is inside its handshake), then nothing more.
        context = ssl.create_default_context(cafile=str(certs.ca_file))
        outgoing = ssl.MemoryBIO()
        half = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=certs.hostname)
        with pytest.raises(ssl.SSLWantReadError):
            half.do_handshake()
        probe.sendall(outgoing.read())
        assert probe.recv(65536), "no ServerHello: the PACS never started its handshake"
        started = time.monotonic()
        pacs.stop()
        took = time.monotonic() - started
        _read_to_the_end(probe)
    finally:
        probe.close()
    assert took < 3, f"stop() took {took:.1f} s"
    assert crashed == [], [f"{c.thread}: {c.exc_type.__name__}: {c.exc_value}" for c in crashed]
    assert pacs.records == []


def test_wait_for_records_is_bounded(embedded_pacs: EmbeddedPacs) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="1 association"):
        embedded_pacs.wait_for_records(1, timeout=0.2)
    assert time.monotonic() - started < 2


def test_embedded_pacs_fixture(embedded_pacs: EmbeddedPacs) -> None:
    item = identity(2, b"alice", b"secret")
    with associated(embedded_pacs, item) as assoc:
        assert assoc.acceptor.user_identity is not None
        assert assoc.acceptor.user_identity.server_response == b""
    assert only_record(embedded_pacs).principal == "alice"


# Storage and query ---------------------------------------------------------------------------


def test_store_then_find(pacs_in: PacsIn) -> None:
    pacs = pacs_in("standard")
    study = generate_uid()
    series = generate_uid()
    first = ct_dataset(
        patient_id="PAT-1",
        patient_name="Doe^Jane",
        study_uid=study,
        series_uid=series,
        study_date="20240115",
    )
    second = ct_dataset(
        patient_id="PAT-1",
        patient_name="Doe^Jane",
        study_uid=study,
        series_uid=series,
        study_date="20240115",
        seed=1,
    )
    other = ct_dataset(patient_id="PAT-2", patient_name="Roe^Richard", study_date="20230601")
    store(pacs, first, second, other)

    received = pacs.datasets
    assert [d.SOPInstanceUID for d in received] == [
        first.SOPInstanceUID,
        second.SOPInstanceUID,
        other.SOPInstanceUID,
    ]
    assert received[0].file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert received[0].PixelData == first.PixelData

    # STUDY level, universal matching: one result per study, requested keys filled in.
    found, status = c_find(
        pacs, QueryRetrieveLevel="STUDY", StudyInstanceUID="", PatientID="", StudyDate=""
    )
    assert status == 0x0000
    assert sorted(d.StudyInstanceUID for d in found) == sorted([study, other.StudyInstanceUID])
    mine = next(d for d in found if d.StudyInstanceUID == study)
    assert (mine.PatientID, mine.StudyDate, mine.QueryRetrieveLevel) == (
        "PAT-1",
        "20240115",
        "STUDY",
    )
    assert "SOPInstanceUID" not in mine

    # Exact match, wildcard, date ranges and UID lists.
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"PatientID": "PAT-1"}, {study}),
        ({"PatientName": "Roe*"}, {other.StudyInstanceUID}),
        ({"PatientName": "?oe^Jane"}, {study}),
        ({"StudyDate": "20240101-20241231"}, {study}),
        ({"StudyDate": "-20231231"}, {other.StudyInstanceUID}),
        ({"StudyDate": "20230601-"}, {study, other.StudyInstanceUID}),
        ({"StudyInstanceUID": [study, other.StudyInstanceUID]}, {study, other.StudyInstanceUID}),
        ({"PatientID": "NOBODY"}, set()),
    ]
    for keys, expected in cases:
        found, status = c_find(
            pacs, **{"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "", **keys}
        )
        assert status == 0x0000
        assert {d.StudyInstanceUID for d in found} == expected, keys

    # SERIES and IMAGE levels, and PATIENT.
    found, _ = c_find(
        pacs, QueryRetrieveLevel="SERIES", StudyInstanceUID=study, SeriesInstanceUID=""
    )
    assert [d.SeriesInstanceUID for d in found] == [series]
    found, _ = c_find(pacs, QueryRetrieveLevel="IMAGE", StudyInstanceUID=study, SOPInstanceUID="")
    assert {d.SOPInstanceUID for d in found} == {first.SOPInstanceUID, second.SOPInstanceUID}
    found, _ = c_find(pacs, QueryRetrieveLevel="PATIENT", PatientID="", PatientName="")
    assert sorted(str(d.PatientName) for d in found) == ["Doe^Jane", "Roe^Richard"]

    # A bad level is refused, not answered.
    found, status = c_find(pacs, QueryRetrieveLevel="FRAME", StudyInstanceUID="")
    assert (found, status) == ([], 0xA900)

    records = pacs.wait_for_records(len(pacs.records))
    assert records[0].dimse == ["C-STORE"] * 3
    assert all(r.dimse == ["C-FIND"] for r in records[1:])


def test_storage_dir(embedded_pacs_factory: Callable[..., EmbeddedPacs], tmp_path: Path) -> None:
    target = tmp_path / "received"
    pacs = embedded_pacs_factory(storage_dir=target)
    ds = ct_dataset(seed=7)
    store(pacs, ds)
    written = target / f"{ds.SOPInstanceUID}.dcm"
    assert sorted(p.name for p in target.iterdir()) == [written.name]
    back = pydicom.dcmread(written)
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert back.PixelData == ds.PixelData


def test_clear(pacs_in: PacsIn) -> None:
    pacs = pacs_in("standard")
    store(pacs, ct_dataset())
    pacs.wait_for_records(1)
    pacs.clear()
    assert (pacs.records, pacs.datasets) == ([], [])


# No secrets ----------------------------------------------------------------------------------


def test_no_secret_in_records_or_logs(pacs_in: PacsIn, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pacs = pacs_in("echo")
    token = make_jwt()
    items = [
        identity(2, b"alice", PASSWORD.encode()),
        identity(2, b"alice", b"wrong-" + PASSWORD.encode()),
        identity(5, token.encode()),
        identity(5, make_jwt(lifetime=-60).encode()),
    ]
    for item in items:
        with associated(pacs, item):
            pass
    records = pacs.wait_for_records(4)
    text = repr(records) + repr(pacs) + str(records) + caplog.text
    for secret in (PASSWORD, "wrong-" + PASSWORD, token, JWT_KEY):
        assert secret not in text
    assert [r.verified for r in records] == [True, False, True, False]


# Command line --------------------------------------------------------------------------------


def test_command_line(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"alice": PASSWORD}), encoding="utf-8")
    users.chmod(0o600)
    args = ["-m", "client_sdk.testing", "--port", "0", "--users-file", str(users)]
    with background(args) as pacs:
        match = listening(pacs, 20)
        port = int(match["port"])
        assert port != 0
        assert match["ae_title"] == "EMBEDDED_PACS"

        assoc = client_ae().associate(
            HOST,
            port,
            ae_title=match["ae_title"],
            ext_neg=[identity(2, b"alice", PASSWORD.encode())],
        )
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
        line = pacs.line(10)
        assert "TEST_SCU" in line
        assert "type 2" in line
        assert "'alice'" in line
        assert "ended released" in line
        assert PASSWORD not in line

        code, stderr = pacs.stop()
        assert code == 0
        assert PASSWORD not in stderr
