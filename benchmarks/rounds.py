"""What every benchmark here shares: options, one SDK round, the interleaved measurement, the rows
of the result table, and the description of the machine.

Each benchmark module has ``run(args) -> list[Row]`` (``run_all.py``, i.e. ``scripts/bench``,
calls them all) and a ``main()`` that runs it alone and prints its own table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: import this checkout's packages
    sys.path.insert(0, str(ROOT))

from client_sdk import VERIFICATION, Client  # noqa: E402


def parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark understands (each uses the ones that concern it)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--rounds", type=int, default=200, help="associations per case (default 200)")
    p.add_argument("--warmup", type=int, default=20, help="rounds per case before timing")
    p.add_argument("--files", type=int, default=1000, help="files per bulk store run (1000)")
    p.add_argument("--bulk-runs", type=int, default=3, help="interleaved bulk runs per case (3)")
    p.add_argument("--calls", type=int, default=2000, help="credential fetches per case (2000)")
    p.add_argument("--runs", type=int, default=20, help="process starts per case (20)")
    return p


def options(description: str | None) -> argparse.Namespace:
    return parser(description).parse_args()


def run_alone(run: Callable[[argparse.Namespace], list[Row]], description: str | None) -> int:
    """What a benchmark script does when run by itself: its rows, then the machine."""
    args = options(description)
    print_table(run(args), args)
    return 0


def sdk_round(client: Client) -> None:
    """Associate, C-ECHO, release."""
    with client.associate(sop_classes=[VERIFICATION]) as session:
        session.echo()


def interleaved(
    cases: Mapping[str, Callable[[], None]], *, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Run every case once per round, in turn, after a warm-up; seconds per run, by case.

    Interleaving puts the machine's noise on all cases alike; ``round_rows`` pairs the cases
    round by round.
    """
    for _ in range(warmup):
        for run in cases.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run in cases.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return times


def medians_ms(times: Mapping[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def paired_ratio(times: Mapping[str, list[float]], case: str, baseline: str) -> float:
    """The median over the rounds of ``case``'s time over ``baseline``'s in the same round.

    A shared VM's speed drifts over seconds; two runs a few milliseconds apart see the same
    machine, so the per-round ratio cancels the drift that a ratio of two medians keeps.
    """
    return statistics.median(a / b for a, b in zip(times[case], times[baseline], strict=True))


def round_rows(
    benchmark: str,
    times: Mapping[str, list[float]],
    *,
    baseline: str,
    goals: Mapping[str, str] | None = None,
    baselines: Mapping[str, str] | None = None,
) -> list[Row]:
    """Rows for ``interleaved`` results: each case's median in ms and its paired ratio."""
    ratios = {
        case: paired_ratio(times, case, (baselines or {}).get(case, baseline)) for case in times
    }
    return ratio_rows(
        benchmark,
        medians_ms(times),
        "ms",
        baseline=baseline,
        goals=goals,
        baselines=baselines,
        ratios=ratios,
    )


# --- the result table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table. ``ratio`` is to the case named in ``baseline``; ``goal`` is a
    bound on the ratio (``"<= 1.05"``, ``">= 3"``) or empty when there is none."""

    benchmark: str
    case: str
    median: float | None
    unit: str
    ratio: float | None = None
    baseline: str = ""
    goal: str = ""
    note: str = ""

    @property
    def met(self) -> str:
        if not self.goal:
            return ""
        if self.ratio is None:
            return "not run"
        op, bound = self.goal.split()
        ok = self.ratio <= float(bound) if op == "<=" else self.ratio >= float(bound)
        return "yes" if ok else "**no**"


def ratio_rows(
    benchmark: str,
    medians: Mapping[str, float],
    unit: str,
    *,
    baseline: str,
    goals: Mapping[str, str] | None = None,
    baselines: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
    ratios: Mapping[str, float] | None = None,
) -> list[Row]:
    """Rows for ``medians``, each with its ratio to ``baseline`` (or its own in ``baselines``):
    the ratio of the medians, or the one given in ``ratios``."""
    rows = []
    for case, value in medians.items():
        base = (baselines or {}).get(case, baseline)
        ratio = None if case == base else (ratios or {}).get(case, value / medians[base])
        rows.append(
            Row(
                benchmark,
                case,
                value,
                unit,
                ratio,
                "" if ratio is None else base,
                (goals or {}).get(case, ""),
                (notes or {}).get(case, ""),
            )
        )
    return rows


def skipped(benchmark: str, case: str, why: str) -> Row:
    return Row(benchmark, case, None, "", note=f"not run: {why}")


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    digits = 0 if value >= 1000 else 1 if value >= 100 else 2 if value >= 1 else 3
    return f"{value:.{digits}f} {unit}"


def markdown(rows: Iterable[Row]) -> str:
    lines = [
        "| benchmark | case | median | ratio | to | goal | met |",
        "|---|---|---:|---:|---|---|---|",
    ]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        case = row.case + (f" ({row.note})" if row.note else "")
        lines.append(
            f"| {row.benchmark} | {case} | {_number(row.median, row.unit)} | {ratio} | "
            f"{row.baseline} | {row.goal} | {row.met} |"
        )
    return "\n".join(lines)


def print_table(rows: Iterable[Row], args: argparse.Namespace | None = None) -> None:
    print(markdown(rows))
    print()
    print(machine(args))


# --- the machine -----------------------------------------------------------------------------


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _dcmtk_version() -> str:
    program = shutil.which("storescu")
    if program is None:
        return "not installed"
    out = subprocess.run(
        [program, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    match = re.search(r"v(\d+\.\d+\.\d+)", out)
    return match.group(1) if match else "unknown"


def machine(args: argparse.Namespace | None = None) -> str:
    """What the figures were measured on: CPU, cores, load, OS, Python and library versions."""
    from importlib.metadata import version

    cpu = _lscpu()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"Machine: {cpu.get('Model name', platform.processor() or 'unknown CPU')}, "
        f"{cpu.get('CPU(s)', os.cpu_count())} CPU(s), load average {load} at the end",
        f"OS: {platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"pynetdicom {version('pynetdicom')}; pydicom {version('pydicom')}; "
        f"DCMTK {_dcmtk_version()}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
    ]
    if args is not None:
        lines.append(
            f"Options: --rounds {args.rounds} --warmup {args.warmup} --files {args.files} "
            f"--bulk-runs {args.bulk_runs} --calls {args.calls} --runs {args.runs}"
        )
    return "\n".join(lines)
