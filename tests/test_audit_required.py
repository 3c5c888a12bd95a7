"""Issue 14, finding 11: an audit trail that fails closed.

``Client(audit_required=True)``, ``[audit] required = true`` and ``--audit-required``: before
anything is fetched or sent, the audit file must take a message (it opens for appending, is a
regular file, its file system and the file size limit leave room); once the association is up,
its event must be written, or the association is aborted before any DIMSE operation. Both end in
``AuditUnavailable`` (exit code 10), naming the file and the cause.

Real failures only: a full tmpfs (mounted here, as root), a file system remounted read-only, a
file size limit (``RLIMIT_FSIZE`` in the command's own process, SIGXFSZ ignored), a directory or
a dangling link where the file should be (root ignores file modes, so chmod would prove nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from client_sdk import (
    AuditSinks,
    AuditUnavailable,
    Client,
    InvalidConfig,
    LoggingAuditSink,
    Overrides,
    Peer,
    XmlFileAuditSink,
    load_config,
)
from client_sdk._audit.sinks import MIN_ROOM
from client_sdk._cli.exit_codes import EXIT_CODES
from client_sdk.testing import EmbeddedPacs
from providers import IdentityExchange, PasswordProvider, Target
from tests.conftest import poll
from tests.installed_cli import cli_command, run_cli
from tests.timeouts import LOCAL

ROOT = Path(__file__).resolve().parent.parent
USERS = {"alice": "audit-required-Pa55word"}


# --- fixtures: the peer, the command line's environment, a small file system -------------------


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users=USERS) as server:
        yield server


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 KiB tmpfs, unmounted afterwards. Mounting needs root (CAP_SYS_ADMIN)."""
    where = tmp_path / "small-fs"
    where.mkdir()
    mounted = _mount("-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", str(where))
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill(directory: Path) -> None:
    """Write to ``directory`` until its file system is full (ENOSPC)."""
    with (directory / "filler").open("ab", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 4096)
    assert os.statvfs(directory).f_bfree == 0


def cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert not tmp_path.resolve().is_relative_to(ROOT)
    return run_cli(*args, env=env, cwd=tmp_path)


def echo_args(pacs: EmbeddedPacs, audit: Path, *more: str) -> list[str]:
    peer = f"{pacs.host}:{pacs.port}"
    return [
        "echo",
        peer,
        "--ae-title",
        pacs.ae_title,
        "--user",
        "alice",
        "--audit-file",
        str(audit),
    ]


def error_event(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    (event,) = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert isinstance(event, dict) and event["event"] == "error"
    return event


class CountingProvider:
    """A password provider that counts how often the credential was fetched."""

    identity_type = PasswordProvider.identity_type

    def __init__(self) -> None:
        self.inner = PasswordProvider("alice", USERS["alice"])
        self.calls = 0

    def negotiate(self, target: Target) -> IdentityExchange:
        self.calls += 1
        exchange: IdentityExchange = self.inner.negotiate(target)
        return exchange


# --- what may be required, and where it is set ------------------------------------------------


def test_required_needs_a_sink_that_reports_a_failed_write(tmp_path: Path) -> None:
    peer = Peer("127.0.0.1", 104, "PACS")
    for sink in (None, LoggingAuditSink(), AuditSinks([LoggingAuditSink()])):
        with pytest.raises(ValueError, match="XmlFileAuditSink"):
            Client(peer, audit=sink, audit_required=True)
    with pytest.raises(TypeError):
        Client(peer, audit=XmlFileAuditSink(tmp_path / "a.xml"), audit_required="yes")  # type: ignore[arg-type]
    both = AuditSinks([LoggingAuditSink(), XmlFileAuditSink(tmp_path / "a.xml")])
    assert Client(peer, audit=both, audit_required=True).audit_required
    assert not Client(peer).audit_required  # the default: a failing sink is logged only


def test_the_configuration_key_the_variable_and_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[peers.pacs]\nhost = "127.0.0.1"\nport = 104\nae_title = "PACS"\n'
        '[audit]\nfile = "audit.xml"\nrequired = true\n'
    )
    config = load_config(path, environ={})
    assert config.client("pacs").audit_required
    (setting,) = [s for s in config.effective("pacs") if s.key == "audit.required"]
    assert (setting.value, setting.source) == ("true", f"file: {path}:audit.required")

    path.write_text('[peers.pacs]\nhost = "127.0.0.1"\nport = 104\nae_title = "PACS"\n')
    config = load_config(path, environ={})
    assert not config.client("pacs").audit_required
    with pytest.raises(InvalidConfig, match=r"audit\.required = true \(argument\) needs audit"):
        config.client("pacs", overrides=Overrides(audit_required=True))
    flagged = Overrides(audit_required=True, audit_file=str(tmp_path / "a.xml"))
    assert config.client("pacs", overrides=flagged).audit_required
    variable = load_config(path, environ={"DICOM_IDENTITY_AUDIT_REQUIRED": "yes"})
    with pytest.raises(InvalidConfig, match="environment: DICOM_IDENTITY_AUDIT_REQUIRED"):
        variable.client("pacs")


def test_exit_code_10_is_documented() -> None:
    assert (AuditUnavailable, 10) in [(kind, code) for kind, code, _ in EXIT_CODES]
    readme = (ROOT / "README.md").read_text()
    assert "| 10 | audit required" in readme


# --- an audit file that cannot be written: refused before anything is fetched or sent ---------


def test_a_directory_in_place_of_the_file(tmp_path: Path, pacs: EmbeddedPacs) -> None:
    provider = CountingProvider()
    audit = tmp_path / "audit.xml"
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=provider,
        audit=XmlFileAuditSink(audit),
        audit_required=True,
        timeouts=LOCAL,
    )
    audit.mkdir()  # after the client is built: a rotation gone wrong
    with pytest.raises(AuditUnavailable) as info:
        client.echo()
    message = str(info.value)
    assert str(audit) in message and "Is a directory" in message
    assert "no association was requested" in message
    assert provider.calls == 0, "the credential must not be fetched"
    assert pacs.records == [], "no association may be requested"


def test_a_dangling_link_in_place_of_the_file(
    tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs
) -> None:
    audit = tmp_path / "audit.xml"
    audit.symlink_to(tmp_path / "gone" / "audit.xml")  # its folder was removed
    run = cli(tmp_path, env, "--json", *echo_args(pacs, audit), "--audit-required")
    assert run.returncode == 10, run.stderr
    event = error_event(run)
    assert event["error"] == "AuditUnavailable" and event["exit_code"] == 10
    assert str(audit) in event["message"] and "No such file or directory" in event["message"]
    assert pacs.records == []


def test_a_read_only_file_system(
    small_fs: Path, tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs
) -> None:
    audit = small_fs / "audit.xml"
    audit.write_text("")
    remounted = _mount("-o", "remount,ro", str(small_fs))
    assert remounted.returncode == 0, remounted.stderr
    run = cli(tmp_path, env, *echo_args(pacs, audit), "--audit-required")
    assert run.returncode == 10, run.stderr
    assert "Read-only file system" in run.stderr and str(audit) in run.stderr
    assert pacs.records == []


# --- a full disk -------------------------------------------------------------------------------


def test_a_full_disk(
    small_fs: Path, tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs
) -> None:
    audit = small_fs / "audit.xml"
    fill(small_fs)
    run = cli(tmp_path, env, *echo_args(pacs, audit), "--audit-required")
    assert run.returncode == 10, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, lines  # one line: the error, naming the file and the cause
    assert "AuditUnavailable" in lines[0] and str(audit) in lines[0] and "is full" in lines[0]
    assert pacs.records == [], "no association may be requested"
    # The control: without --audit-required the same disk does not stop the association.
    run = cli(tmp_path, env, *echo_args(pacs, audit))
    assert run.returncode == 0, run.stderr
    assert len(pacs.wait_for_records(1, ended=True, timeout=10)) == 1


class FillingPeer:
    """A pynetdicom Verification SCP on 127.0.0.1 that fills ``directory``'s file system when an
    A-ASSOCIATE-RQ arrives: the disk fills after the client's check and before its event."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.echoes = 0
        self.aborted = threading.Event()
        ae = AE(ae_title="FILLING")
        ae.add_supported_context(Verification)
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = 10
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, lambda event: fill(self.directory)),
            (evt.EVT_C_ECHO, self._echo),
            (evt.EVT_ABORTED, lambda event: self.aborted.set()),
        ]
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        assert server is not None
        self.server = server
        self.port = int(self.server.server_address[1])

    def _echo(self, event: Any) -> int:
        self.echoes += 1
        return 0x0000


def test_the_disk_fills_once_the_association_is_up(small_fs: Path) -> None:
    audit = small_fs / "audit.xml"
    peer = FillingPeer(small_fs)
    try:
        client = Client(
            Peer("127.0.0.1", peer.port, "FILLING"),
            audit=XmlFileAuditSink(audit),
            audit_required=True,
            timeouts=LOCAL,
        )
        with pytest.raises(AuditUnavailable) as info:
            client.echo()
        message = str(info.value)
        assert "aborted before any DIMSE operation" in message and "is full" in message
        poll(peer.aborted.is_set, timeout=10, what="the peer to see the A-ABORT")
        assert peer.echoes == 0, "no DIMSE operation may run"
        assert not audit.exists() or audit.read_bytes() == b""  # not even part of a line
    finally:
        peer.server.shutdown()


# --- a file size limit (RLIMIT_FSIZE), in the command's own process -------------------------


def run_limited(
    tmp_path: Path, env: dict[str, str], args: list[str], limit: int
) -> subprocess.CompletedProcess[str]:
    def limited() -> None:  # runs in the child, before exec: both survive the exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [*cli_command(), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=limited,
    )


@pytest.mark.parametrize("room", [0, MIN_ROOM + 100], ids=["no-room", "room-for-less"])
def test_a_file_size_limit(
    tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs, room: int
) -> None:
    audit = tmp_path / "audit.xml"
    # Required and writable: the association goes on and its event is on record.
    first = cli(tmp_path, env, *echo_args(pacs, audit), "--audit-required")
    assert first.returncode == 0, first.stderr
    before = audit.read_bytes()
    (line,) = before.splitlines()
    ET.fromstring(line)
    assert len(line) > MIN_ROOM + 100  # so "room-for-less" is too little for this event
    pacs.wait_for_records(1, ended=True, timeout=10)

    run = run_limited(
        tmp_path, env, [*echo_args(pacs, audit), "--audit-required"], len(before) + room
    )
    assert run.returncode == 10, run.stderr
    assert "ulimit -f" in run.stderr and str(audit) in run.stderr
    assert audit.read_bytes() == before, "no part of a line may be written"
    if room == 0:
        # The check before the request finds no room: nothing was requested.
        assert "no association was requested" in run.stderr
        assert len(pacs.records) == 1
    else:
        # Room for the smallest message, not for this one: found when the event is written,
        # once the association is up; it is aborted before the C-ECHO.
        assert "aborted before any DIMSE operation" in run.stderr
        records = pacs.wait_for_records(2, ended=True, timeout=10)
        assert records[1].ended == "aborted" and records[1].dimse == []


def test_without_required_a_failed_write_only_logs(tmp_path: Path, pacs: EmbeddedPacs) -> None:
    audit = tmp_path / "audit.xml"
    audit.mkdir()
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title), audit=XmlFileAuditSink(audit), timeouts=LOCAL
    )
    # The default: the audit trail never breaks an association (the failure is logged).
    assert client.echo() == 0x0000
    assert len(pacs.wait_for_records(1, ended=True, timeout=10)) == 1
