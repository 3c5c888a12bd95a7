"""Faulty and hostile peers: every case ends, within its timeout, with a typed error that says
what the peer did and what to do, and leaves no thread or socket behind.

The peers are raw sockets on 127.0.0.1 (tests/hostile_server.py) answering the SDK's real
A-ASSOCIATE-RQ with scripted bytes.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from client_sdk import (
    AssociationAborted,
    AssociationRejected,
    AuthenticationRejected,
    Client,
    Decision,
    DimseFailure,
    MissingResponse,
    Peer,
    PeerProtocolError,
    PeerUnreachable,
    Policy,
    Session,
    Timeouts,
)
from client_sdk._wire.items import MalformedPdu
from client_sdk._wire.pdu_check import abort_text, check_associate_ac, rejection_text
from client_sdk.testing import ct_dataset
from providers import (
    IdentityError,
    IdentityType,
    PasswordProvider,
    ResponseStatus,
    UsernameProvider,
)
from tests.conftest import poll
from tests.hostile_server import (
    IMPLICIT_VR_LITTLE_ENDIAN,
    AssociateRequest,
    DimseRequest,
    PeerConnection,
    ScriptedPeer,
    a_abort,
    accept_then,
    answer,
    associate_ac,
    associate_rj,
    dimse_response,
    identity_ac,
    item,
    max_length_item,
    pdu,
    presentation_results,
    release_rp,
    user_information,
)
from tests.hypothesis_profiles import examples
from tests.timeouts import FUZZ_PEER, HOSTILE_PEER

MARGIN = 3.0  # seconds on top of a timeout, for a loaded 2-core machine


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After each case every thread has ended and every socket is closed (polled, bounded)."""
    threads, fds = threading.active_count(), fd_count()
    yield
    poll(lambda: threading.active_count() <= threads, timeout=10, what="threads to end")
    poll(lambda: fd_count() <= fds, timeout=10, what="sockets to close")


def client(peer: ScriptedPeer, identity: Any = None, **kwargs: Any) -> Client:
    kwargs.setdefault("timeouts", HOSTILE_PEER)
    if identity is None:
        identity = UsernameProvider("alice")
    return Client(Peer("127.0.0.1", peer.port, "HOSTILE"), identity=identity, **kwargs)


def raises(kind: type[Exception], call: Callable[[], object], bound: float) -> Exception:
    """``call()`` raises exactly ``kind`` within ``bound`` seconds; the error."""
    started = time.monotonic()
    with pytest.raises(kind) as info:
        call()
    elapsed = time.monotonic() - started
    assert type(info.value) is kind, f"{type(info.value).__name__}: {info.value}"
    assert elapsed < bound, f"took {elapsed:.2f} s, bound {bound} s"
    return info.value


def echo_and_release(conn: PeerConnection) -> None:
    """Behave: answer one C-ECHO/C-STORE, then the A-RELEASE-RQ."""
    conn.send(dimse_response(conn.read_dimse_request()))
    conn.read_pdu()
    conn.send(release_rp())


# --- No peer, a silent peer -------------------------------------------------------------------


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the kernel refuses
    c = Client(Peer("127.0.0.1", port, "NOBODY"), timeouts=HOSTILE_PEER)
    error = raises(PeerUnreachable, c.echo, HOSTILE_PEER.connect)
    assert "connection refused" in str(error)
    assert "Check the host, the port and that the PACS is running" in str(error)


def test_accepts_tcp_and_never_answers() -> None:
    timeouts = Timeouts(connect=2, acse=1, dimse=2, network=5)
    with ScriptedPeer(lambda conn: conn.stall()) as peer:
        error = raises(
            AssociationAborted, client(peer, timeouts=timeouts).echo, timeouts.acse + MARGIN
        )
    assert "no A-ASSOCIATE response within the ACSE timeout (1 s)" in str(error)
    assert "Check that the port is a DICOM port" in str(error)
    assert peer.rq.identity_type == 1  # it did get our request


# --- A-ABORT at each stage --------------------------------------------------------------------


def test_a_abort_instead_of_the_ac() -> None:
    with ScriptedPeer(answer(lambda rq: a_abort(source=0, reason=0))) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0)
    message = str(error)
    assert "sent an A-ABORT (source 0, service-user) instead of answering" in message
    assert "check its log" in message and "'DICOM_IDENTITY'" in message


def test_a_abort_after_the_ac_before_any_dimse() -> None:
    script = accept_then(lambda conn: conn.send(a_abort(source=2, reason=2)))
    with ScriptedPeer(script) as peer:
        session = client(peer).associate()
        poll(lambda: not session.is_open, timeout=5, what="the peer's A-ABORT to land")
        error = raises(AssociationAborted, session.echo, 1.0)
    message = str(error)
    assert "A-ABORT (source 2, service-provider: unexpected PDU) before the C-ECHO" in message
    assert "open a new association" in message


def _abort_after_request(conn: PeerConnection) -> None:
    conn.read_dimse_request()
    conn.send(a_abort(source=0, reason=0))


def test_a_abort_during_a_c_echo() -> None:
    with ScriptedPeer(accept_then(_abort_after_request)) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0)
    assert "sent an A-ABORT (source 0, service-user) during the C-ECHO" in str(error)


def test_a_abort_during_a_c_store_says_the_outcome_is_unknown() -> None:
    with ScriptedPeer(accept_then(_abort_after_request)) as peer:
        error = raises(AssociationAborted, lambda: client(peer).store(ct_dataset()), 1.0)
    message = str(error)
    assert "during the C-STORE" in message
    assert "Whether the C-STORE took effect on the peer is unknown: check there" in message


def test_a_abort_instead_of_the_release_rp() -> None:
    def script(conn: PeerConnection) -> None:
        conn.send(dimse_response(conn.read_dimse_request()))
        conn.read_pdu()
        conn.send(a_abort(source=2, reason=0))

    with ScriptedPeer(accept_then(script)) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0)
        run = peer.wait_done()
    assert run.connection is not None and run.connection.received[-1][0] == 0x05  # RELEASE-RQ
    message = str(error)
    assert (
        "asked to release the association, sent an A-ABORT (source 2, service-provider: "
        "reason not specified) instead of an A-RELEASE-RP" in message
    )
    assert "The 1 operation(s) completed before it returned their results" in message


@pytest.mark.parametrize("then", ["close", "stall"])
def test_no_release_rp(then: str) -> None:
    timeouts = Timeouts(connect=2, acse=1, dimse=2, network=5)

    def script(conn: PeerConnection) -> None:
        conn.send(dimse_response(conn.read_dimse_request()))
        conn.read_pdu()
        if then == "stall":
            conn.stall()

    with ScriptedPeer(accept_then(script)) as peer:
        bound = timeouts.acse + MARGIN if then == "stall" else 1.0
        error = raises(AssociationAborted, client(peer, timeouts=timeouts).echo, bound)
    what = "closed the connection" if then == "close" else "sent no A-RELEASE-RP within the ACSE"
    assert f"asked to release the association, {what}" in str(error)


# --- Every rejection --------------------------------------------------------------------------

AUTHENTICATION = {(1, 2, 1), (2, 2, 1), (1, 1, 1)}
ADVICE = {
    (1, 1): "check its log",
    (1, 2): "is this a DICOM port?",
    (1, 3): "Register calling AE title 'DICOM_IDENTITY'",
    (1, 7): "Check the called AE title 'HOSTILE'",
    (2, 1): "check its log",
    (2, 2): "protocol version 1",
    (3, 1): "retry later",
    (3, 2): "retry later",
}
VALID = [
    (result, source, reason)
    for result in (1, 2)
    for source, reason in [(1, 1), (1, 2), (1, 3), (1, 7), (2, 1), (2, 2), (3, 1), (3, 2)]
]


@pytest.mark.parametrize("triple", VALID, ids=lambda t: "rj-{}-{}-{}".format(*t))
def test_every_rejection_triple(triple: tuple[int, int, int]) -> None:
    with ScriptedPeer(answer(lambda rq: associate_rj(*triple))) as peer:
        kind = AuthenticationRejected if triple in AUTHENTICATION else AssociationRejected
        error = raises(kind, client(peer).echo, 1.0)
    assert isinstance(error, AssociationRejected)
    assert error.triple == triple
    message = str(error)
    assert "result {}, source {}, reason {}".format(*triple) in message
    if kind is AuthenticationRejected:
        assert "'alice'" in message and "not retried automatically" in message
    else:
        assert ADVICE[triple[1:]] in message
        if triple[0] == 2 and triple[1] != 3:
            assert "transient" in message
    assert len(peer.runs) == 1  # never retried


@pytest.mark.parametrize("triple", [(1, 2, 1), (1, 1, 1)])
def test_without_an_identity_no_rejection_is_an_authentication_one(
    triple: tuple[int, int, int],
) -> None:
    with ScriptedPeer(answer(lambda rq: associate_rj(*triple))) as peer:
        c = Client(Peer("127.0.0.1", peer.port, "HOSTILE"), timeouts=HOSTILE_PEER)
        error = raises(AssociationRejected, c.echo, 1.0)
    assert error.triple == triple


@pytest.mark.parametrize(
    "triple", [(3, 4, 9), (0, 1, 1), (1, 1, 9), (1, 5, 1), (2, 3, 0), (1, 2, 3)]
)
def test_undefined_rejection_codes_are_kept_raw_and_fast(triple: tuple[int, int, int]) -> None:
    """pynetdicom raises on most of these in its state machine, which left the caller waiting for
    the whole ACSE timeout; now they are refused at once and reported with the raw codes."""
    timeouts = Timeouts(connect=2, acse=10, dimse=2, network=10)
    with ScriptedPeer(answer(lambda rq: associate_rj(*triple))) as peer:
        error = raises(AssociationRejected, client(peer, timeouts=timeouts).echo, 2.0)
    assert error.triple == triple
    assert "codes not defined by PS3.8 Table 9-21" in str(error)
    assert "implementation is faulty" in str(error)


# --- Malformed or surprising user identity answers --------------------------------------------


@pytest.mark.parametrize(
    ("sub_items", "words"),
    [
        pytest.param(
            [identity_ac(b"abc", item_length=50)],
            "the User Identity item (59H) declares 50 bytes but only 5 remain in the User "
            "Information item (50H)",
            id="59H-longer-than-its-item",
        ),
        pytest.param(
            [identity_ac(b"abc", response_length=300)],
            "the User Identity item (59H) declares a 300-byte server response but holds 3 "
            "bytes (past the end of the item)",
            id="response-length-past-the-end",
        ),
        pytest.param(
            [identity_ac(b"abc", response_length=1)],
            "the User Identity item (59H) declares a 1-byte server response but holds 3 "
            "bytes (short of its end)",
            id="response-length-short",
        ),
        pytest.param(
            [identity_ac(b"", item_length=1) + b"\x00"],
            "the User Identity item (59H) is 1 byte(s) long, too short for its 2-byte server "
            "response length",
            id="no-room-for-the-length",
        ),
        pytest.param(
            [identity_ac(b"first"), identity_ac(b"second")],
            "it holds two User Identity items",
            id="two-59H-items",
        ),
    ],
)
@pytest.mark.parametrize("rule", [MissingResponse.ABORT, MissingResponse.PROCEED])
def test_a_malformed_identity_answer_aborts_whatever_the_policy(
    sub_items: list[bytes], words: str, rule: MissingResponse
) -> None:
    """An answer whose lengths disagree (or two answers) cannot be trusted either way: the
    association is aborted, as DCMTK's parser refuses such an AC, and retrying cannot help."""
    with ScriptedPeer(accept_then(lambda conn: conn.wait_closed(5), *sub_items)) as peer:
        policy = Policy(missing_response=rule)
        error = raises(PeerProtocolError, client(peer, policy=policy).echo, 1.0)
        run = peer.wait_done()
    message = str(error)
    assert f"sent an A-ASSOCIATE-AC that is malformed: {words}" in message
    assert "the association was aborted" in message and "report it to its vendor" in message
    assert isinstance(error, AssociationAborted)
    assert run.connection is not None and run.error is None


def test_a_user_information_item_past_the_end_of_the_ac() -> None:
    def make(rq: AssociateRequest) -> bytes:
        return associate_ac(rq, user_info=user_information(identity_ac(b""), length=400))

    with ScriptedPeer(answer(make, then="drain")) as peer:
        error = raises(PeerProtocolError, client(peer).echo, 1.0)
    assert "User Information item (50H) declares 400 bytes but only" in str(error)


@pytest.mark.parametrize("response", [b"", b"legacy-server-response"])
def test_a_legacy_58h_answer_is_accepted_as_dcmtk_does(response: bytes) -> None:
    """DCMTK <= 3.6.1 acceptors typed the answer 58H (PS3.7 wants 59H); DCMTK's requestor takes
    it. pynetdicom alone aborts (empty answer) or kills its thread (non-empty one)."""
    script = accept_then(echo_and_release, identity_ac(response, kind=0x58))
    provider = UsernameProvider("alice", positive_response=True)
    with ScriptedPeer(script) as peer, client(peer, provider).associate() as session:
        assert session.echo() == 0
        outcome = session.outcome
    assert outcome.status is (ResponseStatus.UNVERIFIED if response else ResponseStatus.EMPTY)
    assert outcome.response_length == len(response)
    assert outcome.decision is Decision.CONFIRMED
    assert "legacy 58H item" in outcome.detail


def test_an_unsolicited_answer_is_ignored() -> None:
    """No positive response was requested, one came anyway: nothing depends on it."""
    script = accept_then(echo_and_release, identity_ac(b"unasked"))
    with ScriptedPeer(script) as peer:
        with client(peer, UsernameProvider("alice")).associate() as session:
            assert session.echo() == 0
            outcome = session.outcome
        assert not peer.rq.response_requested
    assert outcome.decision is Decision.NOT_REQUESTED
    assert outcome.response_received and outcome.response_length == len(b"unasked")


def test_an_answer_to_no_identity_at_all_is_ignored() -> None:
    script = accept_then(echo_and_release, identity_ac(b"to-whom?"))
    with ScriptedPeer(script) as peer:
        with Client(
            Peer("127.0.0.1", peer.port, "HOSTILE"), timeouts=HOSTILE_PEER
        ).associate() as s:
            assert s.echo() == 0
            assert s.outcome.decision is Decision.NO_IDENTITY
        assert peer.rq.identity_type is None


def test_a_missing_answer_still_follows_the_policy() -> None:
    """The control case: a well-formed AC without 59H is the policy's, not a protocol error."""
    policy = Policy(per_type={IdentityType.USERNAME_PASSCODE: MissingResponse.WARN})
    script = accept_then(echo_and_release)
    with ScriptedPeer(script) as peer:
        provider = PasswordProvider("alice", "pw", positive_response=True)
        assert client(peer, provider, policy=policy).echo() == 0


# --- Hang-ups and nonsense --------------------------------------------------------------------


def test_the_peer_closes_in_the_middle_of_the_ac() -> None:
    with ScriptedPeer(answer(lambda rq: associate_ac(rq)[:40])) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0)
    message = str(error)
    assert "closed the connection in the middle of an A-ASSOCIATE-AC (40 of " in message
    assert "during negotiation" in message and "retry" in message


def test_the_peer_closes_in_the_middle_of_a_pdu_header() -> None:
    with ScriptedPeer(answer(lambda rq: b"\x02\x00\x00")) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0)
    assert "closed the connection after 3 of the 6 header bytes of a PDU" in str(error)


def test_the_peer_closes_in_the_middle_of_a_dimse_response() -> None:
    def script(conn: PeerConnection) -> None:
        conn.send(dimse_response(conn.read_dimse_request())[:20])

    with ScriptedPeer(accept_then(script)) as peer:
        error = raises(AssociationAborted, lambda: client(peer).store(ct_dataset()), 1.0)
    message = str(error)
    assert "closed the connection in the middle of a P-DATA-TF (20 of " in message
    assert "during the C-STORE" in message and "unknown" in message


def test_the_peer_stalls_in_the_middle_of_the_ac() -> None:
    timeouts = Timeouts(connect=2, acse=1, dimse=2, network=1)

    def script(conn: PeerConnection) -> None:
        conn.send(associate_ac(conn.rq)[:40])
        conn.stall()

    with ScriptedPeer(script) as peer:
        error = raises(AssociationAborted, client(peer, timeouts=timeouts).echo, 1 + MARGIN)
        full = len(associate_ac(peer.rq))
    message = str(error)
    assert f"sent the header of an A-ASSOCIATE-AC announcing {full} bytes, then stalled" in message
    assert "check the peer's log, then retry" in message


def test_the_peer_stalls_in_the_middle_of_a_dimse_response() -> None:
    timeouts = Timeouts(connect=2, acse=2, dimse=1, network=1)

    def script(conn: PeerConnection) -> None:
        conn.send(dimse_response(conn.read_dimse_request())[:20])
        conn.stall()

    with ScriptedPeer(accept_then(script)) as peer:
        store = lambda: client(peer, timeouts=timeouts).store(ct_dataset())  # noqa: E731
        error = raises(AssociationAborted, store, 1 + MARGIN)
    message = str(error)
    assert "sent the header of a P-DATA-TF announcing" in message
    assert "then stalled before its end during the C-STORE" in message
    assert "Whether the C-STORE took effect on the peer is unknown" in message


def test_an_ac_accepting_no_context_then_an_a_abort() -> None:
    def make(rq: AssociateRequest) -> bytes:
        return associate_ac(rq, contexts=presentation_results(rq, result=3)) + a_abort(0, 0)

    with ScriptedPeer(answer(make, then="drain")) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0)
    assert "accepted the association but none of the proposed SOP classes (Verification" in str(
        error
    )


def test_the_peer_closes_without_a_word() -> None:
    # A close without a byte may mean a TLS port: the SDK settles it with one bare TLS handshake
    # to the same port (client_sdk/_association/tls_failures.py), bounded by the connect timeout
    # plus 1 s.
    with ScriptedPeer(lambda conn: None) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0 + HOSTILE_PEER.connect + 1.0)
    message = str(error)
    assert "closed the connection without an A-ASSOCIATE response" in message
    assert "a second, short connection: that was a TLS probe by dicom-identity" in message


def test_the_peer_closes_between_pdus_during_a_c_echo() -> None:
    with ScriptedPeer(accept_then(lambda conn: conn.read_dimse_request())) as peer:
        error = raises(AssociationAborted, client(peer).echo, 1.0)
    assert "closed the connection during the C-ECHO without an A-ABORT" in str(error)


def test_the_peer_closes_after_the_ac_and_the_next_operation_says_so() -> None:
    # pynetdicom notices the hang-up before the C-ECHO is asked for: the error still names it.
    with ScriptedPeer(accept_then(lambda conn: None)) as peer:
        session = client(peer).associate()
        poll(lambda: not session.is_open, timeout=5, what="the hang-up to land")
        error = raises(AssociationAborted, session.echo, 1.0)
    message = str(error)
    assert "closed the connection before the C-ECHO without an A-ABORT" in message
    assert "open a new association" in message


def test_an_operation_after_our_own_release_is_not_blamed_on_the_peer() -> None:
    def script(conn: PeerConnection) -> None:
        assert conn.read_pdu()[0] == 0x05  # A-RELEASE-RQ
        conn.send(release_rp())  # then the connection closes

    with ScriptedPeer(accept_then(script)) as peer, client(peer).associate() as session:
        pass
    error = raises(AssociationAborted, session.echo, 1.0)
    message = str(error)
    assert "no longer open (released or aborted)" in message
    assert "closed the connection" not in message


def test_no_dimse_response_is_a_dimse_timeout() -> None:
    timeouts = Timeouts(connect=2, acse=2, dimse=1, network=10)

    def script(conn: PeerConnection) -> None:
        conn.read_dimse_request()
        conn.stall()

    with ScriptedPeer(accept_then(script)) as peer:
        error = raises(DimseFailure, client(peer, timeouts=timeouts).echo, 1 + MARGIN)
    assert "no response within the DIMSE timeout (1 s)" in str(error)
    assert isinstance(error, DimseFailure) and error.status is None


@pytest.mark.parametrize(
    ("make", "words"),
    [
        pytest.param(
            lambda rq: pdu(0x09, b"\x00" * 4), "sent a PDU of unknown type 09H", id="unknown-type"
        ),
        pytest.param(
            lambda rq: rq.raw,
            "sent an A-ASSOCIATE-RQ instead of an A-ASSOCIATE response",
            id="rq-echoed-back",
        ),
        pytest.param(
            lambda rq: pdu(0x04, b"\x00\x00\x00\x02\x01\x03"),
            "sent a P-DATA-TF instead of an A-ASSOCIATE response",
            id="p-data-first",
        ),
        # A TLS alert record instead of a PDU is PlainToTlsPort, not a protocol error:
        # tests/test_tls.py::test_plain_against_a_peer_answering_with_a_tls_alert.
        pytest.param(
            lambda rq: associate_ac(rq, user_info=b""),
            "it holds 0 User Information items (50H), not one",
            id="no-user-information",
        ),
        pytest.param(
            lambda rq: associate_ac(rq, user_info=item(0x50, item(0x52, b"1.2.3"))),
            "its User Information item (50H) has no Maximum Length item (51H)",
            id="no-maximum-length",
        ),
        pytest.param(
            lambda rq: associate_ac(rq, contexts=item(0x21, bytes([1, 0, 0, 0]))),
            "it accepts presentation context 1 with 0 transfer syntaxes",
            id="acceptance-without-transfer-syntax",
        ),
        pytest.param(
            lambda rq: pdu(0x02, b"\x00\x01"),
            "sent an A-ASSOCIATE-AC that is malformed: the A-ASSOCIATE-AC is 8 bytes",
            id="tiny-ac",
        ),
    ],
)
def test_nonsense_instead_of_an_answer(
    make: Callable[[AssociateRequest], bytes], words: str
) -> None:
    with ScriptedPeer(answer(make, then="drain")) as peer:
        error = raises(PeerProtocolError, client(peer).echo, 1.0)
    assert words in str(error)


def test_a_second_ac_on_an_established_association() -> None:
    def script(conn: PeerConnection) -> None:
        conn.read_dimse_request()
        conn.send(associate_ac(conn.rq))
        conn.wait_closed(5)

    with ScriptedPeer(accept_then(script)) as peer:
        error = raises(PeerProtocolError, client(peer).echo, 1.0)
    assert "sent an A-ASSOCIATE-AC on an established association during the C-ECHO" in str(error)


def test_a_session_kept_after_the_peer_left_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """pynetdicom's send_c_echo raises RuntimeError when the association ended between the
    SDK's check and the call; the Session turns that into the peer's story too."""
    script = accept_then(lambda conn: conn.send(a_abort(source=0, reason=0)))
    with ScriptedPeer(script) as peer:
        session: Session = client(peer).associate()
        poll(lambda: not session.is_open, timeout=5, what="the peer's A-ABORT to land")
        monkeypatch.setattr(session, "_require_open", lambda operation: None)
        error = raises(AssociationAborted, session.echo, 1.0)
    assert "sent an A-ABORT (source 0, service-user) before the C-ECHO" in str(error)


# --- Generated hostile answers (hypothesis) ---------------------------------------------------

FUZZ_BOUND = FUZZ_PEER.acse + FUZZ_PEER.dimse + FUZZ_PEER.network + MARGIN

Mutation = tuple[str, float, int, bytes]


def _mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    """Apply each (operation, where as a fraction of the length, value, bytes) in turn."""
    out = bytearray(data)
    for operation, where, value, extra in mutations:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if operation == "flip" and out:
            out[at] ^= 1 << (value % 8)
        elif operation == "truncate":
            del out[at:]
        elif operation == "length" and len(out) >= 2:
            at = min(at, len(out) - 2)
            out[at : at + 2] = (value % 65536).to_bytes(2, "big")
        elif operation == "insert":
            out[at:at] = extra
    return bytes(out)


_mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "truncate", "length", "insert"]),
        st.floats(0, 1),
        st.integers(0, 65535),
        st.binary(max_size=12),
    ),
    min_size=1,
    max_size=4,
)
_sub_items = st.lists(
    st.tuples(
        st.sampled_from([0x51, 0x52, 0x54, 0x55, 0x58, 0x59, 0x5A, 0x00, 0xFF]),
        st.binary(max_size=24),
    ),
    max_size=4,
).map(
    lambda items: [bytes([kind, 0]) + len(body).to_bytes(2, "big") + body for kind, body in items]
)

Answer = Callable[[AssociateRequest], bytes]


def _mutated_ac(response: bytes, mutations: list[Mutation]) -> Answer:
    return lambda rq: _mutate(associate_ac(rq, identity_ac(response)), mutations)


def _ac_with(sub_items: list[bytes]) -> Answer:
    return lambda rq: associate_ac(rq, *sub_items)


def _constant(data: bytes) -> Answer:
    return lambda rq: data


def _reframed(mutations: list[Mutation]) -> Answer:
    """A mutated AC body in a PDU whose length fits it: well framed, hostile inside."""
    return lambda rq: pdu(0x02, _mutate(associate_ac(rq, identity_ac(b"ok"))[6:], mutations))


def _assembled(items: list[bytes]) -> Answer:
    """An AC with its fixed fields and application context, then ``items`` as generated."""
    return lambda rq: pdu(0x02, associate_ac(rq, contexts=b"", user_info=b"")[6:] + b"".join(items))


_sub_item = st.one_of(
    st.builds(
        item,
        st.sampled_from([0x30, 0x40, 0x51, 0x52, 0x54, 0x55, 0x58, 0x59, 0x99]),
        st.binary(max_size=16),
    ),
    st.just(item(0x40, IMPLICIT_VR_LITTLE_ENDIAN)),
    st.just(max_length_item()),
)
_context_item = st.builds(
    lambda cid, result, subs: item(0x21, bytes([cid, 0, result, 0]) + b"".join(subs)),
    st.sampled_from([1, 3, 255]),  # 1 is the context the client proposes
    st.integers(0, 5),
    st.lists(_sub_item, max_size=3),
)
_user_info_item = st.builds(
    lambda subs: item(0x50, b"".join(subs)), st.lists(_sub_item, max_size=4)
)
_ac_items = st.lists(
    st.one_of(
        _context_item,
        _user_info_item,
        st.builds(item, st.integers(0, 255), st.binary(max_size=16)),
    ),
    max_size=5,
)

hostile_answers = st.one_of(
    st.builds(_mutated_ac, st.binary(max_size=16), _mutations),
    st.builds(_reframed, _mutations),
    st.builds(_assembled, _ac_items),
    st.builds(_ac_with, _sub_items),
    st.builds(
        lambda triple: _constant(associate_rj(*triple)),
        st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    ),
    st.builds(
        lambda sr: _constant(a_abort(*sr)), st.tuples(st.integers(0, 255), st.integers(0, 255))
    ),
    st.builds(
        lambda kind, body, length: _constant(pdu(kind, body, length=length)),
        st.integers(0, 10),
        st.binary(max_size=80),
        st.none() | st.integers(0, 200),
    ),
    st.builds(_constant, st.binary(max_size=64)),
)


Reply = Callable[[DimseRequest], bytes]


def _mutated_response(mutations: list[Mutation], reframe: bool) -> Reply:
    def make(request: DimseRequest) -> bytes:
        data = dimse_response(request)
        return pdu(0x04, _mutate(data[6:], mutations)) if reframe else _mutate(data, mutations)

    return make


hostile_replies = st.one_of(
    st.builds(_mutated_response, _mutations, st.booleans()),
    st.builds(
        lambda kind, body: lambda request: pdu(kind, body),
        st.integers(0, 10),
        st.binary(max_size=80),
    ),
    st.builds(lambda data: lambda request: data, st.binary(max_size=64)),
)


def _then_behave(make: Answer) -> Callable[[PeerConnection], None]:
    """Send the generated answer; if the client goes on as if it were fine, play along (answer
    its C-ECHO and release) so a valid answer ends in a success, not a timeout."""

    def script(conn: PeerConnection) -> None:
        conn.sock.settimeout(FUZZ_BOUND)
        conn.send(make(conn.rq))
        echo_and_release(conn)

    return script


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")  # generated UIDs
@settings(max_examples=examples(25), suppress_health_check=[HealthCheck.too_slow])
@given(make=hostile_answers)
def test_generated_hostile_answers_end_in_typed_errors_and_leave_nothing(make: Answer) -> None:
    run_fuzz_example(
        _then_behave(make),
        lambda peer: client(
            peer,
            UsernameProvider("alice", positive_response=True),
            policy=Policy(missing_response=MissingResponse.WARN),
            timeouts=FUZZ_PEER,
        ),
        valid_statuses=(0,),
    )


def run_fuzz_example(
    script: Callable[[PeerConnection], None],
    make_client: Callable[[ScriptedPeer], Client],
    *,
    valid_statuses: tuple[int, ...],
) -> None:
    """One generated case: a C-ECHO against ``script`` ends in a status from ``valid_statuses``
    or an IdentityError naming the peer, within FUZZ_BOUND, with no thread exception, and every
    thread and socket gone afterwards."""
    threads, fds = threading.active_count(), fd_count()
    thread_errors: list[BaseException | None] = []
    hook = threading.excepthook
    threading.excepthook = lambda args: thread_errors.append(args.exc_value)
    try:
        with ScriptedPeer(script) as peer:
            c = make_client(peer)
            started = time.monotonic()
            outcome: int | IdentityError
            try:
                outcome = c.echo()
            except IdentityError as exc:  # anything else fails the test as it is
                outcome = exc
            elapsed = time.monotonic() - started
        assert elapsed < FUZZ_BOUND, f"took {elapsed:.2f} s"
        event(type(outcome).__name__ + " " + str(outcome).split(" ", 1)[-1][:70])
        if isinstance(outcome, IdentityError):
            assert "HOSTILE@127.0.0.1" in str(outcome), str(outcome)
        else:
            assert outcome in valid_statuses
        poll(lambda: threading.active_count() <= threads, timeout=5, what="threads to end")
        poll(lambda: fd_count() <= fds, timeout=5, what="sockets to close")
    finally:
        threading.excepthook = hook
    assert thread_errors == []


# --- The strict checks alone (pure logic) ----------------------------------------------------

RQ = AssociateRequest(
    raw=b"",
    called_ae_title="PACS",
    calling_ae_title="SCU",
    context_ids=(1, 3),
    identity_type=2,
    response_requested=True,
)


def test_the_smallest_accept_item_of_the_standard_passes_unchanged() -> None:
    ac = associate_ac(RQ, bytes.fromhex("59 00 00 02 00 00"))  # PS3.7 D.3.3.7, empty response
    checked = check_associate_ac(ac)
    assert checked.pdu == ac and checked.identity_items == 1 and not checked.legacy_identity_item
    assert check_associate_ac(associate_ac(RQ)).identity_items == 0


def test_a_legacy_58h_item_is_retyped_and_nothing_else_changes() -> None:
    ac = associate_ac(RQ, identity_ac(b"ticket", kind=0x58))
    checked = check_associate_ac(ac)
    assert checked.legacy_identity_item
    changed = [i for i, (a, b) in enumerate(zip(ac, checked.pdu, strict=True)) if a != b]
    assert len(changed) == 1 and ac[changed[0]] == 0x58 and checked.pdu[changed[0]] == 0x59


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (pdu(0x02, bytes(60)), "shorter than its fixed fields"),
        (associate_ac(RQ) + b"\x50\x00", "2 stray byte(s) at the end of the A-ASSOCIATE-AC"),
        (
            associate_ac(RQ, user_info=user_information(b"\x52\x00\x00\x09uid")),
            "the Implementation Class UID item (52H) declares 9 bytes but only 3 remain",
        ),
    ],
)
def test_structural_faults_are_named(data: bytes, words: str) -> None:
    with pytest.raises(MalformedPdu, match=re.escape(words)):
        check_associate_ac(data)


def test_rejection_and_abort_words() -> None:
    assert rejection_text((1, 2, 1)) == (
        "(result 1, source 2, reason 1: Rejected Permanent, Service Provider (ACSE), "
        "No reason given)"
    )
    assert rejection_text((2, 3, 2)).endswith("Local limit exceeded)")
    assert "not defined" in rejection_text((1, 2, 7))
    assert abort_text(2, 6) == "A-ABORT (source 2, service-provider: invalid PDU parameter value)"
    assert abort_text(0, 6) == "A-ABORT (source 0, service-user)"
    assert abort_text(7, 0) == "A-ABORT (source 7, undefined)"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on generated elements
@settings(max_examples=examples(20), suppress_health_check=[HealthCheck.too_slow])
@given(reply=hostile_replies)
def test_generated_hostile_dimse_responses_end_in_typed_errors_and_leave_nothing(
    reply: Reply,
) -> None:
    def script(conn: PeerConnection) -> None:
        conn.sock.settimeout(FUZZ_BOUND)
        conn.send(reply(conn.read_dimse_request()))
        conn.read_pdu()
        conn.send(release_rp())

    run_fuzz_example(
        accept_then(script),
        lambda peer: client(peer, timeouts=FUZZ_PEER),
        valid_statuses=(0, 1),
    )
