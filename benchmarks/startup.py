#!/usr/bin/env python3
"""Benchmark 5: start-up wall time of the INSTALLED command line, and a one-shot echo (issue 16).

Goals: ``dicom-identity --help`` and ``--version`` <= 4 x ``python -c pass``; ``dicom-identity
echo`` <= 1.1 x ``python -m pynetdicom echoscu`` against the same DCMTK ``storescp``.

Wall time (the goals), and the CPU time of the same runs alongside. Each case is a fresh
process (``--runs`` times, interleaved, after 2 warm-up runs each), run the way a user runs it:
the console script of an installed environment, from a temp folder outside the checkout, with
no ``PYTHONPATH`` (which would slow the bare interpreter too, and flatter the ratio). The
environment is ``.venv-wheel`` (``bash scripts/wheel_check.sh`` builds it) when its
``dicom-identity --version`` is this checkout's version, else the checkout's ``.venv`` (an
editable install: its start-up also loads the editable finder, for ``python -c pass`` too).
``import pynetdicom`` and DCMTK's ``echoscu`` alongside, for what is not ours.

    .venv/bin/python benchmarks/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import peers
from rounds import ROOT, Row, ratio_rows, run_alone

NAME = "5 start-up"
FLOOR = "python -c pass"
HELP = "dicom-identity --help"
VERSION = "dicom-identity --version"
ECHO = "dicom-identity echo (storescp)"
ECHOSCU = "python -m pynetdicom echoscu (storescp)"
DCMTK_ECHOSCU = "DCMTK echoscu (storescp)"
GOALS = {HELP: "<= 4", VERSION: "<= 4", ECHO: "<= 1.1"}
BASELINES = {ECHO: ECHOSCU, DCMTK_ECHOSCU: ECHOSCU}


def installed_environment() -> tuple[Path, str]:
    """The bin folder of the environment to measure, and which one it is."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    wheel = ROOT / ".venv-wheel" / "bin"
    if (wheel / "dicom-identity").exists():
        shown = subprocess.run(
            [wheel / "dicom-identity", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tempfile.gettempdir(),
        ).stdout.strip()
        if shown == f"dicom-identity {version}":
            return wheel, ".venv-wheel (the built wheel)"
    return Path(sys.executable).parent, f"{Path(sys.executable).parent.parent.name} (editable)"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the process and its children) of one run."""
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=True,
    )
    return time.perf_counter() - started, _children_cpu() - cpu


def _cases(bin_dir: Path, scp: peers.Storescp | None) -> dict[str, list[str]]:
    python, command = str(bin_dir / "python"), str(bin_dir / "dicom-identity")
    cases = {
        FLOOR: [python, "-c", "pass"],
        "import pynetdicom": [python, "-c", "import pynetdicom"],
        "import client_sdk": [python, "-c", "import client_sdk"],
        HELP: [command, "--help"],
        VERSION: [command, "--version"],
    }
    if scp is not None:
        port = str(scp.port)
        cases[ECHOSCU] = [python, "-m", "pynetdicom", "echoscu", "127.0.0.1", port]
        cases[ECHOSCU] += ["-aec", scp.ae_title]
        cases[ECHO] = [command, "echo", f"127.0.0.1:{port}", "--ae-title", scp.ae_title]
        echoscu = shutil.which("echoscu")
        if echoscu is not None:
            cases[DCMTK_ECHOSCU] = [echoscu, "-aec", scp.ae_title, "127.0.0.1", port]
    return cases


def _measure(
    cases: dict[str, list[str]], runs: int, env: dict[str, str], cwd: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall and CPU milliseconds of each case."""
    walls: dict[str, list[float]] = {case: [] for case in cases}
    cpus: dict[str, list[float]] = {case: [] for case in cases}
    for n in range(2 + runs):
        for case, argv in cases.items():
            wall, cpu = _once(argv, env, cwd)
            if n >= 2:
                walls[case].append(wall)
                cpus[case].append(cpu)

    def medians(times: dict[str, list[float]]) -> dict[str, float]:
        return {case: statistics.median(values) * 1000 for case, values in times.items()}

    return medians(walls), medians(cpus)


def run(args: argparse.Namespace) -> list[Row]:
    bin_dir, which = installed_environment()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # No configuration file (the user's config folder is an empty one): the echo names its
        # peer as HOST:PORT.
        env.pop("DICOM_IDENTITY_CONFIG", None)
        env["XDG_CONFIG_HOME"] = str(folder)
        notes = {FLOOR: f"installed in {which}, run from a temp folder"}
        if peers.dcmtk_missing():
            walls, cpus = _measure(_cases(bin_dir, None), args.runs, env, folder)
            notes[FLOOR] += f"; echo cases skipped: {peers.dcmtk_missing()}"
        else:
            with peers.storescp(folder / "scp") as scp:
                walls, cpus = _measure(_cases(bin_dir, scp), args.runs, env, folder)
    # Wall time is the goal's measure; CPU time (of the process: less disturbed by other work on
    # the machine) alongside, for the same runs.
    rows = ratio_rows(
        NAME, walls, "ms", baseline=FLOOR, goals=GOALS, baselines=BASELINES, notes=notes
    )
    return rows + ratio_rows(f"{NAME} (CPU)", cpus, "ms", baseline=FLOOR, baselines=BASELINES)


if __name__ == "__main__":
    raise SystemExit(run_alone(run, __doc__))
