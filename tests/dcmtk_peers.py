"""DCMTK programs (storescp, dcmqrscp, storescu) as real peers for interop tests.

Every server is started on a port from ``free_port()`` and waited for until the kernel lists a
listening socket of that very process on that port (a TCP probe would show up in DCMTK's log as an
association of its own). Its stdout and stderr go to one log file under the test's temp folder,
which :meth:`DcmtkProcess.report` puts into assertion messages. :class:`DcmtkPeers` kills every
process it started (SIGTERM to the process group, then SIGKILL) when its ``with`` block ends,
whether or not the test failed.

DCMTK 3.6.7 has no option to choose the listening address: storescp and dcmqrscp listen on all
interfaces. Every connection the tests make goes to 127.0.0.1, and the servers live seconds.

Seen with Debian's DCMTK 3.6.7: ``dcmqrscp --single-process`` dies with SIGSEGV after its first
association, so dcmqrscp runs in its default fork mode (the children log to the same file and are
in the same process group).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tests.conftest import free_port, require_program

__all__ = [
    "DcmtkIdentity",
    "DcmtkPeers",
    "DcmtkProcess",
    "DcmtkRun",
    "DumpedPdu",
    "associate_request_pdus",
    "association_requests",
    "files_in",
    "requested_identity",
]

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
REPORT_CHARS = 12_000
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp


def _listening(port: int, pid: int) -> bool | None:
    """Whether process ``pid`` has a socket listening on ``port`` (None without /proc)."""
    inodes: set[str] = set()
    seen_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        seen_table = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and fields[1].endswith(f":{port:04X}"):
                inodes.add(fields[9])
    if not seen_table:
        return None
    if not inodes:
        return False
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        targets = {os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)}
    except OSError:  # it exited meanwhile
        return False
    return any(f"socket:[{inode}]" in targets for inode in inodes)


def _tail(text: str, limit: int = REPORT_CHARS) -> str:
    return (
        text if len(text) <= limit else f"[... {len(text) - limit} chars cut ...]\n{text[-limit:]}"
    )


def _log_flags(level: str) -> list[str]:
    return ["-d"] if level == "debug" else ["--log-level", level]


def _wait(until: float) -> None:
    """A bounded pause between two polls (never a fixed sleep standing in for a condition)."""
    threading.Event().wait(max(0.0, min(0.02, until - time.monotonic())))


@dataclass
class DcmtkProcess:
    """A running DCMTK server and its log file."""

    argv: list[str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes]
    ae_title: str
    workdir: Path
    output_dir: Path | None = None  # storescp's --output-directory, dcmqrscp's storage area

    @property
    def program(self) -> str:
        return Path(self.argv[0]).name

    @property
    def command(self) -> str:
        return shlex.join([self.program, *self.argv[1:]])

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def report(self, limit: int = REPORT_CHARS) -> str:
        """The command, its state and the end of its log: for assertion messages."""
        code = self.popen.poll()
        state = "running" if code is None else f"exited with {code}"
        return (
            f"\n$ {self.command}   ({state})\n--- {self.log_path} ---\n{_tail(self.log(), limit)}"
        )

    def wait_for(
        self, pattern: str | re.Pattern[str], *, count: int = 1, timeout: float = 10.0
    ) -> list[re.Match[str]]:
        """Wait until the log holds ``count`` matches of the regex ``pattern``; returns them all."""
        regex = re.compile(pattern, re.MULTILINE) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            matches = list(regex.finditer(self.log()))
            if len(matches) >= count:
                return matches
            exited = self.popen.poll() is not None
            if exited or time.monotonic() > deadline:
                why = "the program exited" if exited else f"{timeout} s passed"
                raise AssertionError(
                    f"{why} with {len(matches)} of {count} log lines matching "
                    f"{regex.pattern!r}{self.report()}"
                )
            _wait(deadline)

    def stop(self) -> None:
        """SIGTERM to the whole process group (dcmqrscp forks), then SIGKILL; bounded."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=STOP_TIMEOUT)
        # Forked children (dcmqrscp) may outlive the parent's exit: the group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


@dataclass(frozen=True)
class DcmtkRun:
    """A DCMTK client run to completion (storescu): its exit code and its log file."""

    argv: list[str]
    returncode: int
    log_path: Path

    @property
    def command(self) -> str:
        return shlex.join([Path(self.argv[0]).name, *self.argv[1:]])

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def report(self, limit: int = REPORT_CHARS) -> str:
        return (
            f"\n$ {self.command}   (exit code {self.returncode})\n--- {self.log_path} ---\n"
            f"{_tail(self.log(), limit)}"
        )


@dataclass
class DcmtkPeers:
    """Starts DCMTK programs in ``workdir`` and kills them all on exit; a context manager."""

    workdir: Path
    processes: list[DcmtkProcess] = field(default_factory=list)
    runs: list[DcmtkRun] = field(default_factory=list)
    _started: int = 0

    def __enter__(self) -> DcmtkPeers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        errors: list[BaseException] = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except BaseException as error:  # stop the others first, then report
                errors.append(error)
        if errors:
            raise errors[0]

    # Servers ---------------------------------------------------------------------------------

    def storescp(
        self, *, ae_title: str = "STORESCP", log_level: str = "debug", extra: Sequence[str] = ()
    ) -> DcmtkProcess:
        """``storescp -d --aetitle AE --output-directory DIR PORT`` (another ``log_level``:
        ``--log-level LEVEL`` instead of ``-d``).

        ``debug``: the A-ASSOCIATE-RQ/AC dump with the user identity item (and a type-2
        password in clear). ``trace`` also names every DUL event, e.g. an A-ABORT PDU.
        """
        program = require_program("storescp", "dcmtk")
        name = self._name("storescp")
        output = self.workdir / f"{name}-received"
        output.mkdir()

        def argv(port: int) -> list[str]:
            return [
                program,
                *_log_flags(log_level),
                "--aetitle",
                ae_title,
                "--output-directory",
                str(output),
                *extra,
                str(port),
            ]

        return self._serve(name, argv, ae_title, output)

    def dcmqrscp(
        self,
        *,
        ae_title: str = "QRSCP",
        move_destinations: Mapping[str, tuple[str, int]] | None = None,
        log_level: str = "debug",
        extra: Sequence[str] = (),
    ) -> DcmtkProcess:
        """``dcmqrscp -d -c CONFIG PORT`` over a read-write storage area in the
        temp folder (C-STORE, C-FIND, C-GET, C-MOVE); ``move_destinations`` (AE title ->
        (host, port)) go into the HostTable, so C-MOVE can send to them."""
        program = require_program("dcmqrscp", "dcmtk")
        name = self._name("dcmqrscp")
        storage = self.workdir / f"{name}-storage"
        storage.mkdir()
        config = self.workdir / f"{name}.cfg"
        hosts = [
            f"dest{i} = ({title}, {host}, {port})"
            for i, (title, (host, port)) in enumerate((move_destinations or {}).items())
        ]

        def argv(port: int) -> list[str]:
            # NetworkTCPPort is required in the file; the port argument overrides it.
            config.write_text(
                "\n".join(
                    [
                        f"NetworkTCPPort = {port}",
                        "MaxPDUSize = 16384",
                        "MaxAssociations = 16",
                        "HostTable BEGIN",
                        *hosts,
                        "HostTable END",
                        "VendorTable BEGIN",
                        "VendorTable END",
                        "AETable BEGIN",
                        f"{ae_title} {storage} RW (100, 1024mb) ANY",
                        "AETable END",
                        "",
                    ]
                )
            )
            return [program, *_log_flags(log_level), "-c", str(config), *extra, str(port)]

        return self._serve(name, argv, ae_title, storage)

    def _serve(
        self,
        name: str,
        make_argv: Callable[[int], list[str]],
        ae_title: str,
        output_dir: Path | None = None,
    ) -> DcmtkProcess:
        failures: list[str] = []
        for attempt in range(3):  # free_port() races with other programs: retry on a new port
            port = free_port()
            argv = make_argv(port)
            suffix = f"-retry{attempt}" if attempt else ""
            log_path = self.workdir / f"{name}{suffix}.log"
            with log_path.open("wb") as log:
                popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    start_new_session=True,  # its own process group: stop() kills forks too
                )
            process = DcmtkProcess(argv, port, log_path, popen, ae_title, self.workdir, output_dir)
            self.processes.append(process)
            if self._until_listening(process):
                return process
            failures.append(process.report())
            process.stop()
            if "already in use" not in process.log():
                break
        raise AssertionError(f"{name} did not start listening:" + "\n".join(failures))

    @staticmethod
    def _until_listening(process: DcmtkProcess) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while process.popen.poll() is None and time.monotonic() < deadline:
            state = _listening(process.port, process.popen.pid)
            if state is None:  # no /proc: fall back to a TCP probe (DCMTK logs it, harmlessly)
                with contextlib.suppress(OSError):
                    socket.create_connection((HOST, process.port), timeout=0.2).close()
                    return True
            elif state:
                return True
            _wait(deadline)
        return False

    # Clients ---------------------------------------------------------------------------------

    def storescu(self, *args: str, timeout: float = 20.0) -> DcmtkRun:
        """Run ``storescu ARGS`` to completion (killed after ``timeout`` s); output to a file."""
        program = require_program("storescu", "dcmtk")
        log_path = self.workdir / f"{self._name('storescu')}.log"
        argv = [program, *args]
        with log_path.open("wb") as log:
            try:
                completed = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                run = DcmtkRun(argv, -1, log_path)
                self.runs.append(run)
                raise AssertionError(
                    f"storescu ran longer than {timeout} s{run.report()}"
                ) from None
        run = DcmtkRun(argv, completed.returncode, log_path)
        self.runs.append(run)
        return run

    def _name(self, program: str) -> str:
        self._started += 1
        return f"{self._started:02d}-{program}"

    def reports(self) -> str:
        """Every command with the end of its log, in the order they started."""
        items: list[DcmtkProcess | DcmtkRun] = [*self.processes, *self.runs]
        items.sort(key=lambda item: item.log_path.name)
        return "\n".join(item.report() for item in items)


# Reading DCMTK's association dump ------------------------------------------------------------

_RQ_BLOCK = re.compile(
    r"^D: =+ BEGIN A-ASSOCIATE-RQ =+\n(.*?)^D: =+ END A-ASSOCIATE-RQ =+$", re.MULTILINE | re.DOTALL
)


def association_requests(log: str, called: str | None = None) -> list[str]:
    """Each A-ASSOCIATE-RQ as DCMTK dumped it at debug level (``-d``), oldest first; with
    ``called``, only those to that AE title (not dcmqrscp's own, e.g. for C-MOVE)."""
    blocks = [m.group(1) for m in _RQ_BLOCK.finditer(log)]
    if called is None:
        return blocks
    line = re.compile(rf"^D: Called Application Name: +{re.escape(called)}$", re.MULTILINE)
    return [block for block in blocks if line.search(block)]


@dataclass(frozen=True)
class DcmtkIdentity:
    """The "Requested User Identity Negotiation" part of one dump, as DCMTK printed it."""

    lines: tuple[str, ...]  # the dump's lines for the item, without the "D: " prefix
    mode: int | None
    mode_label: str | None
    username: str | None
    password: str | None
    token_length: int | None  # "... (not dumped) length: N" for Kerberos, SAML, JWT
    positive_response: bool | None


_MODE = re.compile(r"^\s*Authentication mode (\d+): (.+)$")
_USERNAME = re.compile(r"^\s*Username: \[(.*)\]$")
_PASSWORD = re.compile(r"^\s*Password: \[(.*)\]$")
_TOKEN = re.compile(r"^\s*.+ \(not dumped\) length: (\d+)$")
_POSITIVE = re.compile(r"^\s*Positive Response requested: (Yes|No)$")


def requested_identity(block: str) -> DcmtkIdentity | None:
    """The identity item of one A-ASSOCIATE-RQ dump, or None for DCMTK's "...: none"."""
    lines = [line.removeprefix("D: ") for line in block.splitlines()]
    try:
        start = lines.index("Requested User Identity Negotiation:")
    except ValueError:
        return None
    item: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        item.append(line)

    def first(regex: re.Pattern[str], group: int = 1) -> str | None:
        for line in item:
            match = regex.match(line)
            if match:
                return match.group(group)
        return None

    mode = first(_MODE)
    length = first(_TOKEN)
    positive = first(_POSITIVE)
    return DcmtkIdentity(
        lines=tuple(line.strip() for line in item),
        mode=int(mode) if mode is not None else None,
        mode_label=first(_MODE, 2),
        username=first(_USERNAME),
        password=first(_PASSWORD),
        token_length=int(length) if length is not None else None,
        positive_response=None if positive is None else positive == "Yes",
    )


def files_in(directory: Path, patterns: Iterable[str] = ("*",)) -> list[Path]:
    """The regular files in ``directory`` matching any pattern, sorted."""
    found = {p for pattern in patterns for p in directory.glob(pattern) if p.is_file()}
    return sorted(found)


_PDU_HEADER = re.compile(
    r"^D: PDU Type: Associate Request, PDU Length: (\d+) \+ 6 bytes PDU header$"
)
_HEX_ROW = re.compile(r"^D:((?:\s+[0-9a-f]{2})+)\s*$")


@dataclass(frozen=True)
class DumpedPdu:
    """An A-ASSOCIATE-RQ as DCMTK hex-dumped it at debug level: the first 512 bytes at most
    ("Only dumping 512 bytes.")."""

    length: int  # the whole PDU, header included
    data: bytes  # what was dumped, from the first byte

    @property
    def complete(self) -> bool:
        return len(self.data) == self.length

    def holds(self, item: bytes) -> bool:
        """Whether ``item`` is in the PDU; in a cut dump, whether the dump ends inside it with
        the item's bytes so far (at least its 8-byte header and a first field byte)."""
        if item in self.data:
            return True
        if self.complete:
            return False
        at = self.data.find(item[:9])
        return at >= 0 and self.data[at:] == item[: len(self.data) - at]


def associate_request_pdus(log: str) -> list[DumpedPdu]:
    """The A-ASSOCIATE-RQ PDUs that DCMTK hex-dumped at debug level, oldest first."""
    pdus: list[DumpedPdu] = []
    lines = log.splitlines()
    for index, line in enumerate(lines):
        header = _PDU_HEADER.match(line)
        if not header:
            continue
        data = bytearray()
        for row in lines[index + 1 :]:
            if row == "D: Only dumping 512 bytes.":
                continue
            match = _HEX_ROW.match(row)
            if not match:
                break
            data += bytes.fromhex(match.group(1).replace(" ", ""))
        pdus.append(DumpedPdu(int(header.group(1)) + 6, bytes(data)))
    return pdus
