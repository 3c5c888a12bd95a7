#!/usr/bin/env python3
"""Benchmark 4: what getting the credential costs, per call of ``provider.negotiate()``.

No association: only the provider's work. Keyring lookup (a real keyrings.alt file backend,
resolved once); JWT file unchanged (the provider keeps the parsed token while the file's stat is
the same) and changed before every call (rewritten, not timed: read, decode and claim checks);
Kerberos token build (a fresh AP-REQ each time, as it must be; throwaway MIT KDC on 127.0.0.1);
the username provider as the floor. Interleaved call by call after a warm-up.
Check: an unchanged JWT file costs at most half of a changed one (it is not parsed again).

    .venv/bin/python benchmarks/credential_cost.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import peers
from rounds import Row, ratio_rows, run_alone

from providers import Target

NAME = "4 credential per call"
FLOOR = "username (no secret)"


def run(args: argparse.Namespace) -> list[Row]:
    target = Target("127.0.0.1", 11112, "EMBEDDED_PACS", "BENCH")
    with tempfile.TemporaryDirectory() as tmp, peers.kerberos() as (realm, no_kerberos):
        ids = peers.identities(Path(tmp))
        # (untimed preparation, timed call)
        cases: dict[str, tuple[Callable[[], None] | None, Callable[[], object]]] = {
            FLOOR: (None, lambda: ids.username.negotiate(target)),
            "keyring lookup": (None, lambda: ids.keyring.negotiate(target)),
            "jwt file unchanged": (None, lambda: ids.jwt.negotiate(target)),
            "jwt file changed": (ids.write_token, lambda: ids.jwt.negotiate(target)),
        }
        if realm is not None:
            from providers import KerberosProvider

            kerberos = KerberosProvider(hostname="localhost")
            cases["kerberos token build"] = (None, lambda: kerberos.negotiate(target))
        times: dict[str, list[float]] = {case: [] for case in cases}
        for n in range(args.warmup + args.calls):
            for case, (prepare, call) in cases.items():
                if prepare is not None:
                    prepare()
                started = time.perf_counter()
                call()
                if n >= args.warmup:
                    times[case].append(time.perf_counter() - started)
    medians = {case: statistics.median(values) * 1e6 for case, values in times.items()}
    rows = ratio_rows(
        NAME,
        medians,
        "µs",
        baseline=FLOOR,
        baselines={"jwt file unchanged": "jwt file changed"},
        goals={"jwt file unchanged": "<= 0.5"},
    )
    if realm is None:
        rows.append(Row(NAME, "kerberos token build", None, "", note=no_kerberos))
    return rows


if __name__ == "__main__":
    raise SystemExit(run_alone(run, __doc__))
