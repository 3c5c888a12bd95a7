#!/usr/bin/env python3
"""What limits bulk store on one association, and what worker processes cost (issue 16, goal 4).

Against DCMTK's ``storescp`` (generated 128 KB CT files, a keyring-password identity):

* ``--polling``: one association, stock pynetdicom against the same with its two reactor sleeps
  cut tenfold (the DUL thread's ``_run_loop_delay`` and the association reactor's 1 ms loop,
  through a shim of ``time`` in those two modules, for this measurement only), interleaved: the
  difference is the time a file waits for pynetdicom's polling. Also storescp's own CPU per file
  (not forking, read from /proc).
* ``--split PxW`` (e.g. ``2x2``): ``store_many(processes=P, workers=W)`` over 20 files and over
  ``--files``, interleaved; the difference per extra file is the steady cost (wall, the parent's
  CPU, the workers' CPU), and the 20-file run is the start-up.

    .venv/bin/python benchmarks/store_scaling.py --polling [--files 500] [--runs 5]
    .venv/bin/python benchmarks/store_scaling.py --split 2x2 [--files 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import peers
from bulk_store import sdk, write_files

from client_sdk import Client, Peer

_FAST = {"on": False}
_real_sleep = time.sleep


def _polling_shim() -> None:
    """pynetdicom's association and DUL modules see a ``time`` whose sleeps of 1 ms and more
    last a tenth as long while ``_FAST["on"]``."""
    import pynetdicom.association
    import pynetdicom.dul

    def sleep(seconds: float) -> None:
        _real_sleep(seconds / 10 if _FAST["on"] and seconds >= 0.001 else seconds)

    shim = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if k[0] != "_"})
    shim.sleep = sleep
    for module in (pynetdicom.association, pynetdicom.dul):
        vars(module)["time"] = shim


def _cpu() -> tuple[float, float]:
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


def polling(folder: Path, count: int, runs: int) -> None:
    _polling_shim()
    files = write_files(folder / "files", count)
    ids = peers.identities(folder)
    with peers.storescp(folder / "scp", fork=False) as scp:
        pid = _pid_of(scp.port)
        client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), identity=ids.keyring)
        sdk(client, files[:20], 1)
        got: dict[str, list[tuple[float, float, float]]] = {"stock": [], "sleeps / 10": []}
        for _ in range(runs):
            for mode, values in got.items():
                _FAST["on"] = mode != "stock"
                own, peer, started = _cpu()[0], peers.cpu_seconds(pid) or 0.0, time.perf_counter()
                sdk(client, files, 1)
                wall = time.perf_counter() - started
                own, peer = _cpu()[0] - own, (peers.cpu_seconds(pid) or 0.0) - peer
                values.append((wall / count * 1000, own / count * 1000, peer / count * 1000))
                peers.empty(scp.output)
    for mode, values in got.items():
        wall, own, peer = (statistics.median(v[i] for v in values) for i in range(3))
        print(
            f"{mode}: {wall:.2f} ms a file ({1000 / wall:.0f} files/s); CPU a file: sender "
            f"{own:.2f} ms, storescp {peer:.2f} ms"
        )


def split(folder: Path, shape: str, count: int, runs: int) -> None:
    processes, workers = map(int, shape.split("x"))
    files = write_files(folder / "files", count)
    ids = peers.identities(folder)
    with peers.storescp(folder / "scp", fork=True) as scp:
        client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), identity=ids.keyring)
        sdk(client, files[:20], 1)
        got: dict[int, list[tuple[float, float, float]]] = {20: [], count: []}
        for _ in range(runs):
            for n, values in got.items():
                (own, children), started = _cpu(), time.perf_counter()
                sdk(client, files[:n], workers, processes=processes)
                wall = time.perf_counter() - started
                values.append((wall, _cpu()[0] - own, _cpu()[1] - children))
                peers.empty(scp.output)
    small, large = (
        [statistics.median(v[i] for v in got[n]) for i in range(3)] for n in (20, count)
    )
    extra = [(b - a) / (count - 20) * 1000 for a, b in zip(small, large, strict=True)]
    print(
        f"processes={processes} x workers={workers}: a 20-file run {small[0]:.2f} s wall, "
        f"parent {small[1]:.2f} s CPU, workers {small[2]:.2f} s CPU; each further file "
        f"{extra[0]:.2f} ms wall ({1000 / extra[0]:.0f} files/s), parent {extra[1]:.2f} ms CPU, "
        f"workers {extra[2]:.2f} ms CPU"
    )


def _pid_of(port: int) -> int:
    """The storescp listening on ``port`` (not forking: the one process that stores)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"storescp") and str(port).encode() in argv:
                return int(entry.name)
    raise RuntimeError(f"no storescp on port {port}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polling", action="store_true")
    parser.add_argument("--split", metavar="PxW")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    why = peers.dcmtk_missing()
    if why:
        print(why)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        if args.polling:
            polling(Path(tmp), args.files or 500, args.runs or 5)
        if args.split:
            split(Path(tmp), args.split, args.files or 1000, args.runs or 3)
    print(f"load average {os.getloadavg()}; {os.cpu_count()} CPUs; {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
