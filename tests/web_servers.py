"""Real DICOMweb servers for the tests: Orthanc's DICOMweb plugin behind an authenticating Apache.

``orthanc_dicomweb(folder)`` runs Orthanc (tests/orthanc_peer.py) with its HTTP server, the DICOMweb
plugin at ``/dicom-web/`` and a DICOM port, so one study can go in by C-STORE and out by WADO.

``apache_proxy(backend_url, scheme=...)`` runs Apache httpd as an ordinary foreground process on a
free 127.0.0.1 port, its whole configuration in a temp folder, in front of ``backend_url`` (the
Orthanc DICOMweb root), and checks one of:

* ``BasicAuth(users)``: mod_auth_basic + mod_authn_file, an htpasswd file made by ``htpasswd``;
* ``NegotiateAuth(realm)``: mod_auth_gssapi with an ``HTTP/localhost`` keytab from the k5test realm;
* ``BearerAuth(jwk=... | jwks_uri=..., audience=...)``: mod_oauth2 verifying JWT signatures, with
  ``exp`` required and no verification cache (else an expired token stays accepted);
* ``NoAuth()``: the same proxy without authentication (the baseline of a benchmark).

Run as root, Apache's workers are www-data: they cannot enter pytest's 0700 temp folders, so the
proxy's folder is its own, made in the system temp directory, and the files the workers read
(htpasswd, keytab, krb5.conf copy, replay cache) are theirs. Apache is stopped through its process
group (it forks); ``ApacheProxy.group_alive()`` tells whether anything of it is left.

A missing program, plugin or module fails under CI=true and skips elsewhere, naming the package.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, Self

import pytest

from tests.conftest import free_port, require_program
from tests.orthanc_peer import LoggedProcess, OrthancPeer, wait_for_http

__all__ = [
    "ApacheProxy",
    "BasicAuth",
    "BearerAuth",
    "NegotiateAuth",
    "NoAuth",
    "ProxyAuth",
    "apache_proxy",
    "http_service_keytab",
    "orthanc_dicomweb",
    "serve_jwks",
]

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
APACHE_MODULES = Path("/usr/lib/apache2/modules")
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
        dicom_port=free_port(),
        http_port=free_port(),
        plugins=[str(plugin)],
        extra_config={"DicomWeb": {"Enable": True, "Root": DICOMWEB_ROOT}},
    )
    with peer:
        yield peer


# --- Apache's authentication schemes -----------------------------------------------------------


@dataclass(frozen=True)
class BasicAuth:
    """mod_auth_basic + mod_authn_file; ``users`` maps user names to passwords."""

    users: Mapping[str, str]
    # bcrypt is what a real deployment uses; apr1 (MD5, 1000 rounds) is cheaper per request.
    password_hash: Literal["bcrypt", "apr1"] = "bcrypt"
    scheme: Literal["basic"] = field(default="basic", init=False)


@dataclass(frozen=True)
class NegotiateAuth:
    """mod_auth_gssapi accepting Kerberos for ``HTTP/<service_host>@<realm>`` (a KerberosRealm
    from client_sdk.testing.kerberos_realm, e.g. the ``kerberos_realm`` fixture)."""

    realm: Any
    service_host: str = "localhost"
    scheme: Literal["negotiate"] = field(default="negotiate", init=False)


@dataclass(frozen=True)
class BearerAuth:
    """mod_oauth2: a JWT signed by the key ``jwk`` (a public JWK as a dict), or by a key of the
    JWKS at ``jwks_uri``; ``exp`` is required; ``audience`` is required in ``aud`` when given."""

    jwk: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    audience: str | None = None
    scheme: Literal["bearer"] = field(default="bearer", init=False)

    def __post_init__(self) -> None:
        if (self.jwk is None) == (self.jwks_uri is None):
            raise ValueError("BearerAuth takes exactly one of jwk and jwks_uri")


@dataclass(frozen=True)
class NoAuth:
    """No authentication: what the proxy alone costs."""

    scheme: Literal["none"] = field(default="none", init=False)


ProxyAuth = BasicAuth | NegotiateAuth | BearerAuth | NoAuth


def http_service_keytab(realm: Any, keytab: Path, *, host: str = "localhost") -> str:
    """Create ``HTTP/<host>`` in the k5test realm (once per realm) and write its keytab;
    returns the principal."""
    principal = f"HTTP/{host}@{realm.name}"
    k5 = realm._k5  # KerberosRealm keeps its k5test realm private; the tests may use it
    shown = subprocess.run(
        [k5.kadmin_local, "-q", f"getprinc {principal}"],
        env=dict(realm.env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if f"Principal: {principal}" not in shown.stdout:
        k5.addprinc(principal)
    k5.extract_keytab(principal, str(keytab))  # -norandkey: the same keys every time
    return principal


# --- Apache httpd --------------------------------------------------------------------------------


def _apache_modules(scheme: ProxyAuth) -> list[tuple[str, str]]:
    """(module name, package) pairs: only what this proxy needs."""
    common = [
        ("mpm_event", "apache2-bin"),
        ("authn_core", "apache2-bin"),
        ("authz_core", "apache2-bin"),
        ("authz_user", "apache2-bin"),
        ("headers", "apache2-bin"),
        ("proxy", "apache2-bin"),
        ("proxy_http", "apache2-bin"),
    ]
    if isinstance(scheme, BasicAuth):
        return [*common, ("auth_basic", "apache2-bin"), ("authn_file", "apache2-bin")]
    if isinstance(scheme, NegotiateAuth):
        return [*common, ("auth_gssapi", "libapache2-mod-auth-gssapi")]
    if isinstance(scheme, BearerAuth):
        return [*common, ("oauth2", "libapache2-mod-oauth2")]
    return common


def _apache_quote(value: str) -> str:
    """One Apache directive argument, in double quotes."""
    if any(c in value for c in '"\\\n\r'):
        raise ValueError(f"cannot quote {value!r} for an Apache config")
    return f'"{value}"'


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

    def _modules(self) -> str:
        lines = []
        for name, package in _apache_modules(self.scheme):
            module = require_file(APACHE_MODULES / f"mod_{name}.so", package)
            lines.append(f"LoadModule {name}_module {module}")
        return "\n".join(lines)

    def _auth(self) -> str:
        scheme = self.scheme
        if isinstance(scheme, NoAuth):
            return "Require all granted"
        if isinstance(scheme, BasicAuth):
            htpasswd = self._htpasswd(scheme)
            return (
                f"AuthType Basic\nAuthBasicProvider file\nAuthUserFile {_apache_quote(htpasswd)}\n"
                "Require valid-user"
            )
        if isinstance(scheme, NegotiateAuth):
            keytab = self.folder / "http.keytab"
            self.principal = http_service_keytab(scheme.realm, keytab, host=scheme.service_host)
            self._worker_file(keytab, 0o600)
            # k5test's realm folder is root-only: the workers get a readable copy of krb5.conf
            # and a replay cache of their own.
            krb5_conf = self.folder / "krb5.conf"
            shutil.copyfile(scheme.realm.env["KRB5_CONFIG"], krb5_conf)
            os.chmod(krb5_conf, 0o644)
            rcache = self.folder / "rcache"
            rcache.mkdir()
            self._worker_file(rcache, 0o700)
            self._env.update(KRB5_CONFIG=str(krb5_conf), KRB5RCACHEDIR=str(rcache))
            return (
                "AuthType GSSAPI\nGssapiAllowedMech krb5\nGssapiBasicAuth Off\n"
                f"GssapiCredStore {_apache_quote(f'keytab:{keytab}')}\nRequire valid-user"
            )
        # expiry=0: no cache of verification results (a cached token outlives its exp).
        options = "verify.exp=required&expiry=0"
        if scheme.jwk is not None:
            jwk = json.dumps(dict(scheme.jwk), separators=(",", ":"))
            verify = f"OAuth2TokenVerify jwk '{jwk}' {options}"
        else:
            assert scheme.jwks_uri is not None
            verify = (
                f"OAuth2TokenVerify jwks_uri {_apache_quote(scheme.jwks_uri)} "
                f"{options}&jwks_uri.expiry=60"
            )
        require = "Require valid-user"
        if scheme.audience is not None:
            # A valid token for another audience is authenticated but not authorized: 403, not
            # Apache's default of a 401 without any challenge.
            require = (
                "AuthzSendForbiddenOnFailure On\n<RequireAll>\nRequire valid-user\n"
                f"Require oauth2_claim {_apache_quote('aud:' + scheme.audience)}\n</RequireAll>"
            )
        return f"AuthType oauth2\n{verify}\n{require}"

    def _htpasswd(self, scheme: BasicAuth) -> str:
        program = require_program("htpasswd", "apache2-utils")
        path = self.folder / "htpasswd"
        flag = ["-B", "-C", "5"] if scheme.password_hash == "bcrypt" else ["-m"]
        for index, (user, password) in enumerate(scheme.users.items()):
            create = ["-c"] if index == 0 else []
            # -i: the password on stdin, not in argv where ps would show it
            subprocess.run(
                [program, "-i", *create, *flag, str(path), user],
                input=password.encode(),
                capture_output=True,
                timeout=30,
                check=True,
            )
        self._worker_file(path, 0o600)
        return str(path)

    def _config(self) -> str:
        run_dir = self.folder / "run"
        run_dir.mkdir()
        empty = self.folder / "empty"  # the DocumentRoot: nothing is served from disk
        empty.mkdir()
        user = f"User {WORKER_USER}\nGroup {WORKER_USER}\n" if self._worker is not None else ""
        backend = self.backend_url
        return f"""# written by tests/web_servers.py
{self._modules()}
ServerName localhost
ServerRoot {_apache_quote(str(self.folder))}
{user}Listen 127.0.0.1:{self.port}
PidFile {_apache_quote(str(self.folder / "httpd.pid"))}
DefaultRuntimeDir {_apache_quote(str(run_dir))}
DocumentRoot {_apache_quote(str(empty))}
ErrorLog /proc/self/fd/2
LogLevel {self.log_level}
LogFormat "%>s %u \\"%r\\" %D" dicom_identity
CustomLog {_apache_quote(str(self.access_log_path))} dicom_identity
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
<Location {_apache_quote(self.path)}>
    AuthName {_apache_quote(REALM_NAME)}
{_indent(self._auth())}
    # The credential stops here: Orthanc never sees it.
    RequestHeader unset Authorization
    ProxyPass {_apache_quote(backend)}
    ProxyPassReverse {_apache_quote(backend)}
</Location>
"""

    # -- running

    def start(self, *, timeout: float = START_TIMEOUT) -> Self:
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


# --- a JWKS document for mod_oauth2's jwks_uri ---------------------------------------------------


@contextlib.contextmanager
def serve_jwks(jwks: Mapping[str, Any]) -> Iterator[str]:
    """Serve ``jwks`` at ``http://127.0.0.1:PORT/jwks.json`` (where the OpenID Provider of the
    tests is not running); yields that URL."""
    body = json.dumps(dict(jwks)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
