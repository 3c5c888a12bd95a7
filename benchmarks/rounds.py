"""What every benchmark here shares: options, one SDK round, and the interleaved measurement."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping

from client_sdk import Client
from client_sdk.sop import VERIFICATION


def options(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    return parser.parse_args()


def sdk_round(client: Client) -> None:
    """Associate, C-ECHO, release."""
    with client.associate(sop_classes=[VERIFICATION]) as session:
        session.echo()


def interleaved(
    cases: Mapping[str, Callable[[], None]], *, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Run every case once per round, in turn, after a warm-up; seconds per run, by case.

    Interleaving puts the machine's noise on all cases alike: the ratio of medians is the result.
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
