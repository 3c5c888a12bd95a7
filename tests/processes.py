"""Background processes for tests: stdout read line by line with a bound, always stopped."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening on (?P<host>[0-9.]+):(?P<port>\d+) as (?P<ae_title>\S+)")


class Running:
    """A started process; ``line()`` waits (bounded) for its next line of stdout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._lines: queue.Queue[str] = queue.Queue()
        stdout = proc.stdout
        assert stdout is not None
        threading.Thread(target=self._read, args=(stdout,), daemon=True).start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._lines.put(line)

    def line(self, timeout: float = 10) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from {self.proc.args!r} within {timeout} s") from None

    def stop(self, timeout: float = 10) -> tuple[int, str]:
        """SIGTERM, wait; returns the exit code and what it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()


@contextlib.contextmanager
def background(args: Sequence[str], *, env: Mapping[str, str] | None = None) -> Iterator[Running]:
    """Run ``python args...`` from the checkout; killed and its pipes closed at the end."""
    with background_command([sys.executable, *args], env=env, cwd=ROOT) as running:
        yield running


@contextlib.contextmanager
def background_command(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path
) -> Iterator[Running]:
    """Run ``argv`` (e.g. the installed ``dicom-identity pacs ...``) in ``cwd``; killed and its
    pipes closed at the end."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Running(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def listening(running: Running, timeout: float = 30) -> re.Match[str]:
    """The embedded PACS's first line: ``listening on HOST:PORT as AE``."""
    first = running.line(timeout)
    match = LISTENING.search(first)
    assert match, first
    return match
