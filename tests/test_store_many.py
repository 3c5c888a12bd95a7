"""Client.store_many against the embedded PACS (and a raw pynetdicom peer that aborts)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE, DEFAULT_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event

from client_sdk import (
    AssociationAborted,
    AuthenticationRejected,
    Client,
    DimseFailure,
    Peer,
    StoreResult,
)
from client_sdk._association.contexts import MAX_CONTEXTS, proposed_contexts
from client_sdk._operations.bulk import DEFAULT_STORAGE_CLASSES, MAX_LOST_IN_A_ROW
from client_sdk._pynetdicom.reactor_race import return_stolen_responses
from client_sdk.testing import CT_IMAGE_STORAGE, EmbeddedPacs, ct_dataset
from providers import IdentityExchange, PasswordProvider, Target, UsernameProvider
from tests.conftest import USERS
from tests.fixtures_pacs import client_for
from tests.timeouts import THIRD_PARTY

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


class CountingProvider:
    """A real password provider that counts its identity exchanges (one per association)."""

    def __init__(self, password: str) -> None:
        self.inner = PasswordProvider("alice", password)
        self.identity_type = self.inner.identity_type
        self.calls = 0
        self._lock = threading.Lock()

    def negotiate(self, target: Target) -> IdentityExchange:
        with self._lock:
            self.calls += 1
        return self.inner.negotiate(target)


def write_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        ds = ct_dataset(patient_id="BULK-1", seed=n)
        ds.InstanceNumber = n + 1
        path = folder / f"ct{n:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.mark.parametrize("workers", [1, 4])
def test_many_files_each_with_its_status(pacs: EmbeddedPacs, tmp_path: Path, workers: int) -> None:
    files = write_files(tmp_path / "in", 24)
    identity = CountingProvider(USERS["alice"])
    seen: list[StoreResult] = []
    report = client_for(pacs, identity, timeouts=THIRD_PARTY).store_many(
        files, workers=workers, progress=seen.append
    )

    assert report.stored == 24 and report.failed == []
    assert [r.path for r in report.results] == files  # input order, whatever the finishing order
    assert [r.index for r in report.results] == list(range(24))
    assert all(r.status == 0x0000 and r.error is None for r in report.results)
    assert {r.index for r in seen} == set(range(24))  # progress once per file
    received = {str(ds.SOPInstanceUID) for ds in pacs.datasets}
    assert received == {r.sop_instance_uid for r in report.results}

    # One identity exchange per association, as many associations as workers.
    records = pacs.wait_for_records(workers)
    assert identity.calls == workers == len(records) == len(report.associations)
    assert all(rec.verified and rec.principal == "alice" for rec in records)
    assert all(rec.ended == "released" for rec in records)
    assert sum(rec.dimse.count("C-STORE") for rec in records) == 24
    assert sum(use.files for use in report.associations) == 24
    assert all(use.outcome.principal == "alice" for use in report.associations)


def test_files_go_in_their_own_transfer_syntax(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    # A pynetdicom acceptor picks Implicit VR LE from the default proposal; the first inputs'
    # syntax gets contexts of its own, so Explicit VR files are not re-encoded on the way.
    explicit = write_files(tmp_path / "explicit", 3)
    implicit = tmp_path / "implicit.dcm"
    ds = ct_dataset(patient_id="BULK-1", seed=99)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(implicit, implicit_vr=True, little_endian=True, enforce_file_format=True)

    report = client_for(pacs, UsernameProvider("alice"), timeouts=THIRD_PARTY).store_many(
        [*explicit, implicit]
    )
    assert report.stored == 4
    received = {str(d.SOPInstanceUID): d.file_meta.TransferSyntaxUID for d in pacs.datasets}
    by_result = {r.path: received[str(r.sop_instance_uid)] for r in report.results}
    assert by_result == {
        **dict.fromkeys(explicit, ExplicitVRLittleEndian),
        implicit: ImplicitVRLittleEndian,
    }

    pacs.clear()  # Client.store names the files' syntaxes too
    client_for(pacs, UsernameProvider("alice"), timeouts=THIRD_PARTY).store(explicit[0])
    assert [d.file_meta.TransferSyntaxUID for d in pacs.datasets] == [ExplicitVRLittleEndian]


def test_exact_syntax_contexts_fill_only_the_room_left() -> None:
    # Default classes (123 contexts): the exact-syntax contexts are an optimisation, so
    # they are cut to the 128 that fit; a compressed syntax is required, so it still raises.
    contexts, _ = proposed_contexts(None, [ExplicitVRLittleEndian])
    assert len(contexts) == MAX_CONTEXTS
    exact = [cx for cx in contexts if cx.transfer_syntax == [ExplicitVRLittleEndian]]
    assert 0 < len(exact) < len(DEFAULT_STORAGE_CLASSES)
    with pytest.raises(ValueError, match="at most 128 presentation contexts"):
        proposed_contexts(None, [JPEGBaseline8Bit])

    contexts, _ = proposed_contexts([CT_IMAGE_STORAGE], [ExplicitVRLittleEndian, JPEGBaseline8Bit])
    assert [cx.transfer_syntax for cx in contexts] == [
        DEFAULT_TRANSFER_SYNTAXES,
        [JPEGBaseline8Bit],
        [ExplicitVRLittleEndian],
    ]


def test_no_more_associations_than_inputs(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    files = write_files(tmp_path / "in", 2)
    identity = CountingProvider(USERS["alice"])
    report = client_for(pacs, identity, timeouts=THIRD_PARTY).store_many(files, workers=4)
    assert report.stored == 2
    assert identity.calls == 2 == len(pacs.wait_for_records(2))
    empty = client_for(pacs, identity, timeouts=THIRD_PARTY).store_many([], workers=4)
    assert empty.results == [] and identity.calls == 2


# pydicom warns about the malformed UID wherever it meets it (here, in the PACS's thread too).
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI:UserWarning")
def test_failing_files_are_reported_and_the_rest_is_stored(tmp_path: Path) -> None:
    files = write_files(tmp_path / "in", 4)
    junk = tmp_path / "in" / "notes.txt"
    junk.write_text("not DICOM")
    missing = tmp_path / "in" / "gone.dcm"
    mr = ct_dataset(seed=99)
    mr.SOPClassUID = mr.file_meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    refused = ct_dataset(seed=98)  # not a UID: a PACS writing files answers 0xC000
    refused.SOPInstanceUID = refused.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.x"
    items: list[Any] = [files[0], junk, files[1], missing, mr, files[2], refused, files[3]]

    with EmbeddedPacs(users=USERS, storage_dir=tmp_path / "pacs") as pacs:
        report = client_for(
            pacs, PasswordProvider("alice", USERS["alice"]), timeouts=THIRD_PARTY
        ).store_many(items, workers=2, sop_classes=[CT_IMAGE_STORAGE])
        assert len(pacs.datasets) == 4

    by_index = {r.index: r for r in report.results}
    assert [r.index for r in report.failed] == [1, 3, 4, 6]
    assert report.stored == 4
    assert isinstance(by_index[1].error, DimseFailure) and by_index[1].status is None
    assert "not a readable DICOM file" in str(by_index[1].error)
    assert by_index[1].name == str(junk)
    assert "no such file" in str(by_index[3].error)
    # The peer accepted no context for MR (only CT was proposed): this file fails, not the run.
    assert "Propose this SOP class" in str(by_index[4].error)
    assert by_index[4].status is None
    assert by_index[4].name == str(mr.SOPInstanceUID)
    assert by_index[6].status == 0xC000 and isinstance(by_index[6].error, DimseFailure)
    assert all(by_index[i].status == 0 for i in (0, 2, 5, 7))


def test_authentication_rejection_stops_everything(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    taken: list[int] = []

    def inputs() -> Iterator[Dataset]:
        for n in range(50):
            taken.append(n)
            yield ct_dataset(seed=n)

    identity = CountingProvider("wrong password")
    seen: list[StoreResult] = []
    with pytest.raises(AuthenticationRejected) as caught:
        client_for(pacs, identity, timeouts=THIRD_PARTY).store_many(
            inputs(), workers=4, progress=seen.append
        )

    records = pacs.wait_for_records(1)
    assert pacs.datasets == []
    # Each input a worker had taken is reported not sent, with the error that stopped the run.
    assert seen and all(result.result == "not-sent" for result in seen)
    assert all(isinstance(result.error, AuthenticationRejected) for result in seen)
    assert sorted(result.index for result in seen) == list(range(len(seen)))
    # Never retried: at most one attempt per worker, and the input was not drained.
    assert identity.calls == len(records) <= 4
    assert all(rec.rejected is not None for rec in records)
    assert len(taken) <= 4 + 4
    assert any("store_many stopped" in note for note in caught.value.__notes__)


def test_input_is_consumed_lazily(pacs: EmbeddedPacs) -> None:
    workers = 2
    done: list[StoreResult] = []
    in_flight: list[int] = []

    def inputs() -> Iterator[Dataset]:
        for n in range(20):
            in_flight.append(n + 1 - len(done))  # taken so far (this one included) - finished
            yield ct_dataset(seed=n)

    report = client_for(pacs, UsernameProvider("alice"), timeouts=THIRD_PARTY).store_many(
        inputs(), workers=workers, progress=done.append
    )
    assert report.stored == 20
    assert len(in_flight) == 20
    # Never more datasets taken than workers can hold: the generator is not drained up front.
    assert max(in_flight) <= workers
    assert in_flight[-1] <= workers and len(done) == 20


def test_progress_callback_error_stops_the_run(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    files = write_files(tmp_path / "in", 6)

    def progress(result: StoreResult) -> None:
        if result.index == 1:
            raise RuntimeError("callback broke")

    with pytest.raises(RuntimeError, match="callback broke"):
        client_for(pacs, UsernameProvider("alice"), timeouts=THIRD_PARTY).store_many(
            files, progress=progress
        )
    records = pacs.wait_for_records(1)
    assert len(pacs.datasets) == 2 and len(records) == 1


class AbortingPeer:
    """A stock pynetdicom storage SCP that aborts the association on the chosen instances."""

    def __init__(self, abort_on: set[str] | None = None, *, abort_all: bool = False) -> None:
        self.abort_on = abort_on or set()
        self.abort_all = abort_all
        self.stored: list[str] = []
        self.associations = 0
        ae = AE(ae_title="ABORTER")
        ae.supported_contexts = AllStoragePresentationContexts
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = 10
        self.ae = ae
        handlers = [(evt.EVT_C_STORE, self._store), (evt.EVT_ACCEPTED, self._accepted)]
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        self.port = int(self.server.server_address[1])

    def _accepted(self, event: Event) -> None:
        self.associations += 1

    def _store(self, event: Event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        if self.abort_all or uid in self.abort_on:
            event.assoc.abort()
            return 0xA700
        self.stored.append(uid)
        return 0x0000

    def stop(self) -> None:
        self.ae.shutdown()


@pytest.fixture
def aborting_peer() -> Iterator[AbortingPeer]:
    peer = AbortingPeer()
    yield peer
    peer.stop()


def test_lost_association_fails_that_file_and_a_new_one_is_opened(
    aborting_peer: AbortingPeer,
) -> None:
    datasets = [ct_dataset(seed=n) for n in range(6)]
    aborting_peer.abort_on = {str(datasets[2].SOPInstanceUID)}
    client = Client(Peer("127.0.0.1", aborting_peer.port, "ABORTER"), timeouts=THIRD_PARTY)
    report = client.store_many(datasets, sop_classes=[CT_IMAGE_STORAGE])

    assert [r.index for r in report.failed] == [2]
    assert isinstance(report.failed[0].error, AssociationAborted | DimseFailure)
    assert report.stored == 5
    assert aborting_peer.stored == [
        str(ds.SOPInstanceUID) for i, ds in enumerate(datasets) if i != 2
    ]
    assert len(report.associations) == 2 == aborting_peer.associations
    assert [use.files for use in report.associations] == [3, 3]


def test_a_peer_that_aborts_every_time_stops_the_run(aborting_peer: AbortingPeer) -> None:
    aborting_peer.abort_all = True
    client = Client(Peer("127.0.0.1", aborting_peer.port, "ABORTER"), timeouts=THIRD_PARTY)
    seen: list[StoreResult] = []
    with pytest.raises(AssociationAborted, match="in a row"):
        client.store_many(
            (ct_dataset(seed=n) for n in range(20)),
            sop_classes=[CT_IMAGE_STORAGE],
            progress=seen.append,
        )
    assert len(seen) == MAX_LOST_IN_A_ROW == aborting_peer.associations
    assert not any(result.stored for result in seen)


def test_bad_arguments(pacs: EmbeddedPacs) -> None:
    client = client_for(pacs, None, timeouts=THIRD_PARTY)
    with pytest.raises(ValueError, match="workers"):
        client.store_many([], workers=0)
    with pytest.raises(ValueError, match="sop_classes"):
        client.store_many([], sop_classes=[])


def _race_association(message_id: int) -> tuple[Association, C_STORE]:
    """A requestor association with the SDK's reactor-race fix, and a C-STORE response to
    message ``message_id`` for its reactor to serve."""
    assoc = Association(AE(ae_title="RACE"), "requestor")
    return_stolen_responses(assoc)
    response = C_STORE()
    response.MessageIDBeingRespondedTo = message_id
    response.AffectedSOPClassUID = CT_IMAGE_STORAGE
    response.AffectedSOPInstanceUID = "1.2.3"
    response.Status = 0x0000
    return assoc, response


def test_a_response_taken_by_the_reactor_goes_back_to_the_caller() -> None:
    """pynetdicom's reactor can take a DIMSE response meant for send_c_store() (a race in its
    pause handshake; client_sdk/_pynetdicom/reactor_race.py): it must land back on the DIMSE
    queue."""
    assoc, response = _race_association(1)
    assoc._reactor_checkpoint.clear()  # a send_*() is waiting for its response
    assoc._serve_request(response, 1)
    assert assoc.dimse.get_msg(block=False) == (1, response)


def test_a_wake_taken_by_the_reactor_goes_back_to_the_caller() -> None:
    """The same race loses the wake (None, None) pynetdicom queues when the peer aborts or the
    connection closes: the reactor's read must leave it for the send_*() waiting (else that
    waits out the DIMSE timeout against a dead peer). With no send_*() waiting it is taken."""
    assoc, _ = _race_association(1)
    assoc._reactor_checkpoint.clear()  # a send_*() is waiting for its response
    assoc.dimse.msg_queue.put((None, None))  # AA-4: the connection closed
    assert assoc.dimse.get_msg(block=False) == (None, None)  # the reactor's extra loop
    assert assoc.dimse.msg_queue.qsize() == 1  # still there for the waiting send_*()
    assoc._reactor_checkpoint.set()  # nobody waits
    assert assoc.dimse.get_msg(block=False) == (None, None)
    assert assoc.dimse.msg_queue.qsize() == 0


def test_a_wait_begun_after_the_connection_ended_ends_at_once() -> None:
    """The connection ended (the state machine is idle, Sta1) before the send_*() began to wait,
    and the wake pynetdicom queued then was taken by the reactor, with nobody waiting yet: the
    wait ends within a slice instead of running to the DIMSE timeout."""
    assoc, _ = _race_association(1)
    assoc.dimse_timeout = 30
    assoc._reactor_checkpoint.clear()
    started = time.monotonic()
    assert assoc.dimse.get_msg(block=True) == (None, None)
    assert time.monotonic() - started < 5  # not the 30 s DIMSE timeout


def test_an_unsolicited_response_is_not_kept_for_a_later_request() -> None:
    """With no send_*() waiting, a response the peer sent unasked is dropped as pynetdicom does,
    never queued where the next request would take it as its own answer."""
    assoc, response = _race_association(7)
    assoc._serve_request(response, 1)
    assert assoc.dimse.get_msg(block=False) == (None, None)
