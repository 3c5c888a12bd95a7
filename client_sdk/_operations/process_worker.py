"""One worker process of ``store_many(processes=N)``: ``workers`` associations, as with threads.

The worker builds its client from a :class:`WorkerRecipe` (its own provider: the secret is
fetched here) and runs the thread mode's ``_Run`` of ``bulk`` over inputs it asks the parent
for, one at a time (the parent resumes the caller's iterator; one input is asked ahead per
process so the association never waits for the pipe). Everything goes back over one pipe:

* ``("ready",)`` once the client is built, then ``("want",)`` for each input;
* ``("result", StoreResult, PortableError | None)`` for each input taken, with the parent's index;
* ``("audit", event)`` and ``("audit-check",)``: the audit events are recorded by the parent's
  sink, and the worker waits for the answer, so that a required audit trail fails closed here
  exactly as with threads (:class:`_ParentAuditSink`);
* ``("log", record)``: every log record, handled by the parent's loggers;
* ``("done", associations | None, PortableError | None)`` at the end.

The parent sends ``("item", index, input)`` or ``("end",)`` per ``want``, ``("audit-answer",
message | None)``, ``("stop",)`` when the run stops, and ``("interrupt", n)`` for its n-th
Ctrl-C: the first stops the input and lets the files in flight finish, the second aborts them
(the thread mode's first and second Ctrl-C). The terminal's SIGINT is ignored here, so that one
Ctrl-C counts once. While this process starts (its imports, its client), the parent's SIGUSR1
stops it; once the run starts, SIGUSR1 is ignored and only the numbered message counts: two
signals sent before this process ran its handler would arrive as one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import logging.handlers
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from client_sdk._association.flow import open_session
from client_sdk._audit.event import AuditEvent
from client_sdk._audit.sinks import AuditWriteError
from client_sdk._client_settings import ClientSettings
from client_sdk._operations.bulk import _Run
from client_sdk._operations.bulk_results import StoreResult
from client_sdk._operations.dicom_file_check import StoreInput
from client_sdk._operations.portable_errors import PortableError
from client_sdk._operations.session import Session
from client_sdk._operations.worker_recipe import WorkerRecipe

AUDIT_ANSWER_TIMEOUT = 60.0  # seconds the parent may take to record one audit event
_END = object()
# (POSIX only: store_many_in_processes refuses to start where there is none.)
RELAYED_INTERRUPT: signal.Signals = getattr(signal, "SIGUSR1", signal.SIGINT)


class _Channel:
    """The worker's end of the pipe: sends under a lock; a thread reads and dispatches."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._send_lock = threading.Lock()
        self._audit_lock = threading.Lock()  # one audit question at a time
        self.items: queue.Queue[Any] = queue.Queue()
        self._answers: queue.Queue[PortableError | None] = queue.Queue()
        self.run: _Run | None = None
        self.stopped = threading.Event()
        self._interrupts = 0  # the parent's Ctrl-Cs so far
        self._aborted = False  # the second one was applied
        self._run_lock = threading.Lock()  # the run, and the interrupts that apply to it
        threading.Thread(target=self._read, name="store-worker-pipe", daemon=True).start()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self.conn.send(message)

    def ask_audit(self, message: tuple[Any, ...]) -> None:
        """Send an audit question and raise what the parent's sink raised."""
        with self._audit_lock:
            self.send(message)
            try:
                answer = self._answers.get(timeout=AUDIT_ANSWER_TIMEOUT)
            except queue.Empty:
                raise AuditWriteError(
                    f"the parent process did not record the audit event within "
                    f"{AUDIT_ANSWER_TIMEOUT:g} s"
                ) from None
        if answer is not None:
            raise answer.restore()

    def _read(self) -> None:
        try:
            while True:
                message = self.conn.recv()
                kind = message[0]
                if kind == "item":
                    self.items.put((message[1], message[2]))
                elif kind == "end":
                    self.items.put(_END)
                elif kind == "audit-answer":
                    self._answers.put(message[1])
                elif kind == "stop":
                    self._stop()
                elif kind == "interrupt":
                    with self._run_lock:
                        self._interrupts = max(self._interrupts, message[1])
                        self._apply_interrupts()
        except (EOFError, OSError):  # the parent is gone: stop, and answer what waits
            self._stop()
            self._answers.put(PortableError.of(AuditWriteError("the parent process is gone")))

    def start(self, run: _Run) -> None:
        """The run takes its inputs now: what was said before applies to it."""
        with self._run_lock:
            self.run = run
            if self.stopped.is_set():
                run.stop.set()
            self._apply_interrupts()

    def _apply_interrupts(self) -> None:
        if self._interrupts >= 1:
            self._stop()
        if self._interrupts >= 2 and self.run is not None and not self._aborted:
            self._aborted = True
            # In a thread of its own: this one must go on reading (an abort's audit event
            # waits for the parent's answer, which comes through here).
            threading.Thread(
                target=self.run.abort_in_flight, name="store-worker-abort", daemon=True
            ).start()

    def _stop(self) -> None:
        self.stopped.set()
        self.items.put(_END)
        if self.run is not None:
            self.run.stop.set()


class _ParentAuditSink:
    """Hands each event to the parent's sink and waits for it to be recorded; raises what the
    parent's sink raised. Shows as the parent's sink in the association flow's log lines."""

    def __init__(self, channel: _Channel, shown_as: str) -> None:
        self._channel = channel
        self._shown_as = shown_as

    def record(self, event: AuditEvent) -> None:
        self._channel.ask_audit(("audit", event))

    def check(self) -> None:
        self._channel.ask_audit(("audit-check",))

    def __repr__(self) -> str:
        return self._shown_as


class _Associator:
    """What ``_Run`` needs of a client: the peer, and an association from these settings."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.peer = settings.peer

    def associate(
        self, *, sop_classes: Iterable[str] | None = None, transfer_syntaxes: Iterable[str] = ()
    ) -> Session:
        return open_session(self.settings, sop_classes, transfer_syntaxes)


class _Inputs:
    """The inputs the parent hands this process, asked for ``ahead`` in advance; remembers the
    parent's index of each, in the order ``_Run`` takes them."""

    def __init__(self, channel: _Channel, ahead: int) -> None:
        self.channel = channel
        self.ahead = ahead
        self.indices: list[int] = []

    def __iter__(self) -> Iterator[StoreInput]:
        for _ in range(self.ahead):
            self.channel.send(("want",))
        while not self.channel.stopped.is_set():
            got = self.channel.items.get()
            if got is _END or self.channel.stopped.is_set():
                return
            index, item = got
            self.indices.append(index)
            self.channel.send(("want",))
            yield item


class _ToParent(logging.handlers.QueueHandler):
    """Log records go to the parent, formatted here (``QueueHandler.prepare``)."""

    def __init__(self, channel: _Channel) -> None:
        super().__init__(queue.SimpleQueue())
        self.channel = channel

    def enqueue(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.channel.send(("log", record))


def _forward_logs(channel: _Channel, levels: tuple[tuple[str, int], ...]) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_ToParent(channel))
    for name, level in levels:
        logging.getLogger(name).setLevel(level)


def _stop_the_start(signum: int, frame: object) -> None:
    # Once: a second relayed Ctrl-C must not cut short the report of the first.
    signal.signal(RELAYED_INTERRUPT, signal.SIG_IGN)
    raise KeyboardInterrupt


def worker_main(recipe: WorkerRecipe, conn: Connection, sink_repr: str) -> None:
    """The process's target (``spawn``): build the client, store, report back, exit."""
    # The terminal's Ctrl-C is the parent's to relay. Started with SIGUSR1 blocked by the
    # parent: a relay that came early is raised at the unblock, inside the try, and stops the
    # build of the client.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(RELAYED_INTERRUPT, _stop_the_start)
    channel = _Channel(conn)
    _forward_logs(channel, recipe.log_levels)
    inputs = _Inputs(channel, recipe.workers + 1)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {RELAYED_INTERRUPT})
        settings = recipe.settings(_ParentAuditSink(channel, sink_repr))

        def progress(result: StoreResult) -> None:
            error = None if result.error is None else PortableError.of(result.error)
            mine = dataclasses.replace(result, index=inputs.indices[result.index], error=None)
            channel.send(("result", mine, error))

        run = _Run(
            _Associator(settings),
            iter(inputs),
            progress,
            recipe.sop_classes,
            recipe.transfer_syntaxes,
        )
        # From here Ctrl-C comes only as ("interrupt", n): two signals may arrive as one.
        signal.signal(RELAYED_INTERRUPT, signal.SIG_IGN)
        channel.start(run)
        channel.send(("ready",))
        report = run.go(recipe.workers)
    except BaseException as error:
        notes = getattr(error, "__notes__", None)
        if notes:  # the parent counts the whole run; this process's count would mislead
            error.__notes__ = [n for n in notes if not n.startswith("store_many stopped:")]
        with contextlib.suppress(OSError, EOFError):
            channel.send(("done", None, PortableError.of(error)))
    else:
        with contextlib.suppress(OSError, EOFError):
            channel.send(("done", report.associations, None))
    conn.close()
    # Everything is reported and released: skip the interpreter's teardown of pynetdicom,
    # pydicom and the rest (about a third of a second, which the parent would wait for).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
