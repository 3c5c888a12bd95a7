"""``store --report FILE`` and ``store --resume FILE``: one JSON line per input file.

Each line: ``{"path": "/abs/a.dcm", "result": "stored", "status": "0x0000", "reason": null,
"sop_instance_uid": "1.2..."}``, with ``result`` one of ``stored``, ``failed``, ``not-sent``.
Lines are written (and flushed) as results come, so a run that is killed leaves a report of what
it did; ``--resume`` sends what a report does not show as stored. A resumed run's report starts
with the stored lines of the report it resumes, so a resume of a resume works.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import IO, Any

from client_sdk._errors import ConfigError
from client_sdk._operations.bulk_results import StoreOutcome

RESULTS: tuple[StoreOutcome, ...] = ("stored", "failed", "not-sent")


def absolute(path: Path) -> Path:
    """The path a report names: absolute, so a resume from another folder finds it."""
    return Path(os.path.abspath(path))


def read_stored(report: Path) -> dict[Path, dict[str, Any]]:
    """The lines of ``report`` whose result is ``stored``, by absolute path (a later line for
    the same path wins). Raises :class:`ConfigError` naming the file and the line."""
    try:
        text = report.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--resume {report}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--resume {report}: cannot be read ({exc})") from None
    lines = text.split("\n")
    stored: dict[Path, dict[str, Any]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = _record(line)
        except ValueError as exc:
            if number == len(lines):
                # The last line, unterminated: a run killed while writing it. Its file is
                # simply sent again.
                continue
            raise ConfigError(
                f"--resume {report}, line {number}: {exc}. Give a report written by "
                "dicom-identity store --report"
            ) from None
        path = absolute(Path(record["path"]))
        if record["result"] == "stored":
            stored[path] = record
        else:
            stored.pop(path, None)
    return stored


def _record(line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    if not isinstance(record.get("path"), str) or not record["path"]:
        raise ValueError('no "path"')
    if record.get("result") not in RESULTS:
        raise ValueError(f'"result" is {record.get("result")!r}, not one of {", ".join(RESULTS)}')
    return record


class ReportWriter:
    """Appends one JSON line per result to the report file, flushed at once. Thread-safe."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        try:
            self._file: IO[str] = path.open("a" if append else "w", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"--report {path}: cannot be written ({exc.strerror or exc}); nothing was sent"
            ) from None
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
