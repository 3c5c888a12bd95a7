"""Run the installed ``dicom-identity`` command, as a user would, from outside the checkout.

``scripts/test`` installs the built wheel into a fresh virtual environment and sets
``DICOM_IDENTITY_CLI`` to that environment's ``dicom-identity``; run by hand, the tests fall back
to the console script beside this interpreter (the development install).

The ``env`` fixture (loaded by ``tests/conftest.py``) is the environment to run it in: a file
keyring in tmp, no ``DICOM_IDENTITY_*`` variables, HOME and the XDG folders in tmp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.stream_lines import Lines


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


def start_cli(
    *args: str, env: Mapping[str, str], cwd: Path
) -> tuple[subprocess.Popen[str], Lines, Lines]:
    """Start the installed command line with ``args``; returns it and its stdout and stderr
    read line by line as they come."""
    proc = subprocess.Popen(
        [*cli_command(), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def json_lines(out: str) -> list[dict[str, Any]]:
    """Each non-empty line of a ``--json`` command's output, parsed."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def clean_env(home: Path) -> dict[str, str]:
    """This process's environment without ``DICOM_IDENTITY_*`` variables, with keyrings.alt's
    plaintext file keyring and HOME, XDG_DATA_HOME and XDG_CONFIG_HOME under ``home``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    base.update(
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        HOME=str(home),
    )
    return base


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for the installed command line (:func:`clean_env` in ``tmp_path``)."""
    return clean_env(tmp_path)
