"""Ctrl-C in ``store_many``, threads and processes alike (``client_sdk._operations.ctrl_c``): a
Ctrl-C that lands while the first inputs are taken or the workers start, or while an earlier one
is being acted on, is never lost and never leaves an input taken without its result."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from client_sdk import StoreResult
from client_sdk._operations.ctrl_c import ctrl_c_held, take_first_inputs, wait_through_ctrl_c
from client_sdk.testing import EmbeddedPacs, ct_dataset
from providers import IdentityExchange, PasswordProvider, Target
from tests.conftest import USERS
from tests.fixtures_pacs import client_for

BOUND = 30.0  # seconds: each wait of these tests ends far sooner


class InterruptedWaits(threading.Event):
    """An Event whose first ``count`` waits raise KeyboardInterrupt, as a Ctrl-C in the wait
    would (pure logic: when the Ctrl-C lands is what is under test, and a signal cannot be
    aimed at one line)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.set()  # once the Ctrl-Cs are spent, the run is over

    def wait(self, timeout: float | None = None) -> bool:
        if self.count:
            self.count -= 1
            raise KeyboardInterrupt
        return super().wait(timeout)


def test_first_ctrl_c_stops_and_warns_once_second_aborts(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    with caplog.at_level(logging.WARNING, "client_sdk.bulk"):
        got = wait_through_ctrl_c(
            InterruptedWaits(3),
            stop=lambda: calls.append("stop"),
            abort=lambda: calls.append("abort"),
        )
    assert isinstance(got, KeyboardInterrupt)
    assert calls == ["stop", "abort"]  # a third Ctrl-C changes nothing
    assert [r.getMessage()[:33] for r in caplog.records] == ["interrupted: no new input is sent"]


def test_a_ctrl_c_that_cuts_the_stop_short_is_counted_and_the_stop_redone() -> None:
    """The second Ctrl-C lands inside ``stop`` (the relay to the workers): the stop is done
    again, then the abort; neither Ctrl-C escapes."""
    calls: list[str] = []

    def stop() -> None:
        calls.append("stop")
        if calls.count("stop") == 1:
            raise KeyboardInterrupt  # the second Ctrl-C, mid-relay

    got = wait_through_ctrl_c(InterruptedWaits(1), stop=stop, abort=lambda: calls.append("abort"))
    assert isinstance(got, KeyboardInterrupt)
    assert calls == ["stop", "stop", "abort"]


def test_an_early_ctrl_c_stops_before_the_wait() -> None:
    early = KeyboardInterrupt()
    calls: list[str] = []
    finished = threading.Event()
    finished.set()
    stop, abort = (lambda: calls.append("stop")), (lambda: calls.append("abort"))
    got = wait_through_ctrl_c(finished, stop=stop, abort=abort, early=early)
    assert got is early and calls == ["stop"]


def test_no_ctrl_c_returns_none() -> None:
    finished = threading.Event()
    finished.set()
    assert wait_through_ctrl_c(finished, stop=pytest.fail, abort=pytest.fail) is None


def test_ctrl_c_held_keeps_a_real_sigint_for_after_the_block() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with ctrl_c_held() as held:
        signal.raise_signal(signal.SIGINT)  # handled at once, in this (main) thread
        assert len(held) == 1
    assert isinstance(held[0], KeyboardInterrupt)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)  # after the block: Python's own handler again


def test_ctrl_c_held_leaves_a_handler_of_the_callers_alone() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with ctrl_c_held() as held:
            signal.raise_signal(signal.SIGINT)
        assert (held, seen) == ([], [signal.SIGINT])
    finally:
        signal.signal(signal.SIGINT, previous)


def test_take_first_inputs_returns_what_was_taken_with_the_ctrl_c() -> None:
    def take() -> Iterator[int]:
        yield 1
        raise KeyboardInterrupt

    taken = take()
    got, interrupt = take_first_inputs(lambda: next(taken), 4)
    assert got == [1] and isinstance(interrupt, KeyboardInterrupt)
    counting = iter(range(10))
    assert take_first_inputs(lambda: next(counting, None), 3) == ([0, 1, 2], None)
    assert take_first_inputs(lambda: None, 3) == ([], None)


@pytest.mark.parametrize("mode", [{"workers": 2}, {"processes": 2}])
def test_ctrl_c_while_the_callers_iterator_reads_reports_the_taken_input_not_sent(
    pacs: EmbeddedPacs, tmp_path: Path, mode: dict[str, int]
) -> None:
    """The caller's iterator is interrupted (Ctrl-C while it reads a slow disk) after its first
    input: that input gets its not-sent result, nothing is sent, no worker is started, and the
    KeyboardInterrupt is raised, with the note of what was stored."""
    path = tmp_path / "ct.dcm"
    ct_dataset(patient_id="CTRLC", rows=8, columns=8).save_as(path, enforce_file_format=True)

    def inputs() -> Iterator[Path]:
        yield path
        raise KeyboardInterrupt

    results: list[StoreResult] = []
    client = client_for(pacs)
    with pytest.raises(KeyboardInterrupt) as raised:
        client.store_many(inputs(), progress=results.append, **mode)
    assert [(r.index, r.path, r.not_sent) for r in results] == [(0, path, True)]
    assert "0 of the 1 inputs taken were stored" in " ".join(raised.value.__notes__)
    assert pacs.datasets == [] and pacs.records == []  # no association was opened


class SlowCredential:
    """A real password provider behind a slow credential source (a KDC, a token endpoint):
    ``negotiate`` says it started, then waits to be let go."""

    def __init__(self) -> None:
        self.inner = PasswordProvider("alice", USERS["alice"])
        self.identity_type = self.inner.identity_type
        self.started = threading.Event()
        self.let_go = threading.Event()

    def negotiate(self, target: Target) -> IdentityExchange:
        self.started.set()
        assert self.let_go.wait(BOUND), "never let go"
        return self.inner.negotiate(target)


class WarningSeen(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("interrupted: no new input"):
            self.seen.set()


def test_ctrl_c_while_the_association_opens_sends_nothing(
    pacs: EmbeddedPacs, tmp_path: Path
) -> None:
    """Ctrl-C while the first association is being opened (its credential is slow): the file
    waiting for it is not sent (nothing of it was), the association is released, and the
    KeyboardInterrupt raised. Before, the file went out once the association was open."""
    path = tmp_path / "ct.dcm"
    ct_dataset(patient_id="CTRLC", rows=8, columns=8).save_as(path, enforce_file_format=True)
    credential = SlowCredential()
    watcher = WarningSeen()
    logging.getLogger("client_sdk.bulk").addHandler(watcher)
    main = threading.main_thread().ident
    assert main is not None

    def press_ctrl_c() -> None:
        if credential.started.wait(BOUND):
            signal.pthread_kill(main, signal.SIGINT)
            watcher.seen.wait(BOUND)  # the main thread took it
        credential.let_go.set()

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    results: list[StoreResult] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            client_for(pacs, credential).store_many([path], progress=results.append)
    finally:
        logging.getLogger("client_sdk.bulk").removeHandler(watcher)
        credential.let_go.set()
        presser.join(BOUND)
    assert watcher.seen.is_set()
    assert [(r.path, r.not_sent) for r in results] == [(path, True)]
    assert pacs.datasets == []
    record = pacs.wait_for_records(1, timeout=BOUND)[0]
    assert record.verified and record.ended == "released" and record.dimse == [], record
