"""Run the installed ``dicom-identity`` command, as a user would, from outside the checkout.

``scripts/test`` installs the built wheel into a fresh virtual environment and sets
``DICOM_IDENTITY_CLI`` to that environment's ``dicom-identity``; run by hand, the tests fall back
to the console script beside this interpreter (the development install).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def cli_command() -> list[str]:
    """The argv prefix that runs the installed command line."""
    installed = os.environ.get("DICOM_IDENTITY_CLI")
    if installed:
        return [installed]
    beside = Path(sys.executable).with_name("dicom-identity")
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "client_sdk"]


def run_cli(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    stdin: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``dicom-identity ARGS`` in ``cwd`` (a folder outside the checkout, e.g. ``tmp_path``)."""
    return subprocess.run(
        [*cli_command(), *args],
        cwd=cwd,
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def json_lines(out: str) -> list[dict[str, Any]]:
    """Each non-empty line of a ``--json`` command's output, parsed."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]
