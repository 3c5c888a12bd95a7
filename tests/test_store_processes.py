"""``store_many(processes=N)`` and ``dicom-identity store --processes N`` against the embedded
PACS: the same results, order, progress, audit events and failures as with threads; the worker
processes rebuild their provider from a recipe with no secret and fetch the secret themselves."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from client_sdk import (
    AuditEvent,
    AuthenticationRejected,
    Client,
    ConfigError,
    DimseFailure,
    InvalidConfig,
    InvalidDicomFile,
    Peer,
    Policy,
    StoreResult,
    XmlFileAuditSink,
)
from client_sdk._errors import (
    AssociationAborted,
    AssociationRejected,
    AuditUnavailable,
    ServerResponseMissing,
    TlsHandshakeFailed,
)
from client_sdk._operations.bulk import DEFAULT_STORAGE_CLASSES
from client_sdk._operations.portable_errors import PortableError
from client_sdk._operations.worker_recipe import WorkerRecipe
from client_sdk.testing import EmbeddedPacs
from providers import (
    JwtFileProvider,
    KeyringEntryMissing,
    KeyringPasswordProvider,
    NoCredentials,
    OidcLoginProvider,
    PasswordProvider,
    ProviderChain,
    ProviderNotRebuildable,
    TokenRequestRejected,
)
from providers._oidc_errors import LoginRequired
from tests.conftest import poll
from tests.holding_scp import holding_store_scp
from tests.installed_cli import run_cli, start_cli
from tests.leak_search import find_leaks
from tests.store_files import RESULTS, cli_events, file_events, write_files
from tests.store_processes_support import RecordingKeyring
from tests.timeouts import THIRD_PARTY

PASSWORD = "processes-canary-Pa55word"
WRONG = "processes-wrong-Pa55word"


class ListSink:
    """An audit sink of this process that keeps the events (the workers' come here too)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self.events.append(event)


@pytest.fixture
def canary_pacs() -> Iterator[EmbeddedPacs]:
    """An embedded PACS that knows alice by this module's canary password."""
    with EmbeddedPacs(users={"alice": PASSWORD}) as server:
        yield server


@pytest.fixture
def keyring_file(tmp_path: Path) -> RecordingKeyring:
    backend = RecordingKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    Path(backend.file_path).parent.mkdir()
    backend.set_password("embedded-pacs", "alice", PASSWORD)
    return backend


def client_of(server: EmbeddedPacs, identity: Any, **kwargs: Any) -> Client:
    kwargs.setdefault("timeouts", THIRD_PARTY)
    return Client(Peer(server.host, server.port, server.ae_title), identity=identity, **kwargs)


def shown(result: StoreResult) -> tuple[Any, ...]:
    """A result as the caller sees it, its error by class and message."""
    error = None if result.error is None else (type(result.error), str(result.error))
    return (result.index, result.path, result.result, result.status, result.sop_instance_uid, error)


def in_form(event: AuditEvent) -> AuditEvent:
    """The event without what differs between two runs: when, and which process."""
    return dataclasses.replace(event, time=datetime(2000, 1, 1, tzinfo=UTC), process_id=0)


def test_results_order_progress_and_audit_equal_to_threads(
    canary_pacs: EmbeddedPacs, keyring_file: RecordingKeyring, tmp_path: Path
) -> None:
    """24 good files and a broken one among them: the same report with threads (2 associations)
    and with 2 processes of 1 association; progress once per input; one identity exchange per
    association; the audit events, recorded by this process's sink, equal in form."""
    files = write_files(tmp_path / "in", 24)
    broken = tmp_path / "in" / "ct010-broken.dcm"
    broken.write_bytes(files[0].read_bytes()[:600])
    files.insert(10, broken)
    identity = KeyringPasswordProvider("embedded-pacs", "alice", backend=keyring_file)
    runs = {}
    for mode, options in (("threads", {"workers": 2}), ("processes", {"processes": 2})):
        canary_pacs.clear()
        sink = ListSink()
        seen: list[StoreResult] = []
        report = client_of(canary_pacs, identity, audit=sink).store_many(
            iter(files), progress=seen.append, **options
        )
        assert sorted(r.index for r in seen) == list(range(25))  # progress once per input
        assert [r.path for r in report.results] == files  # input order
        received = {str(ds.SOPInstanceUID) for ds in canary_pacs.datasets}
        assert received == {r.sop_instance_uid for r in report.results if r.stored}
        records = canary_pacs.wait_for_records(2)
        assert len(records) == len(report.associations) == len(sink.events) == 2
        assert all(rec.principal == "alice" and rec.ended == "released" for rec in records)
        runs[mode] = (report, sink.events)
    (threads, thread_events), (processes, process_events) = runs["threads"], runs["processes"]
    assert [shown(r) for r in processes.results] == [shown(r) for r in threads.results]
    assert processes.stored == 24
    (failed,) = processes.failed
    assert failed.path == broken and isinstance(failed.error, InvalidDicomFile)
    assert (failed.error.path, failed.error.check, failed.error.status) == (
        threads.failed[0].error.path,  # type: ignore[union-attr]
        threads.failed[0].error.check,  # type: ignore[union-attr]
        None,
    )
    assert sum(use.files for use in processes.associations) == 24
    assert [in_form(e) for e in process_events] == [in_form(e) for e in thread_events]
    # The workers opened the associations, and each read the password itself.
    assert {e.process_id for e in process_events}.isdisjoint({os.getpid()})
    reads = keyring_file.reads()
    assert reads.count(os.getpid()) == 2  # the two threads' associations
    worker_reads = [pid for pid in reads if pid != os.getpid()]
    assert sorted(worker_reads) == sorted(e.process_id for e in process_events)


def test_the_recipe_sent_to_workers_holds_no_secret(
    canary_pacs: EmbeddedPacs, keyring_file: RecordingKeyring
) -> None:
    identity = KeyringPasswordProvider("embedded-pacs", "alice", backend=keyring_file)
    client = client_of(canary_pacs, identity)
    client.echo()  # the parent has read the password once
    recipe = WorkerRecipe.of(
        client.settings, workers=2, sop_classes=DEFAULT_STORAGE_CLASSES, transfer_syntaxes=()
    )
    sent = pickle.dumps((recipe, repr(client.audit)))  # what _Pool._start hands each worker
    assert find_leaks(sent.decode("latin-1"), [PASSWORD]) == []
    assert find_leaks(repr(recipe), [PASSWORD]) == []
    assert "embedded-pacs" in repr(recipe) and keyring_file.file_path in repr(recipe)
    rebuilt = pickle.loads(sent)[0].settings(None).identity
    assert isinstance(rebuilt, KeyringPasswordProvider) and rebuilt is not identity
    assert rebuilt.negotiate(client.target).request.principal == "alice"


def test_a_password_held_in_memory_is_refused(canary_pacs: EmbeddedPacs) -> None:
    taken: list[int] = []

    def inputs() -> Iterator[Path]:
        taken.append(1)
        yield Path("never.dcm")

    client = client_of(canary_pacs, PasswordProvider("alice", PASSWORD))
    with pytest.raises(ProviderNotRebuildable) as info:
        client.store_many(inputs(), processes=2)
    message = str(info.value)
    assert "PasswordProvider cannot be rebuilt in a worker process" in message
    assert "KeyringPasswordProvider" in message and "processes=1" in message
    assert find_leaks(message + repr(info.value), [PASSWORD]) == []
    assert taken == [] and canary_pacs.records == []  # refused before any input or association

    def closure_rule(outcome: object) -> Any:
        raise AssertionError("never called")

    bad_policy = client_of(canary_pacs, None, policy=Policy(missing_response=closure_rule))
    with pytest.raises(ConfigError, match="cannot be sent to a worker process"):
        bad_policy.store_many(inputs(), processes=2)
    assert taken == []


def test_authentication_rejected_in_a_worker_stops_the_run(
    canary_pacs: EmbeddedPacs, tmp_path: Path, keyring_file: RecordingKeyring
) -> None:
    """The wrong password in the keyring: the workers' associations are rejected; the typed
    error, with its rejection fields, is raised here; nothing was stored; every input taken has
    one result; the password is in no result, message, note or pickle."""
    keyring_file.set_password("embedded-pacs", "alice", WRONG)
    files = write_files(tmp_path / "in", 30)
    seen: list[StoreResult] = []
    identity = KeyringPasswordProvider("embedded-pacs", "alice", backend=keyring_file)
    with pytest.raises(AuthenticationRejected) as info:
        client_of(canary_pacs, identity).store_many(iter(files), processes=2, progress=seen.append)
    error = info.value
    assert (error.result, error.source, error.reason) == error.triple
    assert error.triple[0] in (1, 2)  # rejected (permanent or transient)
    assert any(note.startswith("store_many stopped: 0 of the") for note in error.__notes__)
    assert canary_pacs.datasets == []
    assert len({r.index for r in seen}) == len(seen) > 0  # one result per input taken
    assert all(not r.stored for r in seen)
    assert {r.result for r in seen} <= {"not-sent", "failed"}
    text = str(error) + repr(error) + "".join(error.__notes__) + repr(seen)
    text += pickle.dumps(PortableError.of(error)).decode("latin-1")
    assert find_leaks(text, [WRONG, PASSWORD]) == []


def test_input_is_taken_lazily(canary_pacs: EmbeddedPacs, tmp_path: Path) -> None:
    """A generator of 60 inputs: at any result, at most processes * (2 * workers + 1) inputs
    are out of it without a result."""
    (one,) = write_files(tmp_path / "in", 1)
    pulled = 0
    done = 0
    most_ahead = 0

    def inputs() -> Iterator[Any]:
        nonlocal pulled
        for _ in range(60):
            pulled += 1
            yield dcmread(one)  # datasets cross to the workers too

    def progress(result: StoreResult) -> None:
        nonlocal done, most_ahead
        done += 1
        most_ahead = max(most_ahead, pulled - done)

    client = client_of(canary_pacs, None)
    report = client.store_many(inputs(), processes=2, workers=2, progress=progress)
    assert report.stored == 60 and done == 60
    assert 0 < most_ahead <= 2 * (2 * 2 + 1)


def test_a_worker_that_dies_stops_the_run(tmp_path: Path) -> None:
    """SIGKILL to a worker while its file is in flight (a peer that holds every C-STORE): the
    run stops with AssociationAborted naming it; the inputs it held fail (whether they were
    stored is unknown); every input taken has exactly one result."""
    files = write_files(tmp_path / "in", 20)
    pulled = 0
    seen: list[StoreResult] = []
    ended: list[BaseException] = []

    def inputs() -> Iterator[Path]:
        nonlocal pulled
        for path in files:
            pulled += 1
            yield path

    with holding_store_scp(30) as scp:
        client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), timeouts=THIRD_PARTY)

        def run() -> None:
            try:
                client.store_many(inputs(), processes=2, progress=seen.append)
            except BaseException as error:
                ended.append(error)

        caller = threading.Thread(target=run)
        caller.start()
        try:
            poll(lambda: len(scp.arrivals) == 2, timeout=60, what="a file in flight per process")
            os.kill(multiprocessing.active_children()[0].pid or 0, signal.SIGKILL)
            poll(lambda: bool(seen), timeout=30, what="the dead worker's inputs failed")
        finally:
            scp.release.set()
            poll(lambda: not caller.is_alive(), timeout=60, what="store_many to return")
    (error,) = ended
    assert isinstance(error, AssociationAborted) and "exited with code -9" in str(error)
    assert "store_many stopped" in error.__notes__[-1]
    assert sorted(r.index for r in seen) == list(range(pulled))  # each taken input once
    unknown = [r for r in seen if isinstance(r.error, AssociationAborted)]
    assert unknown and all(r.result == "failed" for r in unknown)
    assert all("whether the inputs it held were stored is unknown" in str(r.error) for r in unknown)
    assert sum(r.stored for r in seen) == 1  # the other worker's file, released


@pytest.mark.parametrize(
    "error",
    [
        DimseFailure("C-STORE failed", status=0xA700),
        InvalidDicomFile("cannot store a.dcm", path="a.dcm", check="truncated"),
        AssociationRejected("rejected", result=1, source=1, reason=3),
        AuthenticationRejected("who?", result=1, source=1, reason=1),
        TlsHandshakeFailed("no TLS", reason="WRONG_VERSION_NUMBER"),
        ServerResponseMissing("no response"),
        AuditUnavailable("no audit", sink=ListSink()),
        KeyringEntryMissing("svc", "alice", backend="file"),
        NoCredentials([("KeyringPasswordProvider", "no entry")]),
        LoginRequired("log in", issuer="https://idp", client_id="c", command="login"),
        TokenRequestRejected("rejected", status=400, error="invalid_client", error_description="x"),
        InvalidConfig(["peers.a: no host", "peers.b: no port"]),
        KeyboardInterrupt(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_cross_processes_with_their_fields(error: BaseException) -> None:
    error.add_note("a note")
    restored = pickle.loads(pickle.dumps(PortableError.of(error))).restore()
    assert type(restored) is type(error)
    assert str(restored) == str(error) and restored.args == error.args
    fields = {k: v for k, v in vars(error).items() if k != "sink"}
    assert {k: v for k, v in vars(restored).items() if k != "sink"} == fields
    assert restored.__notes__ == ["a note"]


# --- the installed command line ---------------------------------------------------------------


def write_config(tmp_path: Path, server: EmbeddedPacs) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[peers.local]
host = "{server.host}"
port = {server.port}
ae_title = "{server.ae_title}"
identity = "alice"

[identities.alice]
type = "keyring-password"
username = "alice"
service = "embedded-pacs"
"""
    )
    return config


def test_cli_report_and_resume_with_processes(
    canary_pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    """Run 1 (--processes 2) is interrupted by Ctrl-C after 15 results: every file has one
    result in --json and in --report, exit 130. Run 2 resumes from the report with --processes
    2: it sends exactly the files not stored, so the PACS gets each file once. No password in
    the output, the reports or the audit log."""
    files = write_files(tmp_path / "study", 120)
    config = write_config(tmp_path, canary_pacs)
    keyring = run_cli(
        "--config",
        str(config),
        "keyring",
        "set",
        "local",
        env=env,
        cwd=tmp_path,
        stdin=PASSWORD + "\n",
    )
    assert keyring.returncode == 0, keyring.stderr
    first, second, audit = tmp_path / "run1.jsonl", tmp_path / "run2.jsonl", tmp_path / "a.xml"
    common = ["--config", str(config), "--json", "store", "local", str(tmp_path / "study"), "-r"]
    common += ["--processes", "2", "--audit-file", str(audit)]
    proc, out, errors = start_cli(*common, "--report", str(first), env=env, cwd=tmp_path)
    try:
        lines: list[dict[str, Any]] = []
        while len(file_events(lines)) < 15:
            line = out.next()
            assert line, f"the run ended early: {lines} {errors.text()}"
            lines.append(json.loads(line))
        proc.send_signal(signal.SIGINT)
        rest, stderr = out.text(), errors.text()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    run1 = lines + cli_events(rest)
    found = file_events(run1)
    assert sorted(e["path"] for e in found) == sorted(map(str, files))  # each once
    counts = {kind: sum(1 for e in found if e["result"] == kind) for kind in RESULTS}
    assert counts["failed"] == 0 and counts["not-sent"] > 0 and counts["stored"] >= 15, counts
    assert stderr.strip().splitlines()[-1] == "dicom-identity: interrupted"
    assert stderr.count("interrupted: no new input is sent") == 1  # once, not once per process
    reported = [json.loads(line) for line in first.read_text().splitlines()]
    assert sorted(r["path"] for r in reported) == sorted(str(p.absolute()) for p in files)
    stored_first = {r["sop_instance_uid"] for r in reported if r["result"] == "stored"}
    assert {str(ds.SOPInstanceUID) for ds in canary_pacs.datasets} == stored_first

    resumed = run_cli(  # --debug: the workers' pynetdicom dumps come back here, scrubbed
        "--debug", *common, "--resume", str(first), "--report", str(second), env=env, cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("Password: [redacted]") == 2  # each worker's A-ASSOCIATE-RQ
    sent = file_events(cli_events(resumed.stdout))
    assert len(sent) == len(files) - len(stored_first)
    assert all(e["result"] == "stored" for e in sent)
    uids = [str(ds.SOPInstanceUID) for ds in canary_pacs.datasets]
    assert len(uids) == len(set(uids)) == len(files)  # every file once, none twice
    assert sum(1 for line in second.read_text().splitlines() if '"stored"' in line) == len(files)
    associations = [e for e in cli_events(resumed.stdout) if e["event"] == "association"]
    assert len(associations) == 2 and all(e["principal"] == "alice" for e in associations)

    everything = rest + stderr + resumed.stdout + resumed.stderr + json.dumps(lines)
    everything += first.read_text() + second.read_text() + audit.read_text()
    # An event per association of both runs (run 1 may have stopped before its second worker
    # associated: Ctrl-C came early).
    assert audit.read_text().count("\n") == len(canary_pacs.records) >= 3
    assert find_leaks(everything, [PASSWORD]) == []


def test_cli_processes_below_one_is_refused(
    canary_pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    (one,) = write_files(tmp_path / "in", 1)
    config = write_config(tmp_path, canary_pacs)
    args = ["--config", str(config), "store", "local", str(one), "--processes", "0"]
    bad = run_cli(*args, env=env, cwd=tmp_path)
    assert bad.returncode == 3 and "--processes must be 1 or more" in bad.stderr
    assert canary_pacs.records == []


def test_recipes_of_the_file_and_login_providers(tmp_path: Path, keyring_file: Any) -> None:
    """Each rebuilt provider reads its credential from the same place; a login that needs this
    process (interactive, its own prompt) is refused."""
    jwt = JwtFileProvider(tmp_path / "token.jwt", audience="pacs", leeway=5)
    oidc = OidcLoginProvider(
        "https://127.0.0.1:9/idp", client_id="sdk", keyring_backend=keyring_file, ca_file=None
    )
    chain = ProviderChain([jwt, oidc])
    rebuilt = pickle.loads(pickle.dumps(chain.recipe())).build()
    assert isinstance(rebuilt, ProviderChain)
    new_jwt, new_oidc = rebuilt.providers
    assert isinstance(new_jwt, JwtFileProvider) and isinstance(new_oidc, OidcLoginProvider)
    assert (new_jwt.path, new_jwt.audience, new_jwt.leeway) == (jwt.path, "pacs", 5)
    assert (new_oidc.issuer, new_oidc.client_id) == (oidc.issuer, "sdk")
    assert new_oidc.keyring_entry == oidc.keyring_entry
    with pytest.raises(ProviderNotRebuildable, match="interactive login"):
        OidcLoginProvider("https://127.0.0.1:9/idp", client_id="sdk", interactive=True).recipe()
    with pytest.raises(ProviderNotRebuildable, match="prompt or browser opener"):
        OidcLoginProvider("https://127.0.0.1:9/idp", client_id="sdk", prompt=print).recipe()


def test_a_required_audit_trail_that_cannot_write_stops_the_workers(
    canary_pacs: EmbeddedPacs, tmp_path: Path, keyring_file: RecordingKeyring
) -> None:
    """audit_required and a directory where the audit file should be: each worker asks this
    process's sink, which refuses, so no worker fetches the credential or associates; the
    AuditUnavailable raised here names this process's sink, as with threads."""
    files = write_files(tmp_path / "in", 4)
    audit = tmp_path / "audit.xml"
    audit.mkdir()
    sink = XmlFileAuditSink(audit)
    identity = KeyringPasswordProvider("embedded-pacs", "alice", backend=keyring_file)
    client = client_of(canary_pacs, identity, audit=sink, audit_required=True)
    errors = {}
    for mode, options in (("threads", {"workers": 2}), ("processes", {"processes": 2})):
        with pytest.raises(AuditUnavailable) as info:
            client.store_many(files, **options)
        errors[mode] = info.value
    assert str(errors["processes"]) == str(errors["threads"])
    assert "Is a directory" in str(errors["processes"]) and str(audit) in str(errors["processes"])
    assert errors["processes"].sink is sink
    assert keyring_file.reads() == [] and canary_pacs.records == []


def test_a_progress_callback_that_raises_stops_the_run(
    canary_pacs: EmbeddedPacs, tmp_path: Path
) -> None:
    files = write_files(tmp_path / "in", 40)
    seen: list[StoreResult] = []

    def progress(result: StoreResult) -> None:
        seen.append(result)
        if len(seen) == 3:
            raise RuntimeError("callback broke")

    with pytest.raises(RuntimeError, match="callback broke"):
        client_of(canary_pacs, None).store_many(files, processes=2, progress=progress)
    assert len({r.index for r in seen}) == len(seen) < 40  # stopped; each taken input once
    stored = {r.sop_instance_uid for r in seen if r.stored}
    assert {str(ds.SOPInstanceUID) for ds in canary_pacs.datasets} == stored
