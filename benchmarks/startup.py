#!/usr/bin/env python3
"""Benchmark 5: start-up wall time, ``import client_sdk``, ``dicom-identity --help`` and
``--version``. Goal (issue 16): --help and --version <= 4 x ``python -c pass``.

Each case is a fresh Python process (``--runs`` times, interleaved, after 2 warm-up runs each);
the bare interpreter and ``import pynetdicom`` alongside, for what is not ours.

    .venv/bin/python benchmarks/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from rounds import ROOT, Row, ratio_rows, run_alone

NAME = "5 start-up"
FLOOR = "python -c pass"
CASES = {
    FLOOR: ["-c", "pass"],
    "import pynetdicom": ["-c", "import pynetdicom"],
    "import client_sdk": ["-c", "import client_sdk"],
    "dicom-identity --help": ["-m", "client_sdk", "--help"],
    "dicom-identity --version": ["-m", "client_sdk", "--version"],
}
GOALS = {"dicom-identity --help": "<= 4", "dicom-identity --version": "<= 4"}


def _once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=True,
    )
    return time.perf_counter() - started


def run(args: argparse.Namespace) -> list[Row]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times: dict[str, list[float]] = {case: [] for case in CASES}
    for n in range(2 + args.runs):
        for case, argv in CASES.items():
            elapsed = _once(argv, env)
            if n >= 2:
                times[case].append(elapsed)
    medians = {case: statistics.median(values) * 1000 for case, values in times.items()}
    return ratio_rows(NAME, medians, "ms", baseline=FLOOR, goals=GOALS)


if __name__ == "__main__":
    raise SystemExit(run_alone(run, __doc__))
