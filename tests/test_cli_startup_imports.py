"""``dicom-identity --help`` and ``--version`` load neither pynetdicom nor pydicom (issue 16): the
installed command line, run with ``PYTHONPROFILEIMPORTTIME`` (``-X importtime``), lists every
module it imported on stderr. A command that talks to a peer still loads them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.installed_cli import run_cli

HEAVY = ("pynetdicom", "pydicom")


def imported_modules(result: subprocess.CompletedProcess[str]) -> set[str]:
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["echo", "--help"]])
def test_help_and_version_import_no_dicom_library(
    argv: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(*argv, env={**env, "PYTHONPROFILEIMPORTTIME": "1"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()
    modules = imported_modules(result)
    assert "client_sdk._cli.parser" in modules  # the listing is real
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == [], f"{' '.join(argv)} imported {loaded[:5]}"


def test_a_command_still_loads_them(env: dict[str, str], tmp_path: Path) -> None:
    # No peer listens on port 9 of 127.0.0.1: the echo fails, after pynetdicom was loaded.
    result = run_cli(
        "echo",
        "127.0.0.1:9",
        "--ae-title",
        "NOBODY",
        env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "pynetdicom" in imported_modules(result)
