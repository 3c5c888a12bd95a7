#!/usr/bin/env python3
"""Every benchmark of issue 7, one after the other, in one markdown table with the machine.

    scripts/bench                      # the full run (200 rounds, 1,000 files, ...)
    scripts/bench --rounds 20 --files 50 --bulk-runs 1 --calls 200 --runs 5   # a quick check
    scripts/bench --only 1,3           # some of them

Options: see ``--help`` (rounds.py). The table goes to stdout (and, with ``--output FILE``, to a
file); progress lines go to stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import association_overhead
import bulk_store
import credential_cost
import default_association
import http_auth_overhead
import startup
import tls_overhead
from rounds import Row, machine, markdown, parser

BENCHMARKS: dict[str, tuple[str, Callable[..., list[Row]]]] = {
    "1": ("identity per association", association_overhead.run),
    "2": ("TLS per association", tls_overhead.run),
    "3": ("bulk store", bulk_store.run),
    "4": ("credential per call", credential_cost.run),
    "5": ("start-up", startup.run),
    "6": ("HTTP authentication per association", http_auth_overhead.run),
    "7": ("default association", default_association.run),
}


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--only", default=",".join(BENCHMARKS), help="e.g. 1,3 (default: all)")
    p.add_argument("--output", type=Path, help="also write the table to this file")
    args = p.parse_args()
    chosen = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = [key for key in chosen if key not in BENCHMARKS]
    if unknown:
        p.error(f"--only: no benchmark {', '.join(unknown)} (1-7)")
    rows: list[Row] = []
    for key in chosen:
        title, run = BENCHMARKS[key]
        print(f"benchmark {key}: {title} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        rows += run(args)
        print(f"benchmark {key}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    text = f"{markdown(rows)}\n\n{machine(args)}\n"
    print(text)
    if args.output is not None:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
