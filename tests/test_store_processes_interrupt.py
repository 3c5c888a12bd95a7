"""Ctrl-C during ``dicom-identity store --processes N``: the worker processes take each
Ctrl-C from this process, by number over their pipe (and by SIGUSR1 while they start), so
the first lets the files in flight finish and the second aborts them, however busy a worker
is, and a Ctrl-C while the workers start leaves no input without its result."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import poll
from tests.holding_scp import holding_store_scp
from tests.installed_cli import start_cli
from tests.store_files import cli_events, file_events, write_files
from tests.stream_lines import Lines


def test_cli_a_second_ctrl_c_aborts_the_files_in_flight_of_every_process(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """``--processes 2`` to a peer that holds every C-STORE: with one file in flight in each
    process, the first Ctrl-C waits for them (and says so once), the second aborts both at once,
    long before the DIMSE timeout: those two fail (the peer may have them), the rest are not
    sent; exit 130. The identity comes from the flags (--user): the workers rebuild it."""
    out, err, stopped_in, returncode = _ctrl_c_twice(tmp_path, env, frozen_workers=False)
    _assert_both_in_flight_aborted(tmp_path / "in", out, returncode, stopped_in)
    assert err.count("interrupted: no new input is sent") == 1  # said once, not per process
    assert err.strip().splitlines()[-1] == "dicom-identity: interrupted"


def test_cli_two_ctrl_c_a_busy_worker_had_no_time_for_still_abort(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The workers are stopped (SIGSTOP) while both Ctrl-Cs are relayed, as a worker busy on a
    loaded machine may not run between them: the two relayed signals then arrive as one. Each
    worker still aborts its file in flight once it runs again, because each Ctrl-C also goes
    over the pipe with its number. (With the signal alone it waited for the DIMSE timeout.)"""
    out, err, stopped_in, returncode = _ctrl_c_twice(tmp_path, env, frozen_workers=True)
    _assert_both_in_flight_aborted(tmp_path / "in", out, returncode, stopped_in)
    assert err.count("interrupted: no new input is sent") == 1


def test_cli_ctrl_c_while_the_workers_start(tmp_path: Path, env: dict[str, str]) -> None:
    """Ctrl-C while the worker processes are still starting (they are stopped as soon as they
    exist, mid-import, and let go after the warning): each stops before it builds its client
    or, if it was already running, before it takes a new input. Every file has one result and
    none failed; no traceback; exit 130, promptly."""
    files = write_files(tmp_path / "in", 6)
    options = ["--user", "alice", str(files[0].parent), "-r", "--processes", "2"]
    with holding_store_scp(0) as scp:  # holds nothing: every C-STORE answered at once
        address = [f"127.0.0.1:{scp.port}", "--ae-title", scp.ae_title]
        code, out, err, stopped_in = _ctrl_c_while_starting([*address, *options], tmp_path, env)
    found = file_events(cli_events(out))
    assert sorted(e["path"] for e in found) == sorted(map(str, files))
    assert not [e for e in found if e["result"] == "failed"], found
    assert code == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "dicom-identity: interrupted"
    assert stopped_in < 10


def _ctrl_c_while_starting(
    args: list[str], tmp_path: Path, env: dict[str, str]
) -> tuple[int, str, str, float]:
    """``store ARGS``: its workers stopped as soon as they exist, Ctrl-C, let go after the
    warning. Returns the exit code, stdout, stderr and the seconds from the let-go to the exit."""
    proc, lines, errors = start_cli("--json", "store", *args, env=env, cwd=tmp_path)
    frozen: list[int] = []
    with _killed_at_the_end(proc, frozen):
        poll(lambda: len(_worker_pids(proc.pid)) == 2, timeout=60, what="two worker processes")
        frozen += _worker_pids(proc.pid)
        _signal_each(frozen, signal.SIGSTOP)
        proc.send_signal(signal.SIGINT)
        seen = _read_until(errors, "interrupted: no new input is sent")
        _signal_each(frozen, signal.SIGCONT)
        let_go = time.monotonic()
        out, err = _rest(proc, lines, errors, seen)
        stopped_in = time.monotonic() - let_go
    return proc.returncode, out, err, stopped_in


def _ctrl_c_twice(
    tmp_path: Path, env: dict[str, str], *, frozen_workers: bool
) -> tuple[str, str, float, int]:
    """``store --processes 2`` of 6 files to a holding peer; Ctrl-C once both processes have a
    file in flight, and again after the warning. With ``frozen_workers`` the worker processes
    are stopped from before the first Ctrl-C until the second is relayed (``--debug`` says so).
    Returns stdout, stderr, the seconds from the second Ctrl-C to the exit, the exit code."""
    files = write_files(tmp_path / "in", 6)
    options = ["--user", "alice", str(files[0].parent), "-r", "--processes", "2"]
    options += ["--dimse-timeout", "60"] + (["--debug"] if frozen_workers else [])
    with holding_store_scp(60) as scp:
        address = [f"127.0.0.1:{scp.port}", "--ae-title", scp.ae_title]
        proc, lines, errors = start_cli(
            "--json", "store", *address, *options, env=env, cwd=tmp_path
        )
        frozen: list[int] = []
        with _killed_at_the_end(proc, frozen):
            poll(lambda: len(scp.arrivals) == 2, timeout=60, what="a file in flight per process")
            if frozen_workers:
                frozen += _worker_pids(proc.pid)
                assert len(frozen) == 2, frozen
                _signal_each(frozen, signal.SIGSTOP)
            proc.send_signal(signal.SIGINT)
            seen = _read_until(errors, "interrupted: no new input is sent")
            if not frozen_workers:
                assert seen[-1].startswith("dicom-identity: warning: interrupted"), seen
            proc.send_signal(signal.SIGINT)
            aborted = time.monotonic()
            if frozen_workers:
                seen += _read_until(errors, "Ctrl-C 2 relayed to the worker process 2")
                _signal_each(frozen, signal.SIGCONT)
            out, err = _rest(proc, lines, errors, seen)
            stopped_in = time.monotonic() - aborted
    return out, err, stopped_in, proc.returncode


@contextlib.contextmanager
def _killed_at_the_end(proc: subprocess.Popen[str], frozen: list[int]) -> Iterator[None]:
    """Whatever happens inside: the ``frozen`` workers are let go and the command is killed
    (nothing, once it has ended)."""
    try:
        yield
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                os.kill(pid, signal.SIGCONT)
        proc.kill()


def _signal_each(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        os.kill(pid, sig)


def _rest(
    proc: subprocess.Popen[str], lines: Lines, errors: Lines, seen: list[str]
) -> tuple[str, str]:
    """The rest of stdout, and stderr after the lines ``seen`` already; the command's end."""
    out, err = lines.text(30), "".join(seen) + errors.text(30)
    proc.wait(timeout=30)
    return out, err


def _assert_both_in_flight_aborted(
    folder: Path, out: str, returncode: int, stopped_in: float
) -> None:
    found = file_events(cli_events(out))
    assert sorted(e["path"] for e in found) == sorted(map(str, folder.iterdir()))
    failed = [e for e in found if e["result"] == "failed"]
    assert len(failed) == 2 and sum(e["result"] == "not-sent" for e in found) == 4, found
    assert all("interrupted (Ctrl-C twice) while in flight" in e["reason"] for e in failed)
    assert returncode == 130
    assert stopped_in < 10  # not the 60 s DIMSE timeout


def _read_until(errors: Lines, text: str) -> list[str]:
    """The stderr lines up to and including the first that holds ``text`` (each within 30 s)."""
    seen: list[str] = []
    while not seen or text not in seen[-1]:
        line = errors.next()
        assert line is not None, f"stderr closed before {text!r}: {seen}"
        seen.append(line)
    return seen


def _worker_pids(parent: int) -> list[int]:
    """The pids of the ``spawn`` worker processes of ``parent`` (not its resource tracker)."""
    children: list[int] = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            children += [int(pid) for pid in (task / "children").read_text().split()]
    spawned = []
    for pid in children:
        with contextlib.suppress(FileNotFoundError):  # it ended meanwhile
            if (
                b"multiprocessing.spawn import spawn_main"
                in Path(f"/proc/{pid}/cmdline").read_bytes()
            ):
                spawned.append(pid)
    return spawned
