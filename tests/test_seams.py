"""The seam to pynetdicom's internals (client_sdk._pynetdicom): every name it relies on is still
there, with the parameters it is called or overridden with, and every body it replaces or relies
on is the one it was written against. A pynetdicom upgrade that moves any of them fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from client_sdk._pynetdicom import SEAMS, Seam, check_seams

ROOT = Path(__file__).resolve().parent.parent


def test_every_seam_holds_on_the_installed_pynetdicom() -> None:
    problems = check_seams()
    assert not problems, "pynetdicom changed under the SDK:\n" + "\n".join(problems)


def test_a_changed_seam_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check must be able to fail: a seam whose parameters, body or attribute differ.
    wrong = (
        Seam("pynetdicom.dul.DULServiceProvider._decode_pdu", "x", "y", params="(self, other)"),
        Seam("pynetdicom.transport.AssociationSocket.recv", "x", "y", body="0" * 64),
        Seam("_no_such_attribute", "x", "y", on="Association"),
        Seam("pynetdicom.dul.DULServiceProvider._no_such_method", "x", "y"),
        Seam("pynetdicom._handlers", "x", "y", text=("no such log text",)),
    )
    monkeypatch.setattr("client_sdk._pynetdicom.SEAMS", wrong)
    problems = check_seams()
    assert len(problems) == len(wrong), problems
    assert "parameters (self, bytestream), expected (self, other)" in problems[0]
    assert "its source changed" in problems[1]
    assert "no attribute _no_such_attribute on a Association" in problems[2]
    assert "gone (AttributeError" in problems[3]
    assert "no longer holds 'no such log text'" in problems[4]


def test_every_seam_names_a_module_of_the_seam_package() -> None:
    package = ROOT / "client_sdk" / "_pynetdicom"
    for seam in SEAMS:
        for module in seam.used_in.split(", "):
            assert (package / f"{module}.py").is_file(), (seam.name, module)


def test_the_architecture_check_passes() -> None:
    # No import cycle, no pynetdicom internal outside the seam package, no module over 450 lines.
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "architecture_check.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 cycle(s), 0 internal use(s), 0 module(s) over 450 lines" in run.stdout
