#!/usr/bin/env python3
"""Where the time of one association round goes, on the client: a pyinstrument profile.

Associate + C-ECHO + release with the username identity (or another case), ``--rounds`` times,
against the embedded PACS in a process of its own (so only the client is profiled). Prints
pyinstrument's call tree (wall-clock: waiting shows as waiting) and the median round.

    .venv/bin/python benchmarks/profile_round.py [--rounds 200] [--identity keyring] [--html F]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import peers
from pyinstrument import Profiler
from rounds import sdk_round

from client_sdk import Client, Peer
from providers import IdentityProvider


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--identity", choices=["username", "keyring", "jwt"], default="username")
    p.add_argument("--all", action="store_true", help="show library frames too")
    p.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ids = peers.identities(Path(tmp))
        identity: dict[str, IdentityProvider] = {
            "username": ids.username,
            "keyring": ids.keyring,
            "jwt": ids.jwt,
        }
        with peers.embedded_pacs_process(Path(tmp) / "pacs") as pacs:
            client = Client(
                Peer(pacs.host, pacs.port, pacs.ae_title), identity=identity[args.identity]
            )
            for _ in range(10):
                sdk_round(client)  # warm-up
            # All threads: pynetdicom's reactor and DUL threads poll every millisecond.
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            times = []
            profiler.start()
            for _ in range(args.rounds):
                started = time.perf_counter()
                sdk_round(client)
                times.append(time.perf_counter() - started)
            profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=args.all))
    print(f"median round {statistics.median(times) * 1000:.2f} ms over {args.rounds} rounds")
    if args.html is not None:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
