"""Bulk C-STORE: many files or datasets over a small pool of authenticated associations.

``store_many`` opens at most ``workers`` associations (one identity exchange each, so one
keyring read, one JWT check, one Kerberos token per association, never per file) and feeds them
from one shared iterator: inputs are taken one at a time, when a worker is free, so a generator
of a million paths is never turned into a list and at most ``workers`` datasets are in memory.

What happens when something fails (decided here, documented in ``store_many``):

* a file that cannot be read, that the peer has no accepted presentation context for, or that
  the peer answers with a failure status (0x0124 not authorized included): that file's result
  carries the error; the association goes on with the next file;
* the association is lost while a file is in flight (the peer aborts, the connection drops, no
  response within the DIMSE timeout): that file's result carries the error (it is not resent:
  the peer may have stored it) and the worker opens a new association, with a new identity
  exchange, for its next file. After ``MAX_LOST_IN_A_ROW`` losses without a stored file in
  between, the whole run stops: the peer is refusing this data;
* opening an association fails (authentication rejected, a credential error, the peer
  unreachable or rejecting the association, a policy that stops on a missing response): the
  whole run stops and that error is raised. Never retried: a retry with the same credential only
  locks accounts.
* Ctrl-C (KeyboardInterrupt): no new input is taken; the files in flight get their response
  (each within the DIMSE timeout), the associations are released, and the KeyboardInterrupt is
  raised. A second Ctrl-C aborts the associations at once: the files in flight then fail (the
  peer may have stored them).

Every input taken gets exactly one result: ``stored``, ``failed`` (with the error), or
``not-sent`` (taken, then the run stopped before it went out). Inputs never taken stay in the
caller's iterator. Files are read and checked (``dicom_file_check``) before an association is
needed, so a folder of broken files opens none.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from pydicom import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pynetdicom import DEFAULT_TRANSFER_SYNTAXES, StoragePresentationContexts

from client_sdk._errors import AssociationAborted, DimseFailure
from client_sdk._operations.bulk_results import (
    AssociationUse,
    StoreManyReport,
    StoreProgress,
    StoreResult,
    finished_run,
)
from client_sdk._operations.ctrl_c import ctrl_c_held, take_first_inputs, wait_through_ctrl_c
from client_sdk._operations.dicom_file_check import StoreInput, input_path, load_encoded
from client_sdk._operations.session import Session
from client_sdk._pynetdicom.encoded_store import EncodedDataset, send_encoded_c_store
from client_sdk._pynetdicom.fault_hooks import wake_dimse_wait
from providers._errors import IdentityError

# Its 0.4 name: logging configurations may name it.
log = logging.getLogger("client_sdk.bulk")

# The storage SOP classes pynetdicom knows (about 120): proposed when the caller names none, since
# lazy input cannot be scanned first. Each with pynetdicom's uncompressed transfer syntaxes.
DEFAULT_STORAGE_CLASSES: tuple[str, ...] = tuple(
    str(cx.abstract_syntax) for cx in StoragePresentationContexts
)
MAX_LOST_IN_A_ROW = 3


class Associates(Protocol):
    """What ``store_many`` needs of a client: where it associates, and an association."""

    @property
    def peer(self) -> object: ...

    def associate(
        self, *, sop_classes: Iterable[str] | None = ..., transfer_syntaxes: Iterable[str] = ...
    ) -> Session: ...


def store_many(
    client: Associates,
    items: Iterable[StoreInput],
    *,
    workers: int = 1,
    progress: StoreProgress | None = None,
    sop_classes: Iterable[str] | None = None,
    transfer_syntaxes: Iterable[str] = (),
) -> StoreManyReport:
    """C-STORE every dataset or file of ``items`` over up to ``workers`` associations.

    See :meth:`client_sdk.Client.store_many` and this module's docstring for what happens on
    failures.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number of 1 or more: {workers!r}")
    classes = DEFAULT_STORAGE_CLASSES if sop_classes is None else tuple(sop_classes)
    if not classes:
        raise ValueError("sop_classes is empty: propose at least the storage class of the inputs")
    run = _Run(client, iter(items), progress, classes, tuple(transfer_syntaxes))
    return run.go(workers)


class _Run:
    """The shared state of one ``store_many`` call: the input, the results, the stop signal."""

    def __init__(
        self,
        client: Associates,
        items: Iterator[StoreInput],
        progress: StoreProgress | None,
        sop_classes: tuple[str, ...],
        transfer_syntaxes: tuple[str, ...],
    ) -> None:
        self.client = client
        self.items = items
        self.progress = progress
        self.sop_classes = sop_classes
        self.transfer_syntaxes = transfer_syntaxes
        self.stop = threading.Event()
        self._input_lock = threading.Lock()  # a generator must not be resumed by two threads
        self._result_lock = threading.Lock()  # results, associations, progress: one at a time
        self._taken = 0
        self._results: list[StoreResult] = []
        self._associations: list[AssociationUse] = []
        self._errors: list[BaseException] = []
        self._open: set[Session] = set()  # associations in use, for a second Ctrl-C
        self._aborted: set[Session] = set()  # ... and those a second Ctrl-C aborted
        self._running = 0  # workers not finished
        self._finished = threading.Event()  # set when none is left

    def go(self, workers: int) -> StoreManyReport:
        # Each worker starts with an input in hand: no association is opened for nothing, and
        # with at least ``workers`` inputs, ``workers`` associations are.
        firsts, early = take_first_inputs(self._take, workers)
        if early is None:
            try:  # reads the first files' meta: a Ctrl-C may come while a disk is slow
                classes, syntaxes = _first_inputs(item for _, item in firsts)
            except KeyboardInterrupt as interrupt:
                early = interrupt
        if early is not None:  # none was sent: each is said so, and the Ctrl-C raised
            for index, item in firsts:
                self._record(StoreResult(index, input_path(item), None, None, not_sent=True))
            self._errors.insert(0, early)
            return finished_run(self._results, self._errors, self._associations)
        self.transfer_syntaxes += syntaxes
        # Their classes first: the exact-syntax contexts go to the first classes while they fit.
        self.sop_classes = (
            *(uid for uid in classes if uid in self.sop_classes),
            *(uid for uid in self.sop_classes if uid not in classes),
        )
        # Always in threads, one worker too: this thread only waits, so a Ctrl-C lands here and
        # never in the middle of a C-STORE, whose file would then have no honest result.
        threads = [
            threading.Thread(target=self._worker, args=(first,), name=f"store-{n}", daemon=True)
            for n, first in enumerate(firsts, 1)
        ]
        self._running = len(threads)
        if not threads:
            self._finished.set()
        with ctrl_c_held() as held:  # a thread half started would hold its input forever
            for thread in threads:
                thread.start()
        self._wait(threads, held[0] if held else None)
        return finished_run(self._results, self._errors, self._associations)

    def _wait(self, threads: list[threading.Thread], early: KeyboardInterrupt | None) -> None:
        """Wait for the workers. Ctrl-C: take no new input, let the files in flight finish,
        raise; a second Ctrl-C aborts the associations (their files in flight fail), still waits
        (``ctrl_c``; ``early``: a Ctrl-C while the threads started).

        The wait is on an Event, never on ``Thread.join``: in Python 3.11 a join interrupted
        by Ctrl-C marks the thread stopped while it still runs (its lock released by mistake),
        and every later join returns at once."""
        interrupt = wait_through_ctrl_c(
            self._finished, stop=self.stop.set, abort=self.abort_in_flight, early=early
        )
        if interrupt is not None:
            with self._result_lock:
                self._errors.insert(0, interrupt)
        for thread in threads:
            thread.join()  # each has finished its work: this returns at once

    def abort_in_flight(self) -> None:
        """Abort every association in use: the second Ctrl-C. Their files in flight fail."""
        with self._result_lock:
            sessions = list(self._open)
            self._aborted.update(sessions)
        for session in sessions:
            session.abort()
            # pynetdicom leaves a C-STORE waiting for its response until the DIMSE timeout
            # after an A-ABORT from another thread; wake it (as the peer-fault hooks do).
            wake_dimse_wait(session.association)

    def _take(self) -> tuple[int, StoreInput] | None:
        if self.stop.is_set():
            return None
        with self._input_lock:
            try:
                item = next(self.items)
            except StopIteration:
                return None
            index = self._taken
            self._taken += 1
            return index, item

    def _worker(self, first: tuple[int, StoreInput]) -> None:
        taken: tuple[int, StoreInput] | None = first
        session: Session | None = None
        files = 0
        last: int | None = None
        lost_in_a_row = 0
        try:
            while taken is not None:
                index, item = taken
                path = input_path(item)
                if self.stop.is_set():
                    self._record(StoreResult(index, path, None, None, not_sent=True))
                    break
                try:
                    # Read and checked before any association; a file's data set as checked.
                    dataset, encoded = load_encoded(item)
                except DimseFailure as error:
                    self._record(StoreResult(index, path, None, None, error))
                    taken = self._take()
                    continue
                uid = str(dataset.get("SOPInstanceUID", "")) or None
                if self.stop.is_set():  # while it was read
                    self._record(StoreResult(index, path, uid, None, not_sent=True))
                    break
                if session is not None and not session.is_open:
                    # Closed between two files (the peer's idle timeout, an abort): nothing of
                    # this file was sent yet, so it goes over a new association.
                    self._ended(session, files, last)
                    session = None
                if session is None:
                    try:
                        session = self._associate()
                    except BaseException as error:
                        why = error if isinstance(error, IdentityError) else None
                        self._record(StoreResult(index, path, uid, None, why, not_sent=True))
                        raise
                    files, last = 0, None
                    if self.stop.is_set():  # while it opened: nothing of this file went out
                        self._record(StoreResult(index, path, uid, None, not_sent=True))
                        break
                result, lost = _store_one(session, index, path, uid, dataset, encoded)
                if not result.stored and session in self._aborted:
                    result = _interrupted(result, session.peer)
                files += 1
                last = result.status if result.status is not None else last
                self._record(result)
                if not lost:
                    lost_in_a_row = 0 if result.stored else lost_in_a_row
                else:
                    # Sent, and no response: whatever the state, this association is done.
                    lost_in_a_row += 1
                    session.abort()
                    self._ended(session, files, last)
                    session = None
                    if lost_in_a_row >= MAX_LOST_IN_A_ROW:
                        raise AssociationAborted(
                            f"{self.client.peer}: {lost_in_a_row} associations in a row were "
                            f"lost while storing (last: {result.name}: {result.error}). "
                            "Check the peer's log; the remaining inputs were not sent"
                        )
                    log.info("association to %s lost; opening a new one", self.client.peer)
                taken = self._take()
            if session is not None:
                session.release()
        except BaseException as error:
            self.stop.set()
            if session is not None:
                session.abort()
            with self._result_lock:
                self._errors.append(error)
        finally:
            if session is not None:
                self._ended(session, files, last)
            with self._result_lock:
                self._running -= 1
                if not self._running:
                    self._finished.set()

    def _associate(self) -> Session:
        session = self.client.associate(
            sop_classes=self.sop_classes, transfer_syntaxes=self.transfer_syntaxes
        )
        with self._result_lock:
            self._open.add(session)
        return session

    def _record(self, result: StoreResult) -> None:
        with self._result_lock:
            self._results.append(result)
            if self.progress is not None:
                self.progress(result)  # an exception here stops the run, like any other

    def _ended(self, session: Session, files: int, last: int | None) -> None:
        with self._result_lock:
            self._open.discard(session)
            self._associations.append(AssociationUse(session.outcome, files, last))


def _first_inputs(items: Iterable[StoreInput]) -> tuple[list[str], tuple[str, ...]]:
    """The SOP classes and uncompressed transfer syntaxes of these inputs, from their file meta.
    The syntaxes are proposed in contexts of their own, for those classes first, so that inputs
    like these are sent without being re-encoded (lazy input is not scanned: the first inputs
    stand for the rest). Compressed syntaxes are not added: with the default storage classes
    they would not fit in 128 contexts; the caller names those."""
    classes: dict[str, None] = {}
    syntaxes: dict[str, None] = {}
    for item in items:
        if isinstance(item, Dataset):
            meta: Dataset | None = getattr(item, "file_meta", None)
            sop_class = str(item.get("SOPClassUID", "") or "")
        else:
            try:
                meta = read_file_meta_info(item)
            except (OSError, InvalidDicomError, ValueError, KeyError, EOFError):
                continue  # its own error is reported when it is stored
            sop_class = str(meta.get("MediaStorageSOPClassUID", "") or "")
        syntax = "" if meta is None else str(meta.get("TransferSyntaxUID", "") or "")
        if sop_class:
            classes[sop_class] = None
        if syntax in DEFAULT_TRANSFER_SYNTAXES:
            syntaxes[syntax] = None
    return list(classes), tuple(syntaxes)


def _store_one(
    session: Session,
    index: int,
    path: Path | None,
    uid: str | None,
    dataset: Dataset,
    encoded: EncodedDataset | None = None,
) -> tuple[StoreResult, bool]:
    """C-STORE one checked dataset; every failure becomes its result. Also says whether the
    association was lost (the request went out and no response came back). A file whose own
    transfer syntax this association accepted goes as it was read (``encoded``), not re-encoded."""
    sent = False
    try:
        try:
            rsp = None
            if encoded is not None:
                rsp = send_encoded_c_store(session.association, encoded)
            if rsp is None:
                rsp = session.association.send_c_store(dataset)
        except (ValueError, AttributeError) as exc:
            # Raised before anything is sent: no accepted context fits the dataset (ValueError),
            # or it lacks its SOP class, instance or transfer syntax (AttributeError).
            hint = (
                ". Propose this SOP class (sop_classes=[...]) or its transfer syntax "
                "(transfer_syntaxes=[...])"
                if isinstance(exc, ValueError)
                else ""
            )
            raise DimseFailure(
                f"cannot store {path or uid or f'input #{index}'} at {session.peer}: {exc}{hint}",
                status=None,
            ) from None
        sent = True
        # The Session's own status check: the same errors and messages as Session.store.
        status = session.check_status("C-STORE", rsp)
    except (DimseFailure, AssociationAborted) as error:
        answered = error.status if isinstance(error, DimseFailure) else None
        return StoreResult(index, path, uid, answered, error), sent and answered is None
    return StoreResult(index, path, uid, status), False


def _interrupted(result: StoreResult, peer: str) -> StoreResult:
    """The result of a file in flight when a second Ctrl-C aborted its association: say so,
    rather than what pynetdicom made of the missing response."""
    error = AssociationAborted(
        f"{result.name}: interrupted (Ctrl-C twice) while in flight; the association to {peer} "
        "was aborted. Whether the C-STORE took effect there is unknown: check before sending it "
        "again"
    )
    return dataclasses.replace(result, status=None, error=error)
