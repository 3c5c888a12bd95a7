"""Helpers of tests/test_store_processes.py that a worker process imports too (by class name)."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import IO

from keyrings.alt.file import PlaintextKeyring


class RecordingKeyring(PlaintextKeyring):  # type: ignore[misc]
    """keyrings.alt's real plaintext file backend that also writes, beside its file, the process
    id of every password read: which process fetched the secret, and how often."""

    def get_password(self, service: str, username: str) -> str | None:
        with Path(self.file_path + ".reads").open("a", encoding="utf-8") as reads:
            reads.write(f"{os.getpid()}\n")
        return super().get_password(service, username)  # type: ignore[no-any-return]

    def reads(self) -> list[int]:
        path = Path(self.file_path + ".reads")
        return [int(line) for line in path.read_text().split()] if path.exists() else []


class Lines:
    """A stream's lines as they come, read by a thread; each wait bounded; None once closed.
    (Mixing ``readline`` with ``Popen.communicate`` loses what ``readline`` buffered.)"""

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

    def rest(self, timeout: float = 60) -> str:
        lines = []
        while (line := self.next(timeout)) is not None:
            lines.append(line)
        return "".join(lines)
