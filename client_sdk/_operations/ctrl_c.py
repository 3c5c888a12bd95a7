"""Ctrl-C during ``store_many``, the same in threads and in processes.

Python raises KeyboardInterrupt wherever the main thread happens to be, so two rules hold:

* a step that must not be cut in two (a worker thread or process half started, its input with
  no result) runs with Ctrl-C held (:func:`ctrl_c_held`), and the Ctrl-C counts after it; the
  first inputs are taken with Ctrl-C free (:func:`take_first_inputs`), and those taken when it
  comes are reported not sent;
* the wait counts each Ctrl-C and does what it asks (:func:`wait_through_ctrl_c`): the first
  takes no new input and lets the files in flight finish, the second aborts them. A Ctrl-C
  that lands while an earlier one is being acted on is counted, and the step done again.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

log = logging.getLogger("client_sdk.bulk")
Taken = TypeVar("Taken")


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[list[KeyboardInterrupt]]:
    """Within the block, Ctrl-C does not raise: it is kept in the list yielded, for the caller
    to act on after the block. Only in the main thread and while Python's own SIGINT handler
    is in place (elsewhere Ctrl-C never raises in this thread, or the caller chose otherwise);
    otherwise the block runs as it is. Hold nothing that may wait long: the user's Ctrl-C
    would wait with it."""
    held: list[KeyboardInterrupt] = []
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield held
        return

    def hold(signum: int, frame: object) -> None:
        held.append(KeyboardInterrupt())

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_through_ctrl_c(
    finished: threading.Event,
    *,
    stop: Callable[[], None],
    abort: Callable[[], None],
    early: KeyboardInterrupt | None = None,
) -> KeyboardInterrupt | None:
    """Wait for ``finished``. The first Ctrl-C (or ``early``, one that came before the wait)
    calls ``stop`` and warns once; the second calls ``abort``. Both are called again when a
    Ctrl-C cut them short, so both must be safe to repeat. Returns the first Ctrl-C, or None.
    A third and later Ctrl-C change nothing: the abort is already done."""
    first = early
    count = 0 if early is None else 1
    done = 0  # the steps carried out to their end
    warned = False  # set before the line is written: a line cut short is not written twice
    while True:
        try:
            if count >= 1 and done < 1:
                stop()
                done = 1
            if count >= 1 and not warned:
                warned = True
                log.warning(
                    "interrupted: no new input is sent; the files in flight get their "
                    "response first (Ctrl-C again aborts them)"
                )
            if count >= 2 and done < 2:
                abort()
                done = 2
            finished.wait()
            return first
        except KeyboardInterrupt as interrupt:
            first = first or interrupt
            count = min(count + 1, 2)


def take_first_inputs(
    take: Callable[[], Taken | None], count: int
) -> tuple[list[Taken], KeyboardInterrupt | None]:
    """Up to ``count`` inputs from ``take``, with Ctrl-C not held (the caller's iterator may
    wait on a slow disk): a Ctrl-C ends the taking and is returned with what was taken, for
    the caller to report as not sent."""
    taken: list[Taken] = []
    try:
        while len(taken) < count and (one := take()) is not None:
            taken.append(one)
    except KeyboardInterrupt as interrupt:
        return taken, interrupt
    return taken, None
