#!/usr/bin/env python3
"""Where the client's time goes: a pyinstrument profile.

Associate + C-ECHO + release with the username identity (or another case), ``--rounds`` times,
against the embedded PACS in a process of its own (so only the client is profiled). Prints
pyinstrument's call tree (wall-clock: waiting shows as waiting) and the median round.
``--store N`` profiles ``store_many`` of N generated CT files over one association instead
(benchmark 3's SDK case; the work runs on the calling thread).

    .venv/bin/python benchmarks/profile_round.py [--rounds 200] [--identity keyring] [--html F]
    .venv/bin/python benchmarks/profile_round.py --store 300 [--all]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import peers
from bulk_store import write_files
from pyinstrument import Profiler
from rounds import sdk_round

from client_sdk import Client, Peer
from client_sdk.testing import CT_IMAGE_STORAGE
from providers import IdentityProvider


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--identity", choices=["username", "keyring", "jwt"], default="username")
    p.add_argument("--all", action="store_true", help="show library frames too")
    p.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    p.add_argument("--store", type=int, metavar="N", help="profile store_many of N files instead")
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
            # The calling thread only (pyinstrument records one thread): its waits on pynetdicom's
            # reactor and DUL threads, which poll every millisecond, show as waiting.
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            if args.store:
                files = write_files(Path(tmp) / "files", args.store)
                client.store_many(files[:20], workers=1, sop_classes=[CT_IMAGE_STORAGE])
                profiler.start()
                started = time.perf_counter()
                report = client.store_many(files, workers=1, sop_classes=[CT_IMAGE_STORAGE])
                elapsed = time.perf_counter() - started
                profiler.stop()
                assert report.stored == len(files), report.failed[:1]
                summary = f"{len(files) / elapsed:.1f} files/s over one association"
            else:
                for _ in range(10):
                    sdk_round(client)  # warm-up
                times = []
                profiler.start()
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    sdk_round(client)
                    times.append(time.perf_counter() - started)
                profiler.stop()
                median = statistics.median(times) * 1000
                summary = f"median round {median:.2f} ms over {args.rounds} rounds"
    print(profiler.output_text(unicode=True, color=False, show_all=args.all))
    print(summary)
    if args.html is not None:
        args.html.write_text(profiler.output_html())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
