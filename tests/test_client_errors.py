"""Every error of the association flow, against real peers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt

from client_sdk import (
    AssociationAborted,
    AssociationRejected,
    AuthenticationRejected,
    Client,
    Decision,
    DimseFailure,
    IdentityTooLarge,
    InsecureTransport,
    NotAuthorized,
    Peer,
    PeerUnreachable,
    Policy,
    Timeouts,
)
from client_sdk._association.contexts import user_information_budget
from client_sdk.testing import EmbeddedPacs, ct_dataset
from providers import (
    IdentityError,
    IdentityExchange,
    IdentityType,
    JwtFileProvider,
    KeyringPasswordProvider,
    PasswordProvider,
    Target,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, USERS, make_jwt, write_token
from tests.fixtures_pacs import client_for
from tests.timeouts import QUICK

# --- Rejections -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "failure"),
    [
        (PasswordProvider("alice", "wrong password"), "password"),
        (PasswordProvider("mallory", "whatever"), "mallory"),
        (UsernameProvider("mallory"), "mallory"),
    ],
)
def test_wrong_identity_is_an_authentication_rejection(
    pacs: EmbeddedPacs, provider: Any, failure: str
) -> None:
    with pytest.raises(AuthenticationRejected) as info:
        client_for(pacs, provider).echo()
    error = info.value
    assert error.triple == (1, 2, 1)
    assert isinstance(error, AssociationRejected)
    assert "result 1, source 2, reason 1" in str(error)
    assert "not retried" in str(error)
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.ended == "rejected" and record.rejected == (1, 2, 1)
    assert failure in (record.failure or "")


def test_stock_pynetdicom_transient_rejection_is_still_authentication(
    embedded_pacs_factory: Any,
) -> None:
    stock = embedded_pacs_factory(users=USERS, response_mode="pynetdicom")
    with pytest.raises(AuthenticationRejected) as info:
        client_for(stock, PasswordProvider("alice", "nope")).echo()
    assert info.value.triple == (2, 2, 1)
    assert len(stock.wait_for_records(1, ended=True, timeout=10)) == 1  # never retried


def test_jwt_signed_by_another_key_is_rejected_by_the_peer(
    pacs: EmbeddedPacs, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "t.jwt", make_jwt(key="some-other-key-entirely-0123456789"))
    with pytest.raises(AuthenticationRejected):
        client_for(pacs, JwtFileProvider(path)).echo()
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.rejected == (1, 2, 1)


def test_other_rejections_are_decoded() -> None:
    ae = AE(ae_title="STRICT")
    ae.add_supported_context("1.2.840.10008.1.1")
    ae.require_called_aet = True
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        peer = Peer("127.0.0.1", server.server_address[1], "NOT-STRICT")
        with pytest.raises(AssociationRejected) as info:
            Client(peer, identity=UsernameProvider("alice"), timeouts=QUICK).echo()
        assert not isinstance(info.value, AuthenticationRejected)
        assert info.value.triple == (1, 1, 7)
        assert "Called AE title not recognised" in str(info.value)
        assert "'NOT-STRICT'" in str(info.value)
    finally:
        server.shutdown()


# --- Unreachable, silent and aborting peers ---------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused() -> None:
    client = Client(Peer("127.0.0.1", closed_port(), "NOBODY"), timeouts=QUICK)
    started = time.monotonic()
    with pytest.raises(PeerUnreachable, match="connection refused"):
        client.echo()
    assert time.monotonic() - started < QUICK.connect


def test_peer_that_accepts_tcp_and_never_answers() -> None:
    """The ACSE timeout is honoured: no 30 s (or endless) stall."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes the handshake; nobody ever reads
        port = listener.getsockname()[1]
        timeouts = Timeouts(connect=2, acse=1, dimse=2, network=2)
        client = Client(
            Peer("127.0.0.1", port, "SILENT"), identity=UsernameProvider("alice"), timeouts=timeouts
        )
        started = time.monotonic()
        with pytest.raises(AssociationAborted, match="ACSE timeout"):
            client.echo()
        assert time.monotonic() - started < timeouts.acse + 3


def _serve_once(handle: Any) -> tuple[int, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                handle(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def _read_pdu(conn: socket.socket) -> bytes:
    header = b""
    while len(header) < 6:
        header += conn.recv(6 - len(header))
    length = int.from_bytes(header[2:6], "big")
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return header + body


def test_peer_sends_a_abort_during_negotiation() -> None:
    abort_pdu = bytes.fromhex("07 00 00 00 00 04 00 00 02 00")  # source 2 (provider), reason 0
    seen: list[bytes] = []

    def handle(conn: socket.socket) -> None:
        seen.append(_read_pdu(conn))
        conn.sendall(abort_pdu)

    port, thread = _serve_once(handle)
    client = Client(
        Peer("127.0.0.1", port, "ABORTER"), identity=UsernameProvider("alice"), timeouts=QUICK
    )
    with pytest.raises(AssociationAborted, match=r"sent an A-ABORT .* instead of answering"):
        client.echo()
    thread.join(5)
    assert seen and seen[0][0] == 0x01  # it did receive our A-ASSOCIATE-RQ


def test_peer_closes_the_socket_mid_negotiation() -> None:
    port, thread = _serve_once(lambda conn: conn.recv(10))
    client = Client(
        Peer("127.0.0.1", port, "CLOSER"), identity=UsernameProvider("alice"), timeouts=QUICK
    )
    with pytest.raises(AssociationAborted):
        client.echo()
    thread.join(5)


# --- Local refusals: nothing is sent ----------------------------------------------------------


class CountingProvider:
    """Wraps a provider and counts how often the credential was fetched."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.identity_type = inner.identity_type
        self.calls = 0

    def negotiate(self, target: Target) -> IdentityExchange:
        self.calls += 1
        exchange: IdentityExchange = self.inner.negotiate(target)
        return exchange


def test_passcode_over_plain_tcp_to_a_remote_host_is_refused(
    no_outside_connections: list[Any],
) -> None:
    # 192.0.2.0/24 is TEST-NET-1 (never routed); and any connect outside loopback fails loudly.
    provider = CountingProvider(PasswordProvider("alice", "secret"))
    client = Client(Peer("192.0.2.10", 104, "REMOTE"), identity=provider, timeouts=QUICK)
    with pytest.raises(InsecureTransport) as info:
        client.echo()
    assert "TLS" in str(info.value) and "allow_insecure_transport" in str(info.value)
    assert "192.0.2.10" in str(info.value)
    assert provider.calls == 0, "the credential must not even be fetched"
    assert no_outside_connections == []


def test_jwt_over_plain_tcp_to_a_remote_host_is_refused(
    no_outside_connections: list[Any], tmp_path: Path
) -> None:
    path = write_token(tmp_path / "t.jwt", make_jwt())
    client = Client(Peer("192.0.2.10", 104, "REMOTE"), identity=JwtFileProvider(path))
    with pytest.raises(InsecureTransport):
        client.echo()
    assert no_outside_connections == []


def test_transport_rules_pure() -> None:
    remote = Target("192.0.2.10", 104, "A", "B")
    Policy().check_transport(remote, IdentityType.USERNAME)  # a bare username is not a secret
    Policy().check_transport(Target("127.0.0.1", 104, "A", "B"), IdentityType.JWT)
    Policy().check_transport(Target("192.0.2.10", 2762, "A", "B", tls=True), IdentityType.JWT)
    Policy(allow_insecure_transport=True).check_transport(remote, IdentityType.USERNAME_PASSCODE)
    for kind in (IdentityType.USERNAME_PASSCODE, IdentityType.SAML, IdentityType.JWT):
        with pytest.raises(InsecureTransport):
            Policy().check_transport(remote, kind)


def test_a_chain_is_checked_after_it_picked(no_outside_connections: list[Any]) -> None:
    from providers import ProviderChain

    chain = ProviderChain([PasswordProvider("alice", "secret")])
    with pytest.raises(InsecureTransport):
        Client(Peer("192.0.2.10", 104, "REMOTE"), identity=chain).echo()
    assert no_outside_connections == []


def _opaque_token(length: int) -> str:
    # A compact JWE is opaque to the client: any base64url parts of the right total length.
    head = "eyJhbGciOiJkaXIifQ.a.b.c."
    return head + "A" * (length - len(head))


def test_size_budget_boundary(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    budget = user_information_budget()
    largest = budget - 10  # the item's own header and length fields
    assert largest == 65463  # with pynetdicom 3.0.4's implementation UID and version name
    path = write_token(tmp_path / "edge.jwt", _opaque_token(largest))
    # Fits: sent whole, and the PACS (which cannot decode it) rejects it.
    with pytest.raises(AuthenticationRejected):
        client_for(pacs, JwtFileProvider(path)).echo()
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.identity_type == 5
    write_token(path, _opaque_token(largest + 1))
    with pytest.raises(IdentityTooLarge):
        client_for(pacs, JwtFileProvider(path)).echo()
    # Beyond what a 16-bit item length can even say (tests/test_bad_input.py covers the rest).
    write_token(path, _opaque_token(70_000))
    with pytest.raises(IdentityTooLarge, match="nothing was sent"):
        client_for(pacs, JwtFileProvider(path, positive_response=True)).echo()
    assert len(pacs.records) == 1


# --- The happy paths, each checked at the PACS ------------------------------------------------


def test_keyring_password_store_and_find(pacs: EmbeddedPacs, file_keyring: Any) -> None:
    file_keyring.set_password("pacs", "jürgen", USERS["jürgen"])
    provider = KeyringPasswordProvider(
        "pacs", "jürgen", positive_response=True, backend=file_keyring
    )
    client = client_for(pacs, provider)
    ds = ct_dataset(patient_id="KR-1")
    assert client.store(ds) == [0x0000]
    found = client.find({"PatientID": "KR-1", "StudyInstanceUID": ""}, level="STUDY")
    assert [str(f.StudyInstanceUID) for f in found] == [str(ds.StudyInstanceUID)]
    records = pacs.wait_for_records(2, ended=True, timeout=10)
    assert {r.principal for r in records} == {"jürgen"}
    assert all(r.identity_type == 2 and r.verified for r in records)


def test_rotated_token_file_is_used_by_the_next_association(
    pacs: EmbeddedPacs, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "t.jwt", make_jwt(sub="token-one"))
    client = client_for(pacs, JwtFileProvider(path, audience=AUDIENCE, positive_response=True))
    client.echo()
    write_token(path, make_jwt(sub="token-two"))
    client.echo()
    records = pacs.wait_for_records(2, ended=True, timeout=10)
    assert [r.principal for r in records] == ["token-one", "token-two"]


def test_store_a_file_from_disk(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    ds = ct_dataset(patient_id="FILE-1")
    path = tmp_path / "ct.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert client_for(pacs, UsernameProvider("alice")).store(path) == [0x0000]
    assert [str(d.SOPInstanceUID) for d in pacs.datasets] == [str(ds.SOPInstanceUID)]


def test_store_a_missing_file(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    with pytest.raises(DimseFailure, match="no such file"):
        client_for(pacs, UsernameProvider("alice")).store(tmp_path / "absent.dcm")


def test_no_identity_at_all(pacs: EmbeddedPacs) -> None:
    with client_for(pacs).associate() as session:
        assert session.outcome.decision is Decision.NO_IDENTITY
        assert session.echo() == 0
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.identity_type is None


def test_an_exception_in_the_block_aborts(pacs: EmbeddedPacs) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        client_for(pacs, UsernameProvider("alice")).associate(),
    ):
        raise RuntimeError("boom")
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.ended == "aborted"


def test_a_closed_session_says_so(pacs: EmbeddedPacs) -> None:
    session = client_for(pacs, UsernameProvider("alice")).associate()
    session.release()
    with pytest.raises(AssociationAborted, match="no longer open"):
        session.echo()


def test_the_raw_association_keeps_no_secret(pacs: EmbeddedPacs) -> None:
    with client_for(pacs, PasswordProvider("alice", USERS["alice"])).associate() as session:
        item = session.association.requestor.user_identity
        assert item is not None and item.secondary_field == b""


# --- DIMSE refusals -------------------------------------------------------------------------


@pytest.fixture
def refusing_scp() -> Iterator[Peer]:
    """A plain pynetdicom SCP that refuses every C-STORE: 0x0124 for PatientID NOAUTH, else A700."""
    ae = AE(ae_title="REFUSER")
    ae.add_supported_context("1.2.840.10008.5.1.4.1.1.2")

    def on_store(event: Any) -> int:
        return 0x0124 if event.dataset.PatientID == "NOAUTH" else 0xA700

    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        yield Peer("127.0.0.1", server.server_address[1], "REFUSER")
    finally:
        server.shutdown()


def test_dimse_not_authorized(refusing_scp: Peer) -> None:
    client = Client(refusing_scp, identity=UsernameProvider("alice"), timeouts=QUICK)
    with pytest.raises(NotAuthorized, match="not authorized") as info:
        client.store(ct_dataset(patient_id="NOAUTH"))
    assert info.value.status == 0x0124
    assert "'alice'" in str(info.value)
    with pytest.raises(DimseFailure, match="0xA700") as failure:
        client.store(ct_dataset(patient_id="OTHER"))
    assert not isinstance(failure.value, NotAuthorized)
    assert failure.value.status == 0xA700


# What client_sdk._errors defines besides errors, on purpose: ResponseAdvice is the data a
# ServerResponseMissing carries (its ``advice``), exported so a caller can read and compare it.
NOT_ERRORS = {"ResponseAdvice"}


def test_every_error_is_an_identity_error() -> None:
    from client_sdk import _errors as errors

    defined = {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and value.__module__ == errors.__name__
    }
    exceptions = {name for name, cls in defined.items() if issubclass(cls, BaseException)}
    assert exceptions, "no exception class found in client_sdk._errors"
    for name in exceptions:
        assert issubclass(defined[name], IdentityError), name
    # Every error class is exported by client_sdk, and every other class there is a deliberate one.
    import client_sdk

    exported = set(client_sdk.__all__)
    assert exceptions <= exported, exceptions - exported
    assert set(defined) - exceptions == NOT_ERRORS
    assert exported >= NOT_ERRORS


def test_store_proposes_the_dataset_transfer_syntax(pacs: EmbeddedPacs) -> None:
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    ds = ct_dataset(patient_id="JPEG-1")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"])
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    assert client_for(pacs, UsernameProvider("alice")).store(ds) == [0x0000]
    (stored,) = pacs.datasets
    assert stored.file_meta.TransferSyntaxUID == JPEGBaseline8Bit


def test_peer_accepting_no_presentation_context_is_named() -> None:
    ae = AE(ae_title="ECHO_ONLY")
    ae.add_supported_context("1.2.840.10008.1.1")
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        client = Client(
            Peer("127.0.0.1", server.server_address[1], "ECHO_ONLY"),
            identity=UsernameProvider("alice"),
            timeouts=QUICK,
        )
        with pytest.raises(AssociationAborted) as info:
            client.find({"PatientID": "1"})
    finally:
        server.shutdown()
    message = str(info.value)
    assert "none of the proposed SOP classes" in message
    assert "Study Root Query/Retrieve Information Model - FIND" in message


def test_peer_that_stalls_mid_pdu_is_bounded() -> None:
    """Three bytes of an A-ASSOCIATE-AC header, then silence: the network timeout ends the wait
    (pynetdicom clears the socket timeout after connecting; the SDK puts it back)."""
    released = threading.Event()

    def handle(conn: socket.socket) -> None:
        _read_pdu(conn)
        conn.sendall(b"\x02\x00\x00")
        released.wait(15)  # hold the connection open until the client gave up

    port, thread = _serve_once(handle)
    timeouts = Timeouts(connect=2, acse=1, dimse=2, network=2)
    client = Client(
        Peer("127.0.0.1", port, "STALLER"), identity=UsernameProvider("alice"), timeouts=timeouts
    )
    started = time.monotonic()
    try:
        with pytest.raises(AssociationAborted):
            client.echo()
        assert time.monotonic() - started < timeouts.acse + timeouts.network + 3
    finally:
        released.set()
        thread.join(5)


def test_two_clients_in_two_threads_keep_their_own_identity(pacs: EmbeddedPacs) -> None:
    """Each association carries its own client's identity, however the threads interleave."""
    clients = {
        "ALICE_SCU": client_for(
            pacs, PasswordProvider("alice", USERS["alice"]), calling_ae_title="ALICE_SCU"
        ),
        "JURGEN_SCU": client_for(
            pacs, PasswordProvider("jürgen", USERS["jürgen"]), calling_ae_title="JURGEN_SCU"
        ),
    }
    errors: list[BaseException] = []
    start = threading.Barrier(len(clients))

    def run(client: Client) -> None:
        try:
            start.wait(10)
            for _ in range(15):
                with client.associate(sop_classes=["1.2.840.10008.1.1"]) as session:
                    assert session.outcome.principal == getattr(client.identity, "username", None)
                    session.echo()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    records = pacs.wait_for_records(30, ended=True, timeout=20)
    expected = {"ALICE_SCU": "alice", "JURGEN_SCU": "jürgen"}
    assert all(r.verified and r.principal == expected[r.calling_ae_title] for r in records)
    assert {r.calling_ae_title for r in records} == set(expected)
