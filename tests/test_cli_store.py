"""``dicom-identity store``, installed, run from a folder outside the checkout: broken files are
refused before sending, and every input file gets exactly one result (stored, failed, not-sent)
on stdout, in ``--json`` and in ``--report``, also when the PACS is killed or Ctrl-C stops the
run; ``--resume`` sends exactly the rest."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from client_sdk.testing import EmbeddedPacs, ct_dataset
from tests.conftest import poll
from tests.dcmtk_peers import DcmtkPeers
from tests.holding_scp import holding_store_scp
from tests.installed_cli import cli_command, run_cli
from tests.processes import background, listening
from tests.stream_lines import Lines

PASSWORD = "store-cli-canary-Pa55word"
RESULTS = {"stored", "failed", "not-sent"}


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users={"alice": PASSWORD}) as p:
        yield p


def peer(host: str, port: int | str, ae_title: str) -> list[str]:
    return [f"{host}:{port}", "--ae-title", ae_title, "--user", "alice"]


def write_files(folder: Path, count: int, *, rows: int = 8) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"ct{n:04d}.dcm"
        ct_dataset(patient_id="STORE-CLI", rows=rows, columns=rows, seed=n).save_as(
            path, enforce_file_format=True
        )
        paths.append(path)
    return paths


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def file_events(all_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in all_events if e["event"] in RESULTS]


def summary_of(all_events: list[dict[str, Any]]) -> dict[str, Any]:
    (summary,) = [e for e in all_events if e["event"] == "message" and "not_sent" in e]
    return summary


def assert_each_file_once(found: list[dict[str, Any]], files: list[Path]) -> Counter[str]:
    """Every input exactly once, with a known result and an event kind that says it."""
    assert sorted(e["path"] for e in found) == sorted(map(str, files))
    for e in found:
        assert e["event"] == e["result"] in RESULTS, e
        assert (e["reason"] is None) == (e["result"] == "stored"), e
    return Counter(e["result"] for e in found)


def start_store(*args: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [*cli_command(), "--json", "store", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, Lines(proc.stdout)


def until_results(lines: Lines, count: int) -> list[dict[str, Any]]:
    """The JSON events up to and including the ``count``-th file result."""
    seen: list[dict[str, Any]] = []
    while len(file_events(seen)) < count:
        line = lines.next()
        assert line is not None, f"the run ended after {seen}"
        seen.append(json.loads(line))
    return seen


def finish(proc: subprocess.Popen[str], lines: Lines) -> tuple[int, list[str], str]:
    rest = lines.rest()
    code = proc.wait(timeout=60)
    assert proc.stderr is not None
    return code, rest, proc.stderr.read()


def report_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- files checked before sending -------------------------------------------------------------


def test_truncated_file_is_refused_and_the_good_copy_stays(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    """The issue's case: 600 bytes of a CT whose full copy the PACS has. Not sent (no association
    is even opened for it), reported failed with where it breaks, exit 9. DCMTK's storescu
    refuses the same file."""
    (good,) = write_files(tmp_path / "in", 1, rows=64)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good.read_bytes()[:600])
    stored = run_cli(
        "store", *peer(pacs.host, pacs.port, pacs.ae_title), str(good), env=env, cwd=tmp_path
    )
    assert stored.returncode == 0, stored.stderr
    assert f"  path={good} result=stored status=0x0000" in stored.stdout

    result = run_cli(
        "store", *peer(pacs.host, pacs.port, pacs.ae_title), str(cut), env=env, cwd=tmp_path
    )
    assert result.returncode == 9, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if "path=" in line]
    assert line.startswith(f"  path={cut} result=failed status=- reason=cannot store {cut}")
    assert "(truncated check): element (0020,000D) at byte" in line
    assert "stored 0 of 1 files; 1 failed" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("dicom-identity: error (DimseFailure)")
    assert len(pacs.records) == 1  # the first store only
    (kept,) = pacs.datasets
    assert kept.PixelData == dcmread(good).PixelData

    (tmp_path / "dcmtk").mkdir()
    with DcmtkPeers(tmp_path / "dcmtk") as dcmtk:
        run = dcmtk.storescu("-aec", pacs.ae_title, pacs.host, str(pacs.port), str(cut))
    assert run.returncode != 0, run.report()
    assert "premature end of stream" in run.log(), run.report()
    (kept,) = pacs.datasets
    assert kept.PixelData == dcmread(good).PixelData


def test_uid_mismatch_with_the_meta_header_is_refused(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    ds = ct_dataset()
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.777"
    ds.preamble = b"\x00" * 128
    path = tmp_path / "mismatch.dcm"
    ds.save_as(path, enforce_file_format=False)  # the meta header keeps the old UID
    result = run_cli(
        "--json",
        "store",
        *peer(pacs.host, pacs.port, pacs.ae_title),
        str(path),
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 9
    (failed,) = file_events(events(result.stdout))
    assert failed["result"] == "failed" and failed["sop_instance_uid"] is None
    assert (
        "(sop-uids check): SOPInstanceUID 1.2.826.0.1.3680043.8.498.777 is not the meta "
        in (failed["reason"])
    )
    assert str(ds.file_meta.MediaStorageSOPInstanceUID) in failed["reason"]
    assert pacs.datasets == [] and pacs.records == []


def test_two_unreadable_files_are_both_named(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    """0.4.1 said "2 file(s) not stored; first: a.dcm" and named the second nowhere."""
    folder = tmp_path / "in"
    (good,) = write_files(folder, 1)
    bad = [folder / "a.dcm", folder / "b.dcm"]
    bad[0].write_text("not DICOM")
    bad[1].write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00")
    args = ["store", *peer(pacs.host, pacs.port, pacs.ae_title), str(folder), "-r"]
    text = run_cli(*args, env=env, cwd=tmp_path)
    assert text.returncode == 9
    for path, check in ((bad[0], "preamble"), (bad[1], "file-meta")):
        assert f"  path={path} result=failed status=- reason=cannot store {path} ({check} " in (
            text.stdout
        )
    assert f"  path={good} result=stored" in text.stdout
    assert "stored 1 of 3 files; 2 failed\n" in text.stdout

    as_json = run_cli("--json", *args, env=env, cwd=tmp_path)
    assert as_json.returncode == 9
    all_events = events(as_json.stdout)
    counts = assert_each_file_once(file_events(all_events), [good, *bad])
    assert counts == {"stored": 1, "failed": 2}
    summary = summary_of(all_events)
    assert (summary["stored"], summary["failed"], summary["not_sent"], summary["total"]) == (
        1,
        2,
        0,
        3,
    )
    assert all_events[-1]["event"] == "error" and all_events[-1]["exit_code"] == 9


# --- every input accounted for when the run stops ---------------------------------------------


def test_pacs_killed_mid_run(tmp_path: Path, env: dict[str, str]) -> None:
    """``store ./big -r --workers 2``, the PACS killed after 20 results: every file has one
    result (stdout, --json, --report), the counts add up, exit 5 (the reconnection refused)."""
    files = write_files(tmp_path / "big", 300)
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"alice": PASSWORD}))
    users.chmod(0o600)
    report = tmp_path / "report.jsonl"
    with background(
        ["-m", "client_sdk.testing", "--port", "0", "--users-file", str(users)]
    ) as server:
        found = listening(server)
        proc, lines = start_store(
            *peer(found["host"], found["port"], found["ae_title"]),
            "big",
            "-r",
            "--workers",
            "2",
            "--report",
            str(report),
            env=env,
            cwd=tmp_path,
        )
        try:
            before = until_results(lines, 20)
            server.proc.kill()
            code, rest, stderr = finish(proc, lines)
        finally:
            proc.kill()
    all_events = before + [json.loads(line) for line in rest]
    found_files = file_events(all_events)
    counts = assert_each_file_once(
        [{**e, "path": str(tmp_path / e["path"])} for e in found_files], files
    )
    summary = summary_of(all_events)
    assert summary["stored"] == counts["stored"] >= 20
    assert summary["failed"] == counts["failed"] <= 2  # at most the files in flight
    assert summary["not_sent"] == counts["not-sent"] > 0
    assert sum(counts.values()) == summary["total"] == 300
    not_sent = next(e for e in found_files if e["result"] == "not-sent")
    assert not_sent["reason"].startswith("the run stopped before it was sent (PeerUnreachable")
    assert code == 5, stderr
    assert all_events[-1]["event"] == "error" and all_events[-1]["exit_code"] == 5
    # The report: one line per input, each as on stdout but with an absolute path.
    by_path = {line["path"]: line for line in report_lines(report)}
    assert len(by_path) == len(report_lines(report)) == 300
    for e in found_files:
        assert by_path[str(tmp_path / e["path"])]["result"] == e["result"]


@pytest.mark.parametrize("parallel", ["--workers", "--processes"])
def test_ctrl_c_mid_run(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str], parallel: str
) -> None:
    """SIGINT after 20 results: the run stops promptly, every file has one result, the files in
    flight finished (none failed), the rest are not sent; the summary; exit 130. The same with
    two threads and with two processes (which take the Ctrl-C from this one over their pipe)."""
    files = write_files(tmp_path / "big", 300)
    proc, lines = start_store(
        *peer(pacs.host, pacs.port, pacs.ae_title),
        str(tmp_path / "big"),
        "-r",
        parallel,
        "2",
        env=env,
        cwd=tmp_path,
    )
    try:
        before = until_results(lines, 20)
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        code, rest, stderr = finish(proc, lines)
        stopped_in = time.monotonic() - interrupted
    finally:
        proc.kill()
    all_events = before + [json.loads(line) for line in rest]
    counts = assert_each_file_once(file_events(all_events), files)
    summary = summary_of(all_events)
    assert counts["failed"] == 0 and counts["not-sent"] > 0, counts
    assert (summary["stored"], summary["not_sent"]) == (counts["stored"], counts["not-sent"])
    assert summary["interrupted"] is True
    assert code == 130, stderr
    assert stderr.strip().splitlines()[-1] == "dicom-identity: interrupted"
    assert stopped_in < 10
    # What the PACS has is exactly what was reported stored.
    stored = {e["sop_instance_uid"] for e in file_events(all_events) if e["result"] == "stored"}
    assert {str(ds.SOPInstanceUID) for ds in pacs.datasets} == stored


def test_report_then_resume_sends_exactly_the_rest(tmp_path: Path, env: dict[str, str]) -> None:
    """Run 1 is cut short (its PACS killed); run 2 resumes from its report and sends exactly
    the files it does not show as stored (the truncated one again: it fails again); run 3
    resumes from run 2's report and sends no valid file twice."""
    folder = tmp_path / "study"
    files = write_files(folder, 60)
    cut = folder / "zz-cut.dcm"
    cut.write_bytes(files[0].read_bytes()[:600])
    every_uid = {str(dcmread(path).SOPInstanceUID) for path in files}
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"alice": PASSWORD}))
    users.chmod(0o600)
    first, second, third = (tmp_path / f"run{n}.jsonl" for n in (1, 2, 3))
    with background(
        ["-m", "client_sdk.testing", "--port", "0", "--users-file", str(users)]
    ) as server:
        found = listening(server)
        proc, lines = start_store(
            *peer(found["host"], found["port"], found["ae_title"]),
            str(folder),
            "-r",
            "--report",
            str(first),
            env=env,
            cwd=tmp_path,
        )
        try:
            until_results(lines, 10)
            server.proc.kill()
            assert finish(proc, lines)[0] == 5
        finally:
            proc.kill()
    stored_first = {r["sop_instance_uid"] for r in report_lines(first) if r["result"] == "stored"}
    assert 10 <= len(stored_first) < 60

    with EmbeddedPacs(users={"alice": PASSWORD}) as pacs:
        address = peer(pacs.host, pacs.port, pacs.ae_title)
        resumed = run_cli(
            "store",
            *address,
            str(folder),
            "-r",
            "--resume",
            str(first),
            "--report",
            str(second),
            env=env,
            cwd=tmp_path,
        )
        assert resumed.returncode == 9, resumed.stderr  # the truncated file, again
        assert f"resuming from {first}: {len(stored_first)} of 61 files already stored" in (
            resumed.stdout
        )
        arrived = [str(ds.SOPInstanceUID) for ds in pacs.datasets]
        assert sorted(arrived) == sorted(every_uid - stored_first)  # exactly the rest, once each
        assert f"path={cut} result=failed" in resumed.stdout

        again = run_cli(
            "store",
            *address,
            str(folder),
            "-r",
            "--resume",
            str(second),
            "--report",
            str(third),
            env=env,
            cwd=tmp_path,
        )
        assert again.returncode == 9, again.stderr
        assert "60 of 61 files already stored; sending 1" in again.stdout
        assert len(pacs.datasets) == len(arrived)  # nothing valid sent twice
        results = {r["path"]: r["result"] for r in report_lines(third)}
        assert results == {**{str(path): "stored" for path in files}, str(cut): "failed"}


def test_a_report_that_does_not_parse_is_a_config_error(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    files = write_files(tmp_path / "in", 2)
    report = tmp_path / "report.jsonl"
    report.write_text(
        json.dumps({"path": str(files[0]), "result": "stored"})
        + "\n{not json\n"
        + json.dumps({"path": str(files[1]), "result": "failed"})
        + "\n"
    )
    result = run_cli(
        "store",
        *peer(pacs.host, pacs.port, pacs.ae_title),
        *map(str, files),
        "--resume",
        str(report),
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert f"--resume {report}, line 2: not JSON" in result.stderr
    assert pacs.records == []


def test_a_second_ctrl_c_aborts_the_files_in_flight(tmp_path: Path, env: dict[str, str]) -> None:
    """A peer that does not answer the C-STORE: the first Ctrl-C waits for the file in flight
    (and says so), the second aborts it at once, long before the DIMSE timeout. That file is
    failed (the peer may have it), the others not sent; exit 130."""
    files = write_files(tmp_path / "in", 5)
    with holding_store_scp(60) as scp:
        proc, lines = start_store(
            *peer("127.0.0.1", scp.port, scp.ae_title),
            str(tmp_path / "in"),
            "-r",
            "--dimse-timeout",
            "60",
            env=env,
            cwd=tmp_path,
        )
        assert proc.stderr is not None
        errors = Lines(proc.stderr)
        try:
            poll(lambda: bool(scp.arrivals), timeout=30, what="the file in flight")
            proc.send_signal(signal.SIGINT)
            warning = errors.next()
            assert warning is not None and warning.startswith(
                "dicom-identity: warning: interrupted"
            )
            proc.send_signal(signal.SIGINT)
            aborted = time.monotonic()
            rest = lines.rest()
            code = proc.wait(timeout=30)
            stopped_in = time.monotonic() - aborted
        finally:
            proc.kill()
    all_events = [json.loads(line) for line in rest]
    counts = assert_each_file_once(file_events(all_events), files)
    assert counts == {"failed": 1, "not-sent": 4}, all_events
    (failed,) = [e for e in file_events(all_events) if e["result"] == "failed"]
    assert "interrupted (Ctrl-C twice) while in flight" in failed["reason"]
    assert "Whether the C-STORE took effect there is unknown" in failed["reason"]
    assert code == 130
    assert stopped_in < 10  # not the 60 s DIMSE timeout
    assert errors.rest()[-1].strip() == "dicom-identity: interrupted"
