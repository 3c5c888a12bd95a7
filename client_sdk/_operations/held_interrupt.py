"""Ctrl-C held back while a step must not be cut in two (a worker process half started)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def ctrl_c_held() -> Iterator[list[KeyboardInterrupt]]:
    """Within the block, Ctrl-C does not raise: it is kept in the list yielded, for the caller
    to act on after the block. Only in the main thread and while Python's own SIGINT handler
    is in place (elsewhere Ctrl-C never raises in this thread, or the caller chose otherwise);
    otherwise the block runs as it is."""
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
