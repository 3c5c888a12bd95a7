"""Small CT files to store, and the file events of ``dicom-identity --json store``: what the
tests of ``store --processes`` share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from client_sdk.testing import ct_dataset

RESULTS = {"stored", "failed", "not-sent"}


def write_files(folder: Path, count: int) -> list[Path]:
    """``count`` 8x8 CT files in ``folder``, each its own instance (seeded by its number)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"ct{n:03d}.dcm"
        ct_dataset(patient_id="PROCESSES", rows=8, columns=8, seed=n).save_as(
            path, enforce_file_format=True
        )
        paths.append(path)
    return paths


def cli_events(stdout: str) -> list[dict[str, Any]]:
    """The JSON events of ``--json`` output."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def file_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events that are a file's result."""
    return [e for e in events if e["event"] in RESULTS]
