"""Bulk C-STORE over several worker processes: ``store_many(..., processes=N)``.

One process sends at most one core's worth of files (pynetdicom encodes and sends under the
interpreter lock), so threads stop scaling at one core. Here ``processes`` worker processes
(multiprocessing's ``spawn`` context: a fresh interpreter, no lock copied from a thread of
this one) each run ``workers`` associations, exactly as the thread mode does
(``process_worker``). This process keeps every part a caller sees:

* the input: it alone resumes the caller's iterator, one input per request of a worker (each
  asks one ahead), so a generator is never turned into a list and at most
  ``processes * (2 * workers + 1)`` inputs are out of it at once;
* the results: each comes back as soon as it is done; ``progress`` is called here, from one
  thread, one result at a time; the report holds every input taken in input order, and an input
  handed to a worker that it never took is ``not-sent``;
* the audit trail: a worker's event is recorded by this process's sink (the worker waits for
  it: a required audit trail fails closed there as with threads), so every sink works
  unchanged and the events are the thread mode's (``process_id`` is the worker's, which opened
  the association);
* failures: the first error that stops a worker (authentication rejected, a credential error,
  the peer unreachable) stops the run: the other workers finish the file in flight and release,
  and the error is raised here, rebuilt with its fields (``portable_errors``);
* Ctrl-C (``ctrl_c``, as with threads): relayed to the workers with its number over the pipe
  (the first lets the files in flight finish, the second aborts them), and as SIGUSR1, which
  stops a worker still building its client. The number travels on the pipe because two
  signals sent before a worker runs its handler arrive as one: a second Ctrl-C would then be
  lost in a busy worker. A Ctrl-C while the workers start is held until they are started.
* A worker that dies (killed, out of memory) fails the inputs it held (whether they were
  stored is unknown) and stops the run.

A worker builds its own provider from a :class:`~providers.ProviderRecipe` (no secret crosses;
the secret is fetched in the worker). A provider that cannot be rebuilt is refused with
:class:`~providers.ProviderNotRebuildable` before any input is taken.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from client_sdk._audit.sinks import AuditSink, check_audit_sink
from client_sdk._client_settings import ClientSettings
from client_sdk._errors import AssociationAborted, AuditUnavailable, ConfigError
from client_sdk._operations.bulk import DEFAULT_STORAGE_CLASSES
from client_sdk._operations.bulk_results import (
    AssociationUse,
    StoreManyReport,
    StoreProgress,
    StoreResult,
    finished_run,
)
from client_sdk._operations.ctrl_c import ctrl_c_held, take_first_inputs, wait_through_ctrl_c
from client_sdk._operations.dicom_file_check import StoreInput, input_path
from client_sdk._operations.portable_errors import PortableError
from client_sdk._operations.process_worker import RELAYED_INTERRUPT, worker_main
from client_sdk._operations.worker_recipe import WorkerRecipe
from providers._errors import IdentityError

log = logging.getLogger("client_sdk.bulk")

START_TIMEOUT = 120.0  # seconds for a worker process to import and build its client


def store_many_in_processes(
    settings: ClientSettings,
    items: Iterable[StoreInput],
    *,
    processes: int,
    workers: int = 1,
    progress: StoreProgress | None = None,
    sop_classes: Iterable[str] | None = None,
    transfer_syntaxes: Iterable[str] = (),
) -> StoreManyReport:
    """``store_many`` over ``processes`` worker processes of ``workers`` associations each.
    See the module docstring; raises before any input is taken when the provider cannot be
    rebuilt in a worker."""
    if not hasattr(signal, "SIGUSR1") or not hasattr(signal, "pthread_sigmask"):
        raise ConfigError(
            "processes > 1 needs a POSIX system (the workers take Ctrl-C from the parent as "
            "SIGUSR1); store with threads (workers=N) here"
        )
    for name, value in (("processes", processes), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number of 1 or more: {value!r}")
    classes = DEFAULT_STORAGE_CLASSES if sop_classes is None else tuple(sop_classes)
    if not classes:
        raise ValueError("sop_classes is empty: propose at least the storage class of the inputs")
    recipe = WorkerRecipe.of(
        settings, workers=workers, sop_classes=classes, transfer_syntaxes=tuple(transfer_syntaxes)
    )
    return _Pool(settings.audit, recipe, iter(items), progress).go(processes)


@dataclasses.dataclass(eq=False)
class _Worker:
    """One worker process as this process sees it."""

    number: int
    process: BaseProcess
    conn: Connection
    started: float
    first: tuple[int, StoreInput] | None  # handed over at its first request
    held: dict[int, StoreInput] = dataclasses.field(default_factory=dict)  # no result yet
    ready: bool = False
    interrupts: int = 0  # the Ctrl-Cs relayed to it
    send_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    done: bool = False  # it reported its end
    finished: bool = False  # it exited, and its inputs are accounted for
    closed: bool = False  # its end of the pipe is closed


class _Pool:
    def __init__(
        self,
        sink: AuditSink | None,
        recipe: WorkerRecipe,
        items: Iterator[StoreInput],
        progress: StoreProgress | None,
    ) -> None:
        self.sink = sink
        self.recipe = recipe
        self.items = items
        self.progress = progress
        self.stop = threading.Event()
        self._taken = 0
        self._workers: list[_Worker] = []
        self._results: list[StoreResult] = []
        self._associations: list[AssociationUse] = []
        self._errors: list[BaseException] = []
        self._stopped_workers = False
        self._finished = threading.Event()
        self._listed = threading.Event()  # every worker is started: the reader may begin

    def go(self, processes: int) -> StoreManyReport:
        context = multiprocessing.get_context("spawn")
        reader = threading.Thread(target=self._read, name="store-processes", daemon=True)
        try:
            reader.start()  # first: a Ctrl-C here leaves nothing taken or started
            firsts, early = take_first_inputs(self._take, processes)
            if early is not None:
                self.stop.set()
                for index, item in firsts:
                    self._record(StoreResult(index, input_path(item), None, None, not_sent=True))
            else:
                early = self._start_all(context, firsts)
        except BaseException:
            self._workers.clear()  # none started, or killed: the error is raised
            raise
        finally:
            self._listed.set()  # the reader waits for it on every path
        self._wait(early)
        reader.join()
        return finished_run(self._results, self._errors, self._associations)

    def _start_all(
        self, context: Any, firsts: list[tuple[int, StoreInput]]
    ) -> KeyboardInterrupt | None:
        """A worker process per first input. A Ctrl-C that cut a start in two would leave a
        half-started process (its traceback on the terminal) and an input with no result: it
        is held until all are started, and returned then."""
        with ctrl_c_held() as held:
            # A worker starts with SIGUSR1 blocked and unblocks it once its handler is set: a
            # relayed Ctrl-C that comes early waits for it instead of killing it.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {RELAYED_INTERRUPT})
            try:
                for number, first in enumerate(firsts, 1):
                    self._start(context, number, first)
            except BaseException:
                for worker in self._workers:
                    if worker.process.pid is not None:
                        worker.process.kill()  # nothing was handed to it yet
                        worker.process.join()
                raise
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if held:
            self.stop.set()
            return held[0]
        return None

    def _start(self, context: Any, number: int, first: tuple[int, StoreInput]) -> None:
        mine, theirs = context.Pipe()
        process = context.Process(
            target=worker_main,
            args=(self.recipe, theirs, repr(self.sink)),
            name=f"store-process-{number}",
            daemon=True,
        )
        self._workers.append(_Worker(number, process, mine, time.monotonic(), first))
        try:
            process.start()
        finally:
            theirs.close()

    def _wait(self, early: KeyboardInterrupt | None) -> None:
        """Wait for the workers; each Ctrl-C is relayed to them with its number (``ctrl_c``)."""

        def stop() -> None:
            self.stop.set()
            self._relay_interrupt(1)

        interrupt = wait_through_ctrl_c(
            self._finished, stop=stop, abort=lambda: self._relay_interrupt(2), early=early
        )
        if interrupt is not None:
            self._errors.insert(0, interrupt)

    def _relay_interrupt(self, number: int) -> None:
        for worker in self._workers:
            if worker.finished or worker.interrupts >= number:
                continue
            self._send(worker, ("interrupt", number))
            pid = worker.process.pid
            if number == 1 and pid is not None and worker.process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, RELAYED_INTERRUPT)  # stops a worker still starting
            worker.interrupts = number
            log.debug("Ctrl-C %d relayed to the worker process %d", number, worker.number)

    def _take(self) -> tuple[int, StoreInput] | None:
        if self.stop.is_set():
            return None
        try:
            item = next(self.items)
        except StopIteration:
            return None
        index = self._taken
        self._taken += 1
        return index, item

    # The reader thread: every message of every worker, in the order they come ----------------

    def _read(self) -> None:
        try:
            self._listed.wait()  # every worker is started (set by go() on every path)
            while live := [worker for worker in self._workers if not worker.finished]:
                ends: dict[Any, _Worker] = {w.process.sentinel: w for w in live}
                ends.update({w.conn: w for w in live if not w.closed})
                starting = any(not worker.ready for worker in live)
                for ready in wait(list(ends), timeout=1.0 if starting else None):
                    worker = ends[ready]
                    if ready is worker.conn:
                        self._receive(worker)
                    else:
                        self._exited(worker)
                self._check_start(live)
        finally:
            self._finished.set()

    def _receive(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            worker.closed = True
            return
        try:
            self._handle(worker, message)
        except BaseException as error:
            self._fail(error)

    def _handle(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "want":
            taken: tuple[int, StoreInput] | None = None
            if worker.first is not None and not self.stop.is_set():
                taken, worker.first = worker.first, None
            else:
                taken = self._take_safely()
            if taken is None:
                self._send(worker, ("end",))
            else:
                worker.held[taken[0]] = taken[1]
                self._send(worker, ("item", *taken))
        elif kind == "result":
            result: StoreResult = message[1]
            error = None if message[2] is None else message[2].restore()
            worker.held.pop(result.index, None)
            self._record(dataclasses.replace(result, error=error))
        elif kind in ("audit", "audit-check"):
            self._send(worker, ("audit-answer", self._audit(message)))
        elif kind == "log":
            record: logging.LogRecord = message[1]
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)
        elif kind == "ready":
            worker.ready = True
        elif kind == "done":
            worker.done = True
            self._associations.extend(message[1] or ())
            if message[2] is not None:
                error = message[2].restore()
                if isinstance(error, AuditUnavailable):
                    error.sink = self.sink  # the worker's stand-in for it stayed behind
                if not isinstance(error, KeyboardInterrupt):  # this process's own is raised
                    self._fail(error)

    def _take_safely(self) -> tuple[int, StoreInput] | None:
        try:
            return self._take()
        except BaseException as error:
            self._fail(error)
            return None

    def _audit(self, message: tuple[Any, ...]) -> PortableError | None:
        sink = self.sink
        try:
            if sink is not None and message[0] == "audit":
                sink.record(message[1])
            elif sink is not None:
                check_audit_sink(sink)
        except Exception as exc:
            return PortableError.of(exc)
        return None

    def _record(self, result: StoreResult) -> None:
        self._results.append(result)
        if self.progress is not None:
            try:
                self.progress(result)  # an exception here stops the run, like any other
            except BaseException as error:
                self._fail(error)

    def _fail(self, error: BaseException) -> None:
        """The first error stops the run: no new input; every worker is told to stop."""
        self._errors.append(error)
        self.stop.set()
        if not self._stopped_workers:
            self._stopped_workers = True
            for worker in self._workers:
                if not worker.closed:
                    self._send(worker, ("stop",))

    def _send(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        # Under its lock: the reader thread answers the worker while Ctrl-C is relayed from the
        # main thread, and two writers on one pipe would mix their bytes.
        with worker.send_lock:
            try:
                worker.conn.send(message)
            except OSError:  # it is gone; its exit is handled when its sentinel fires
                worker.closed = True

    def _exited(self, worker: _Worker) -> None:
        """The process ended: read what it sent last, account for the inputs it still held."""
        while not worker.closed and worker.conn.poll():
            self._receive(worker)
        worker.process.join()
        with worker.send_lock:
            worker.conn.close()
            worker.closed = worker.finished = True
        crashed = not worker.done
        why: IdentityError | None = None
        if crashed:
            why = AssociationAborted(
                f"the worker process {worker.number} of store_many (pid {worker.process.pid}) "
                f"exited with code {worker.process.exitcode} before it reported its end (killed, "
                "out of memory, or an error it wrote to stderr); whether the inputs it held were "
                "stored is unknown"
            )
            if worker.held or not self.stop.is_set():
                self._fail(why)
        if worker.first is not None:  # taken for it, never asked for
            index, item = worker.first
            worker.first = None
            self._record(StoreResult(index, input_path(item), None, None, not_sent=True))
        for index, item in sorted(worker.held.items(), key=lambda held: held[0]):
            if crashed:  # it may have been sent: say that it is unknown
                self._record(StoreResult(index, input_path(item), None, None, why))
            else:  # handed ahead, never taken by the worker
                self._record(StoreResult(index, input_path(item), None, None, not_sent=True))
        worker.held.clear()

    def _check_start(self, live: list[_Worker]) -> None:
        now = time.monotonic()
        for worker in live:
            if not worker.ready and now - worker.started > START_TIMEOUT:
                worker.ready = True  # reported once
                self._fail(
                    AssociationAborted(
                        f"the worker process {worker.number} of store_many did not start within "
                        f"{START_TIMEOUT:g} s; its inputs were not sent. Check the machine's "
                        "load and memory"
                    )
                )
                worker.process.terminate()
