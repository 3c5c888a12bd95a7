#!/usr/bin/env python3
"""Where the client's time goes: a pyinstrument profile.

Associate + C-ECHO + release with the username identity (or another case), ``--rounds`` times,
against the embedded PACS in a process of its own (so only the client is profiled). Prints
pyinstrument's call tree (wall-clock: waiting shows as waiting) and the median round.

``--store N`` profiles N ``Session.store`` of generated 128 KB CT files over one association
instead, against the embedded PACS or (``--peer storescp``) DCMTK's ``storescp``. The stores run
on the calling thread, which is the one pyinstrument records: ``store_many`` would run them on a
worker thread, where a profile of the calling thread shows only its wait. pynetdicom's own
threads (the DUL reactor writing and reading the PDUs, the association reactor) are not in the
tree; their share shows in the CPU line printed at the end (each thread's CPU per file, from
/proc).

    .venv/bin/python benchmarks/profile_round.py [--rounds 200] [--identity keyring] [--html F]
    .venv/bin/python benchmarks/profile_round.py --store 200 [--peer storescp] [--all]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import peers
from bulk_store import write_files
from pydicom.uid import ExplicitVRLittleEndian
from pyinstrument import Profiler
from rounds import sdk_round

from client_sdk import Client, Peer
from client_sdk.testing import CT_IMAGE_STORAGE
from providers import IdentityProvider

WARMUP_FILES = 20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--identity", choices=["username", "keyring", "jwt"], default="username")
    p.add_argument("--all", action="store_true", help="show library frames too")
    p.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    p.add_argument("--store", type=int, metavar="N", help="profile N Session.store instead")
    p.add_argument("--peer", choices=["pacs", "storescp"], default="pacs")
    p.add_argument("--interval", type=float, default=0.0005, help="sampling interval (s)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ids = peers.identities(Path(tmp))
        identity: dict[str, IdentityProvider] = {
            "username": ids.username,
            "keyring": ids.keyring,
            "jwt": ids.jwt,
        }
        with _peer(args.peer, Path(tmp)) as peer:
            client = Client(peer, identity=identity[args.identity])
            profiler = Profiler(interval=args.interval, async_mode="disabled")
            if args.store:
                summary = _profile_stores(client, profiler, Path(tmp) / "files", args.store)
            else:
                summary = _profile_rounds(client, profiler, args.rounds)
    print(profiler.output_text(unicode=True, color=False, show_all=args.all))
    print(summary)
    if args.html is not None:
        args.html.write_text(profiler.output_html())
    return 0


@contextlib.contextmanager
def _peer(which: str, folder: Path) -> Iterator[Peer]:
    if which == "storescp":
        with peers.storescp(folder / "storescp") as scp:
            yield Peer("127.0.0.1", scp.port, scp.ae_title)
    else:
        with peers.embedded_pacs_process(folder / "pacs") as pacs:
            yield Peer(pacs.host, pacs.port, pacs.ae_title)


def _profile_rounds(client: Client, profiler: Profiler, rounds: int) -> str:
    for _ in range(10):
        sdk_round(client)  # warm-up
    times = []
    # The calling thread only (pyinstrument records one thread): its waits on pynetdicom's
    # reactor and DUL threads, which poll every millisecond, show as waiting.
    profiler.start()
    for _ in range(rounds):
        started = time.perf_counter()
        sdk_round(client)
        times.append(time.perf_counter() - started)
    profiler.stop()
    median = statistics.median(times) * 1000
    return f"median round {median:.2f} ms over {rounds} rounds"


def _profile_stores(client: Client, profiler: Profiler, folder: Path, count: int) -> str:
    files = write_files(folder, count + WARMUP_FILES)
    warmup, files = files[:WARMUP_FILES], files[WARMUP_FILES:]
    # The files' own transfer syntax proposed in a context of its own, as store_many does: a
    # pynetdicom peer would otherwise pick Implicit VR and every file be converted.
    syntaxes = [ExplicitVRLittleEndian]
    with client.associate(sop_classes=[CT_IMAGE_STORAGE], transfer_syntaxes=syntaxes) as session:
        for path in warmup:  # imports, first use, page cache
            session.store(path)
        threads = {thread.native_id: thread.name for thread in threading.enumerate()}
        threads_before = {tid: _thread_cpu(tid) for tid in threads}
        process_before = _process_cpu()
        profiler.start()
        started = time.perf_counter()
        for path in files:
            session.store(path)
        elapsed = time.perf_counter() - started
        profiler.stop()
        process = _process_cpu() - process_before
        used = {tid: _thread_cpu(tid) - threads_before[tid] for tid in threads}
    per_file = 1000 / len(files)
    # pynetdicom's threads: its DUL reactor ("run_reactor": writes PDUs it is given, reads and
    # decodes the responses, polls every millisecond) and the association's reactor.
    each = ", ".join(
        f"{threads[tid]} {cpu * per_file:.2f} ms" for tid, cpu in used.items() if tid is not None
    )
    return (
        f"{len(files)} Session.store over one association: {len(files) / elapsed:.1f} files/s, "
        f"{elapsed * per_file:.2f} ms a file; CPU a file: {process * per_file:.2f} ms for the "
        f"process; by thread: {each}"
    )


def _process_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _thread_cpu(tid: int | None) -> float:
    """CPU seconds of one thread of this process so far, from /proc (Linux); 0 without."""
    try:
        stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after "tid (comm)": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    raise SystemExit(main())
