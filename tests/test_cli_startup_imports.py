"""``dicom-identity --help`` and ``--version`` load neither pynetdicom nor pydicom (issue 16): the
installed command line, run with ``PYTHONPROFILEIMPORTTIME`` (``-X importtime``), lists every
module it imported on stderr. A command that talks to a peer still loads them.

Nor do they load what the parser only describes (the identity-type registry, the SDK's errors,
the policy), ``typing``, or ``importlib.metadata``: ``client_sdk._cli.static_help`` writes those
descriptions out, and the tests below check each against its source, and the version against the
project's and the installed distribution's."""

from __future__ import annotations

import argparse
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from client_sdk._cli.exit_codes import EXIT_CODES, EXIT_OTHER
from client_sdk._cli.parser import build_parser
from client_sdk._cli.static_help import (
    EXIT_CODE_LINES,
    IDENTITY_FLAGS,
    MISSING_RESPONSE_CHOICES,
    exit_code_help,
)
from client_sdk._identity_types.registry import OPTIONS
from client_sdk._policy import MissingResponse
from client_sdk._version import VERSION
from tests.installed_cli import run_cli

HEAVY = ("pynetdicom", "pydicom")
# What the parser describes without loading (static_help), and what a start-up can do without.
DESCRIBED_ONLY = (
    "client_sdk._identity_types.registry",
    "client_sdk._errors",
    "client_sdk._policy",
    "providers._base",
    "importlib.metadata",
    "importlib.abc",
    "typing",
)
ROOT = Path(__file__).resolve().parent.parent


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
    assert "client_sdk._cli" in modules  # the listing is real
    if argv == ["--version"]:  # answered before the parser is built
        assert "client_sdk._version" in modules
        assert "argparse" not in modules
    else:
        assert "client_sdk._cli.parser" in modules
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded == [], f"{' '.join(argv)} imported {loaded[:5]}"
    described = sorted(m for m in modules if m in DESCRIBED_ONLY)
    assert described == [], f"{' '.join(argv)} imported {described}"


def test_version_is_the_projects_and_the_installed_ones(
    env: dict[str, str], tmp_path: Path
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert project == VERSION
    assert version("dicom-identity") == project  # this interpreter's installed distribution
    for flag in ("--version", "-V"):
        result = run_cli(flag, env=env, cwd=tmp_path)
        assert (result.returncode, result.stdout) == (0, f"dicom-identity {project}\n")


def test_the_identity_flags_written_out_are_the_registrys() -> None:
    assert tuple((o.flag, dict(o.kwargs), o.exclusive) for o in OPTIONS) == IDENTITY_FLAGS


def test_the_exit_codes_written_out_are_the_error_tables() -> None:
    derived = {0: "success", EXIT_OTHER: "any other error", 2: "usage error"}
    for _, code, text in EXIT_CODES:
        derived.setdefault(code, text)
    assert tuple(sorted(derived.items())) == EXIT_CODE_LINES
    assert build_parser().epilog == exit_code_help()
    assert "  10  audit required" in exit_code_help()


def test_the_missing_response_choices_are_the_policys() -> None:
    assert tuple(m.value for m in MissingResponse) == MISSING_RESPONSE_CHOICES


def test_every_identity_flag_is_on_every_association_command() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("echo", "store", "find", "get", "move"):
        flags = {f for a in sub.choices[command]._actions for f in a.option_strings}
        assert {o.flag for o in OPTIONS} <= flags, command
        assert "--on-missing-response" in flags


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
    modules = imported_modules(result)
    assert "pynetdicom" in modules
    # A one-shot echo loads neither the worker pools nor the SAML parser (issue 16).
    assert "client_sdk._operations.process_pool" not in modules
    assert "providers._saml_assertion" not in modules
