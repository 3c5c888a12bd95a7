"""Third-party programs for the interop tests: a logged child process, and Orthanc on 127.0.0.1.

``LoggedProcess`` runs a program in its own process group with stdout and stderr in one log file,
waits for a log line (or its exit) with a bound instead of sleeping, and stops the whole group:
SIGTERM (or the signal given), then SIGKILL after a bound. ``describe()`` is what an assertion
message attaches: the command, the exit status and the log.

``OrthancPeer`` writes an Orthanc configuration into a temp folder (DICOM on a free port, the HTTP
server off, storage and index in the folder, every DIMSE service allowed for unknown modalities,
one C-MOVE destination) and starts ``Orthanc --verbose`` with it. Given ``http_port`` it also runs
Orthanc's HTTP server (no authentication, remote access refused) with the ``plugins`` given, and is
ready only once that server answers on 127.0.0.1 (tests/web_servers.py runs the DICOMweb plugin).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from tests.conftest import free_port

__all__ = [
    "LogTimeout",
    "LoggedProcess",
    "OrthancPeer",
    "ProcessExited",
    "ProcessFailed",
    "program_version",
    "start_on_free_ports",
    "wait_for_http",
]

LOG_HEAD, LOG_TAIL = 4_000, 16_000  # characters of a log attached to an assertion message


T = TypeVar("T")


class ProcessFailed(AssertionError):
    """A program exited, or a log line did not appear in time; the message holds the log."""


class ProcessExited(ProcessFailed):
    """The program exited before logging what was waited for."""


class LogTimeout(ProcessFailed):
    """The program is running but did not log what was waited for in time."""


class LoggedProcess:
    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # its own process group: stop() reaches its children
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        """An offset for ``wait_for(..., after=...)``: only lines logged from now on count."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def describe(self) -> str:
        text = self.log()
        if len(text) > LOG_HEAD + LOG_TAIL:
            text = f"{text[:LOG_HEAD]}\n[...]\n{text[-LOG_TAIL:]}"
        state = "running" if self.returncode is None else f"exit status {self.returncode}"
        return f"$ {' '.join(self.argv)}  ({state})\n--- log {self.log_path} ---\n{text}"

    def wait_for(self, pattern: str, *, timeout: float, after: int = 0) -> re.Match[str]:
        """The first match of ``pattern`` in the log past byte ``after``; raises ProcessExited
        when the program exits first, LogTimeout when ``timeout`` seconds pass."""
        assert self.proc is not None, "not started"
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as fh:
                fh.seek(after)
                found = regex.search(fh.read().decode("utf-8", "replace"))
            if found:
                return found
            if self.proc.poll() is not None:
                raise ProcessExited(f"exited before logging /{pattern}/\n{self.describe()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LogTimeout(f"no /{pattern}/ within {timeout} s\n{self.describe()}")
            # A bounded wait that also returns at once when the program exits.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=min(0.05, remaining))

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 10.0) -> int | None:
        """Send ``sig`` to the process group, wait ``timeout`` s, then SIGKILL the group.
        Returns the exit status (negative: killed by that signal). Idempotent."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            _signal_group(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Whatever it left behind in its group goes too (a no-op when nothing is left).
        _signal_group(proc.pid, signal.SIGKILL)
        return proc.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def program_version(argv: Sequence[str], *, timeout: float = 10.0) -> str:
    """The first line a program prints for ``--version`` (or the like)."""
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def wait_for_http(url: str, process: LoggedProcess, *, timeout: float) -> float:
    """Poll ``url`` until it gives any HTTP answer (401 and 404 count: the server is up); returns
    the seconds waited. Raises ProcessExited when the program exits first, LogTimeout after
    ``timeout`` s. No proxy from the environment is used (only 127.0.0.1 is ever contacted)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if process.returncode is not None:
            raise ProcessExited(f"exited before {url} answered\n{process.describe()}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LogTimeout(f"{url} did not answer within {timeout} s\n{process.describe()}")
        try:
            with opener.open(url, timeout=min(1.0, remaining)):
                pass
            return time.monotonic() - started
        except urllib.error.HTTPError:
            return time.monotonic() - started
        except OSError:  # refused, reset or timed out: not listening yet
            assert process.proc is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.proc.wait(timeout=min(0.01, max(remaining, 0.001)))


PORT_ATTEMPTS = 3  # a port picked by free_port() and taken meanwhile: pick again this often


def start_on_free_ports(
    process: LoggedProcess, start: Callable[[], T], new_ports: Callable[[], None]
) -> T:
    """``start()``, which starts ``process`` on ports picked with ``free_port()`` and waits for
    it. Such a pick can be taken before the program binds it (another program's outgoing
    connection gets it as its source port, say): when the program exits saying a port is
    already in use, ``new_ports()`` picks others and it is started again, at most
    ``PORT_ATTEMPTS`` times in all (DCMTK's servers do the same, ``dcmtk_peers``)."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        before = len(process.log())
        try:
            return start()
        except ProcessExited:
            taken = "already in use" in process.log()[before:]
            if not taken or attempt == PORT_ATTEMPTS:
                raise
            process.stop(signal.SIGTERM, timeout=5)
            new_ports()
    raise AssertionError("unreachable")


class OrthancPeer:
    """Orthanc on 127.0.0.1, everything in ``folder``: DICOM, and HTTP only when ``http_port``
    is given (Orthanc 1.10 binds it to every interface, so remote access is refused). A port
    given as 0 is a free one, picked again if another program takes it before Orthanc binds it
    (``start_on_free_ports``)."""

    def __init__(
        self,
        program: str,
        folder: Path,
        *,
        dicom_port: int = 0,
        ae_title: str = "ORTHANC",
        modalities: Mapping[str, tuple[str, str, int]] | None = None,
        extra_args: Sequence[str] = ("--verbose",),
        http_port: int | None = None,
        plugins: Sequence[str] = (),
        extra_config: Mapping[str, object] | None = None,
    ) -> None:
        self.program = program
        self.folder = folder
        self._free = (dicom_port == 0, http_port == 0)  # which ports are ours to pick
        self.dicom_port = dicom_port or free_port()
        self.http_port = (http_port or free_port()) if http_port is not None else None
        self.started_in: float | None = None  # seconds from start to ready
        self.ae_title = ae_title
        self.config_path = folder / "orthanc.json"
        folder.mkdir(parents=True, exist_ok=True)
        self._config: dict[str, object] = {
            "Name": "dicom-identity-interop",
            "DicomAet": ae_title,
            "DicomPort": self.dicom_port,
            "DicomServerEnabled": True,
            "DicomCheckCalledAet": False,
            # Orthanc 1.10 has no bind address setting: no HTTP server unless asked for, so
            # nothing but the DICOM port listens (and only 127.0.0.1 is ever contacted).
            "HttpServerEnabled": self.http_port is not None,
            "HttpPort": self.http_port or 0,
            "AuthenticationEnabled": False,
            "RemoteAccessAllowed": False,
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "Plugins": list(plugins),
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomModalities": {
                name: [title, host, port]
                for name, (title, host, port) in (modalities or {}).items()
            },
            # Close the C-MOVE sub-association at once instead of keeping it 5 s for reuse.
            "DicomAssociationCloseDelay": 0,
            "DicomScuTimeout": 10,
            "DicomScpTimeout": 30,
            "SaveJobs": False,
            "StableAge": 1,
            **(extra_config or {}),
        }
        self.config_path.write_text(json.dumps(self._config, indent=2))
        self.process = LoggedProcess(
            [program, *extra_args, str(self.config_path)], folder / "orthanc.log", cwd=folder
        )

    @property
    def http_url(self) -> str:
        """The root of Orthanc's HTTP server, e.g. ``http://127.0.0.1:8042``."""
        assert self.http_port is not None, "started without an HTTP server"
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, *, timeout: float = 15.0) -> Self:
        return start_on_free_ports(self.process, lambda: self._start(timeout), self._new_ports)

    def _new_ports(self) -> None:
        dicom_free, http_free = self._free
        if not (dicom_free or http_free):
            raise ProcessExited(f"a port given to Orthanc is in use\n{self.describe()}")
        if dicom_free:
            self.dicom_port = self._config["DicomPort"] = free_port()
        if http_free:
            self.http_port = free_port()
            self._config["HttpPort"] = self.http_port
        self.config_path.write_text(json.dumps(self._config, indent=2))

    def _start(self, timeout: float) -> Self:
        started = time.monotonic()
        self.process.start()
        self.process.wait_for(r"Orthanc has started", timeout=timeout)
        self.process.wait_for(
            rf"DICOM server listening with AET {re.escape(self.ae_title)} on port: "
            rf"{self.dicom_port}\b",
            timeout=1,
        )
        if self.http_port is not None:
            remaining = max(1.0, timeout - (time.monotonic() - started))
            wait_for_http(f"{self.http_url}/system", self.process, timeout=remaining)
        self.started_in = time.monotonic() - started
        return self

    def stop(self) -> int | None:
        return self.process.stop(signal.SIGTERM, timeout=15)

    def describe(self) -> str:
        return f"Orthanc config {self.config_path}\n{self.process.describe()}"

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
