"""Real DICOMweb servers for the tests: Orthanc's DICOMweb plugin behind an authenticating Apache.

``orthanc_dicomweb(folder)`` runs Orthanc (tests/orthanc_peer.py) with its HTTP server, the DICOMweb
plugin at ``/dicom-web/`` and a DICOM port, so one study can go in by C-STORE and out by WADO.

``apache_proxy(backend_url, scheme=...)`` runs Apache httpd as an ordinary foreground process on a
free 127.0.0.1 port, its whole configuration in a folder of its own, in front of ``backend_url``
(the Orthanc DICOMweb root), loading only the modules it needs. The scheme is one of
tests/apache_auth.py: ``BasicAuth``, ``NegotiateAuth``, ``BearerAuth`` or ``NoAuth``.

Run as root, Apache's workers are www-data: they cannot enter pytest's 0700 temp folders, so the
proxy's folder is made in the system temp directory, and the files the workers read (htpasswd,
keytab, replay cache) are theirs. Apache is stopped through its process group (it forks);
``ApacheProxy.group_alive()`` tells whether anything of it is left.

A missing program, plugin or module fails under CI=true and skips elsewhere, naming the package.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest

from tests.apache_auth import (
    BasicAuth,
    BearerAuth,
    NegotiateAuth,
    NoAuth,
    ProxyAuth,
    apache_quote,
    auth_setup,
    serve_jwks,
)
from tests.conftest import free_port, require_program
from tests.orthanc_peer import (
    LoggedProcess,
    OrthancPeer,
    ProcessExited,
    start_on_free_ports,
    wait_for_http,
)

__all__ = [
    "ApacheProxy",
    "BasicAuth",
    "BearerAuth",
    "NegotiateAuth",
    "NoAuth",
    "ProxyAuth",
    "apache_proxy",
    "orthanc_dicomweb",
    "require_file",
    "serve_jwks",
]

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
APACHE_MODULES = Path("/usr/lib/apache2/modules")
NOT_READY = "\"expr=%{REQUEST_URI} != '/ready'\""  # a CustomLog condition
DICOMWEB_ROOT = "/dicom-web/"
REALM_NAME = "dicom-identity tests"
WORKER_USER = "www-data"  # Debian's Apache user, for the workers when we run as root
START_TIMEOUT = 15.0


def require_file(path: Path, package: str) -> Path:
    """Like ``require_program`` for a plugin or module file."""
    if not path.is_file():
        why = f"{path} is missing: apt-get install {package}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)
    return path


# --- Orthanc with DICOMweb ----------------------------------------------------------------------


@contextlib.contextmanager
def orthanc_dicomweb(folder: Path, *, timeout: float = START_TIMEOUT) -> Iterator[OrthancPeer]:
    """Orthanc with DICOM and DICOMweb on free ports, ready when its HTTP server answers.
    ``peer.http_url + DICOMWEB_ROOT`` is the unauthenticated DICOMweb root."""
    program = require_program("Orthanc", "orthanc")
    plugin = require_file(DICOMWEB_PLUGIN, "orthanc-dicomweb")
    peer = OrthancPeer(
        program,
        folder,
        http_port=0,  # a free port, as the DICOM one
        plugins=[str(plugin)],
        extra_config={"DicomWeb": {"Enable": True, "Root": DICOMWEB_ROOT}},
    )
    with peer:
        yield peer


# --- Apache httpd --------------------------------------------------------------------------------


class ApacheProxy:
    """Apache httpd on 127.0.0.1:``port`` proxying ``<path>`` to ``backend_url`` after ``scheme``.

    ``url`` is the authenticated DICOMweb root (no trailing slash, as DICOMwebClient wants it).
    The access log records ``status user "request"`` per request: see ``access_log()``.
    """

    def __init__(
        self,
        backend_url: str,
        scheme: ProxyAuth,
        folder: Path,
        *,
        port: int | None = None,
        path: str = DICOMWEB_ROOT,
        log_level: str = "info",
    ) -> None:
        self.program = require_program("apache2", "apache2")
        self.backend_url = backend_url if backend_url.endswith("/") else backend_url + "/"
        self.scheme = scheme
        self.folder = folder
        self._port_is_ours = port is None  # picked again if taken before Apache binds it
        self.port = port or free_port()
        self.path = path if path.endswith("/") else path + "/"
        self.log_level = log_level
        self.config_path = folder / "httpd.conf"
        self.access_log_path = folder / "access.log"
        self.principal: str | None = None  # the HTTP service principal (Negotiate)
        self.started_in: float | None = None
        self._worker = pwd.getpwnam(WORKER_USER) if os.geteuid() == 0 else None
        self._env: dict[str, str] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"}
        self.config_path.write_text(self._config())
        self.process = LoggedProcess(
            [self.program, "-d", str(folder), "-f", str(self.config_path), "-D", "FOREGROUND"],
            folder / "apache.log",
            env=self._env,
            cwd=folder,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path.rstrip('/')}"

    # -- the configuration

    def _worker_file(self, path: Path, mode: int) -> Path:
        """A file or folder the workers (www-data when we are root) own, with ``mode``."""
        os.chmod(path, mode)
        if self._worker is not None:
            os.chown(path, self._worker.pw_uid, self._worker.pw_gid)
        return path

    def _modules(self, modules: list[tuple[str, str]]) -> str:
        lines = []
        for name, package in modules:
            module = require_file(APACHE_MODULES / f"mod_{name}.so", package)
            lines.append(f"LoadModule {name}_module {module}")
        return "\n".join(lines)

    def _config(self) -> str:
        run_dir = self.folder / "run"
        run_dir.mkdir()
        empty = self.folder / "empty"  # the DocumentRoot: nothing is served from disk
        empty.mkdir()
        user = f"User {WORKER_USER}\nGroup {WORKER_USER}\n" if self._worker is not None else ""
        backend = self.backend_url
        auth = auth_setup(self.scheme, self.folder, self._worker_file)
        self.principal = auth.principal
        self._env.update(auth.env)
        return f"""# written by tests/web_servers.py
{self._modules(auth.modules)}
ServerName localhost
ServerRoot {apache_quote(str(self.folder))}
{user}Listen 127.0.0.1:{self.port}
PidFile {apache_quote(str(self.folder / "httpd.pid"))}
DefaultRuntimeDir {apache_quote(str(run_dir))}
DocumentRoot {apache_quote(str(empty))}
ErrorLog /proc/self/fd/2
LogLevel {self.log_level}
LogFormat "%>s %u \\"%r\\" %D" dicom_identity
# The readiness poll is not logged: its line could land after a test's mark of the log.
CustomLog {apache_quote(str(self.access_log_path))} dicom_identity {NOT_READY}
StartServers 1
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32
MinSpareThreads 1
MaxSpareThreads 32
KeepAlive On
KeepAliveTimeout 5
MaxKeepAliveRequests 0
Timeout 30
ProxyTimeout 30
<Location />
    Require all denied
</Location>
<Location /ready>
    # The readiness poll's answer: 404 from the empty DocumentRoot, and nothing in the logs.
    Require all granted
</Location>
<Location {apache_quote(self.path)}>
    AuthName {apache_quote(REALM_NAME)}
{_indent(auth.directives)}
    # The credential stops here: Orthanc never sees it.
    RequestHeader unset Authorization
    ProxyPass {apache_quote(backend)}
    ProxyPassReverse {apache_quote(backend)}
</Location>
"""

    # -- running

    def start(self, *, timeout: float = START_TIMEOUT) -> Self:
        return start_on_free_ports(self.process, lambda: self._start(timeout), self._new_port)

    def _new_port(self) -> None:
        if not self._port_is_ours:
            raise ProcessExited(f"the port given to Apache is in use\n{self.process.describe()}")
        self.port = free_port()
        self.config_path.write_text(self._config())

    def _start(self, timeout: float) -> Self:
        started = time.monotonic()
        self.process.start()
        wait_for_http(f"http://127.0.0.1:{self.port}/ready", self.process, timeout=timeout)
        self.started_in = time.monotonic() - started
        return self

    def stop(self) -> int | None:
        """SIGTERM to the process group (parent and workers), SIGKILL after a bound."""
        return self.process.stop(signal.SIGTERM, timeout=10)

    def group_pids(self) -> list[int]:
        """The processes in Apache's group now (the parent and its workers), from /proc."""
        if self.process.proc is None:
            return []
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if int(fields[2]) == self.process.pid:  # state, ppid, pgrp
                found.append(int(stat.parent.name))
        return sorted(found)

    def group_alive(self) -> bool:
        """Whether any process of Apache's group is still there (zombies count)."""
        if self.process.proc is None:
            return False
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def access_log(self) -> list[str]:
        """One ``status user "request line" microseconds`` line per request so far."""
        try:
            return self.access_log_path.read_text().splitlines()
        except FileNotFoundError:
            return []

    def describe(self) -> str:
        return (
            f"Apache config {self.config_path}:\n{self.config_path.read_text()}\n"
            f"--- access log ---\n" + "\n".join(self.access_log()[-50:]) + "\n"
            f"{self.process.describe()}"
        )

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


@contextlib.contextmanager
def apache_proxy(
    backend_url: str,
    *,
    scheme: ProxyAuth,
    timeout: float = START_TIMEOUT,
    log_level: str = "info",
) -> Iterator[ApacheProxy]:
    """A started ``ApacheProxy`` in a folder of its own (see the module docstring for why it is
    not a pytest temp folder); stopped, group and all, and the folder removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="dicom-identity-apache-"))
    os.chmod(folder, 0o711)  # the workers may enter, not list
    try:
        proxy = ApacheProxy(backend_url, scheme, folder, log_level=log_level)
        with proxy:
            yield proxy
        # The group is gone once the parent and its workers are reaped: wait for that, bounded.
        deadline = time.monotonic() + 10
        while proxy.group_alive() and time.monotonic() < deadline:
            threading.Event().wait(0.01)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
