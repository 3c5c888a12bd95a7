"""A child process's output line by line as it comes (read by a thread), each wait bounded.
(Mixing ``readline`` with ``Popen.communicate`` loses what ``readline`` buffered.)"""

from __future__ import annotations

import queue
import threading
from typing import IO


class Lines:
    """The lines of ``stream``; ``next`` gives None once it closed."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def next(self, timeout: float = 30) -> str | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout} s") from None

    def rest(self, timeout: float = 60) -> list[str]:
        """Every line until the stream closes (each within ``timeout``)."""
        lines = []
        while (line := self.next(timeout)) is not None:
            lines.append(line)
        return lines

    def text(self, timeout: float = 60) -> str:
        """:meth:`rest`, as one text."""
        return "".join(self.rest(timeout))
