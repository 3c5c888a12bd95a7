#!/usr/bin/env python3
"""Sender CPU per stored file: DCMTK's storescu against the SDK's ``store_many`` over one
association, side by side (issue 16, goal 2), with two decimals where ``bulk_store.py`` rounds to
0.1 ms.

``--files`` generated CT files (128 KB, ``bulk_store.write_files``) to ``storescp --fork`` and to
the embedded PACS in a process of its own; the two senders alternate, ``--runs`` times each
after a warm-up of 20 files. The CPU is this process's (the SDK and its pynetdicom threads) or
its waited-for child's (storescu), from ``os.times()``: its clock tick (10 ms) over the files
is the resolution. Prints each run and the medians' ratio.

    .venv/bin/python benchmarks/store_cpu.py [--files 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import bulk_store
import peers

from client_sdk import Client, Peer

Send = Callable[[list[Path]], object]
WARMUP_FILES = 20


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _per_file(cases: dict[str, Send], files: list[Path], runs: int) -> dict[str, list[float]]:
    for send in cases.values():
        send(files[:WARMUP_FILES])
    used: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(runs):
        for case, send in cases.items():
            before = _cpu()
            send(files)
            used[case].append((_cpu() - before) / len(files) * 1000)
    return used


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    why = peers.dcmtk_missing()
    if why:
        print(f"not run: {why}")
        return 1
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = bulk_store.write_files(folder / "files", max(args.files, WARMUP_FILES))
        ids = peers.identities(folder)
        with peers.storescp(folder / "storescp", fork=True) as scp:
            client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), identity=ids.keyring)
            cases: dict[str, Send] = {
                "storescu": lambda f: bulk_store.storescu(scp.port, scp.ae_title, f),
                "sdk": lambda f: bulk_store.sdk(client, f, 1),
            }
            results["storescp --fork"] = _per_file(cases, files, args.runs)
        with peers.embedded_pacs_process(folder / "pacs") as pacs:
            client = Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=ids.keyring)
            cases = {
                "storescu": lambda f: bulk_store.storescu(pacs.port, pacs.ae_title, f),
                "sdk": lambda f: bulk_store.sdk(client, f, 1),
            }
            results["embedded PACS"] = _per_file(cases, files, args.runs)
    print(f"{len(files)} files, {args.runs} runs, load {os.getloadavg()[0]:.2f} at the end")
    for peer, used in results.items():
        storescu, sdk = (statistics.median(used[case]) for case in ("storescu", "sdk"))
        runs = "; ".join(f"{case} " + " ".join(f"{v:.3f}" for v in used[case]) for case in used)
        print(
            f"{peer}: sender CPU a file, storescu {storescu:.3f} ms, sdk {sdk:.3f} ms: "
            f"{sdk / storescu:.2f} x ({runs})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
