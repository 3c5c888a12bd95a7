#!/usr/bin/env python3
"""Benchmark 3: bulk C-STORE throughput, the SDK against DCMTK's storescu (issue 7).

``--files`` generated CT-like files (256 x 256, 16 bit, about 130 KB each; no patient data) in a
temp folder, sent to DCMTK's ``storescp --fork`` (writing to a temp folder) and to the embedded
PACS (which keeps them in memory): ``storescu`` over one association, the SDK's ``store_many``
over one association and over 4 parallel associations (a keyring-password identity on each; one
identity exchange per association), and ``store_many(processes=2)``: 2 worker processes of one
and of two associations each, which rebuild the keyring provider and read the password themselves
(the threads of one process share one interpreter lock). Each is timed twice in the same run:
from the call (the workers' start-up, about an interpreter and pynetdicom's import each, counted),
and from its first result to its last (the start-up not counted; the rate scaled to every file).
Their CPU is this process's and its workers' (reaped), start-up included.
storescu sends the same user and password (``--user``).
The cases run interleaved, ``--bulk-runs`` times each after a warm-up of 20 files; the result is
the median throughput and its ratio to storescu's (the processes' to the SDK's one association),
with the CPU per file of sender and peer.
Goals: the SDK on one association >= 0.9 x storescu; on 4 associations >= 3 x storescu; with 2
processes >= 2 x the SDK on one association (issue 16).

    .venv/bin/python benchmarks/bulk_store.py [--files 1000] [--bulk-runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import peers
from rounds import Row, ratio_rows, run_alone

from client_sdk import Client, Peer, StoreProgress, StoreResult
from client_sdk.testing import CT_IMAGE_STORAGE, ct_dataset

STORESCU = "storescu, 1 association"
ONE = "sdk, 1 association"
# store_many(processes=P, workers=W): each timed with the workers' start-up, and without.
SHAPES = ((2, 1), (2, 2))
COUNTED = {
    shape: f"sdk, processes={shape[0]} x {shape[1]} association{'s' * (shape[1] > 1)}, "
    "start-up counted"
    for shape in SHAPES
}
STEADY = {
    name: name.replace("start-up counted", "first to last result") for name in COUNTED.values()
}
GOALS = {ONE: ">= 0.9", "sdk, 4 associations": ">= 3"}
GOALS.update({name: ">= 2" for name in [*COUNTED.values(), *STEADY.values()]})
BASELINES = {name: ONE for name in [*COUNTED.values(), *STEADY.values()]}
WARMUP_FILES = 20


def write_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        ds = ct_dataset(patient_id="BENCH-1", rows=256, columns=256, seed=n)
        ds.InstanceNumber = n + 1
        path = folder / f"ct{n:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def storescu(port: int, ae_title: str, files: list[Path]) -> None:
    program = shutil.which("storescu")
    assert program is not None
    argv = [program, "-aet", "BENCH", "-aec", ae_title, "--user", peers.USER]
    argv += ["--password", peers.PASSWORD, "127.0.0.1", str(port), *map(str, files)]
    done = subprocess.run(argv, capture_output=True, timeout=60 + len(files), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"storescu failed ({done.returncode}): {done.stderr.decode()[-2000:]}")


def sdk_processes(
    client: Client, files: list[Path], processes: int, workers: int
) -> tuple[float, float]:
    """``store_many(processes=...)``: the seconds from the call to its return (the workers'
    start-up counted), and from its first result to its last, scaled to every file."""
    first: list[float] = []

    def progress(result: StoreResult) -> None:
        if not first:
            first.append(time.perf_counter())

    started = time.perf_counter()
    sdk(client, files, workers, processes=processes, progress=progress)
    ended = time.perf_counter()
    steady = (ended - first[0]) * len(files) / max(len(files) - 1, 1)
    return ended - started, steady


def sdk(
    client: Client,
    files: list[Path],
    workers: int,
    *,
    processes: int = 1,
    progress: StoreProgress | None = None,
) -> None:
    report = client.store_many(
        files,
        workers=workers,
        sop_classes=[CT_IMAGE_STORAGE],
        processes=processes,
        progress=progress,
    )
    if report.failed:
        first = report.failed[0]
        raise RuntimeError(
            f"{len(report.failed)} files not stored; first {first.name}: {first.error}"
        )


# One case's run over these files; the processes case returns its seconds from first to last
# result too (the caller's clock and CPU counters measure the rest).
Send = Callable[[list[Path]], float | None]


@dataclass(frozen=True)
class PeerRun:
    """The cases for one timed run against a fresh peer, and the peer's process id (its CPU
    time is read from /proc before and after), or None when a run's share cannot be told apart:
    storescp --fork reaps a child only when it next accepts an association."""

    cases: dict[str, Send]
    pid: int | None


FreshPeer = Callable[[], contextlib.AbstractContextManager[PeerRun]]


def _own_cpu() -> float:
    """CPU seconds of this process and of the children it waited for (storescu)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _peer_cpu(pid: int | None) -> float | None:
    return None if pid is None else peers.cpu_seconds(pid)


def _measure(name: str, fresh_peer: FreshPeer, files: list[Path], runs: int) -> list[Row]:
    with fresh_peer() as peer:  # warm-up: imports, first associations, page cache
        for send in peer.cases.values():
            send(files[:WARMUP_FILES])
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[tuple[float, float | None]]] = {}
    for _ in range(runs):
        for case in _case_names():
            with fresh_peer() as peer:
                peer_before, own_before = _peer_cpu(peer.pid), _own_cpu()
                started = time.perf_counter()
                steady = peer.cases[case](files)
                elapsed = time.perf_counter() - started
                own, peer_after = _own_cpu() - own_before, _peer_cpu(peer.pid)
                rates.setdefault(case, []).append(len(files) / elapsed)
                used = None
                if peer_before is not None and peer_after is not None:
                    used = peer_after - peer_before
                cpu.setdefault(case, []).append((own, used))
                if steady is not None:  # the same run, its start-up left out
                    rates.setdefault(STEADY[case], []).append(len(files) / steady)
                    cpu.setdefault(STEADY[case], []).append((own, used))
    medians = {case: statistics.median(values) for case, values in rates.items()}
    notes = {case: _cpu_note(values, len(files)) for case, values in cpu.items()}
    return ratio_rows(
        name,
        medians,
        "files/s",
        baseline=STORESCU,
        goals=GOALS,
        baselines=BASELINES,
        notes=notes,
    )


def _cpu_note(values: list[tuple[float, float | None]], files: int) -> str:
    """CPU per file, medians over the runs: the sender (storescu, or this process for the SDK)
    and the peer, and the rate the machine's cores allow at that cost: a rate near it is bound by
    CPU, not by waiting."""
    own = statistics.median(v[0] for v in values) / files * 1000
    measured = [v[1] for v in values if v[1] is not None]
    if not measured:
        return f"CPU per file: sender {own:.1f} ms"
    peer = statistics.median(measured) / files * 1000
    ceiling = (os.cpu_count() or 1) * 1000 / (own + peer)
    return (
        f"CPU per file: sender {own:.1f} ms + peer {peer:.1f} ms; "
        f"{os.cpu_count()} cores allow at most {ceiling:.0f} files/s"
    )


def _case_names() -> list[str]:
    return [STORESCU, ONE, "sdk, 4 associations", *COUNTED.values()]


def _cases(client: Client, port: int, ae_title: str) -> dict[str, Send]:
    def one_process(workers: int) -> Send:
        return lambda files: sdk(client, files, workers)

    def processes(count: int, workers: int) -> Send:
        return lambda files: sdk_processes(client, files, count, workers)[1]

    return {
        STORESCU: lambda files: storescu(port, ae_title, files),
        ONE: one_process(1),
        "sdk, 4 associations": one_process(4),
        **{name: processes(*shape) for shape, name in COUNTED.items()},
    }


def run(args: argparse.Namespace) -> list[Row]:
    why = peers.dcmtk_missing()
    if why:
        return [Row("3 bulk store", STORESCU, None, "", note=why)]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_files(folder / "files", max(args.files, WARMUP_FILES))
        ids = peers.identities(folder)
        note = f"{len(files)} files of {files[0].stat().st_size // 1024} KB"

        with peers.storescp(folder / "storescp", fork=True) as scp:
            client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), identity=ids.keyring)

            @contextlib.contextmanager
            def storescp_run() -> Iterator[PeerRun]:
                try:
                    cases = _cases(client, scp.port, scp.ae_title)
                    yield PeerRun(cases, None)
                finally:
                    peers.empty(scp.output)  # what it wrote: not timed

            name = f"3 bulk store to storescp --fork, {note}"
            rows += _measure(name, storescp_run, files, args.bulk_runs)

        @contextlib.contextmanager
        def pacs_run() -> Iterator[PeerRun]:
            # A fresh PACS process per run: it keeps what it receives in memory.
            with peers.embedded_pacs_process(folder / "pacs") as pacs:
                peer = Peer(pacs.host, pacs.port, pacs.ae_title)
                client = Client(peer, identity=ids.keyring)
                cases = _cases(client, pacs.port, pacs.ae_title)
                yield PeerRun(cases, pacs.pid)

        name = f"3 bulk store to the embedded PACS (own process), {note}"
        rows += _measure(name, pacs_run, files, args.bulk_runs)
    return rows


def main() -> int:
    return run_alone(run, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
