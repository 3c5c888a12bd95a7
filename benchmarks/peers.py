"""The peers and credentials the benchmarks use: identities on disk, a throwaway Kerberos realm,
DCMTK's storescp (plain or TLS, forking or not), all in a temp folder and stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rounds  # noqa: F401  (puts this checkout on sys.path)

from providers import JwtFileProvider, KeyringPasswordProvider, UsernameProvider
from tests.tls_certs import CertificateFiles

USER = "alice"
PASSWORD = "benchmark-password"  # a dummy credential for a PACS on 127.0.0.1
JWT_KEY = "benchmark-hs256-key-0123456789abcdef"
USERS = {USER: PASSWORD}


@dataclass
class Identities:
    """Username, keyring password (a real file keyring) and JWT file providers for ``alice``."""

    username: UsernameProvider
    keyring: KeyringPasswordProvider
    jwt: JwtFileProvider
    token_path: Path
    keyring_backend: Any

    def write_token(self, lifetime: int = 3600) -> None:
        """A fresh token (new ``iat`` and ``exp``): the file changes."""
        import jwt

        now = time.time()
        claims = {"sub": USER, "iat": now, "exp": int(now) + lifetime}
        self.token_path.write_text(jwt.encode(claims, JWT_KEY, algorithm="HS256"))
        self.token_path.chmod(0o600)


def identities(folder: Path) -> Identities:
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(folder / "keyring.cfg")
    backend.set_password("bench", USER, PASSWORD)
    token = folder / "token.jwt"
    made = Identities(
        UsernameProvider(USER),
        KeyringPasswordProvider("bench", USER, backend=backend),
        JwtFileProvider(token),
        token,
        backend,
    )
    made.write_token()
    return made


@contextlib.contextmanager
def kerberos() -> Iterator[tuple[Any, str]]:
    """A throwaway realm (with the environment pointed at it) and "", or (None, why not)."""
    from client_sdk.testing import kerberos_tools_missing, throwaway_realm

    why = kerberos_tools_missing()
    if why:
        yield None, why
        return
    with throwaway_realm() as realm:
        saved = {key: os.environ.get(key) for key in realm.env}
        os.environ.update(realm.env)
        try:
            yield realm, ""
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def dcmtk_missing() -> str:
    missing = [p for p in ("storescp", "storescu") if shutil.which(p) is None]
    return f"{', '.join(missing)} missing (apt-get install dcmtk)" if missing else ""


@dataclass(frozen=True)
class Storescp:
    port: int
    ae_title: str
    output: Path


@contextlib.contextmanager
def storescp(
    folder: Path,
    *,
    tls: CertificateFiles | None = None,
    fork: bool = False,
    log_level: str = "error",
) -> Iterator[Storescp]:
    """DCMTK's storescp on a free port (tests/dcmtk_peers.py starts and stops it), quiet, writing
    to a folder of its own; with ``tls``, TLS on (+tls key cert, no client certificate asked)."""
    from tests.dcmtk_peers import DcmtkPeers

    extra = ["--fork"] if fork else []
    if tls is not None:
        extra += ["+tls", str(tls.key_file), str(tls.cert_file), "-ic"]
    folder.mkdir(parents=True, exist_ok=True)
    with DcmtkPeers(folder) as peers:
        process = peers.storescp(ae_title="STORESCP", log_level=log_level, extra=extra)
        assert process.output_dir is not None
        yield Storescp(process.port, process.ae_title, process.output_dir)


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) of process ``pid`` so far, from /proc; None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def empty(folder: Path) -> None:
    """Delete what a peer wrote (between bulk runs; not timed)."""
    for path in folder.iterdir():
        if path.is_file():
            path.unlink()


@dataclass(frozen=True)
class PacsProcess:
    host: str
    port: int
    ae_title: str
    pid: int


@contextlib.contextmanager
def embedded_pacs_process(
    folder: Path, *, kerberos_keytab: Path | None = None
) -> Iterator[PacsProcess]:
    """The embedded PACS in a process of its own (``python -m client_sdk.testing``), so that it
    does not share the client's interpreter lock: what a client measures is then the client.
    It verifies the username/password of ``USERS`` and JWTs signed with ``JWT_KEY``; with
    ``kerberos_keytab``, Kerberos tokens too (the realm's environment is inherited)."""
    import json

    from tests.processes import background, listening

    folder.mkdir(parents=True, exist_ok=True)
    users = folder / "users.json"
    users.write_text(json.dumps(USERS))
    users.chmod(0o600)
    jwt_key = folder / "jwt.key"
    jwt_key.write_text(JWT_KEY)
    jwt_key.chmod(0o600)
    args = ["-m", "client_sdk.testing", "--port", "0", "--users-file", str(users)]
    args += ["--jwt-key-file", str(jwt_key)]
    if kerberos_keytab is not None:
        args += ["--kerberos-keytab", str(kerberos_keytab)]
    with background(args) as running:
        found = listening(running)
        try:
            yield PacsProcess(
                found["host"], int(found["port"]), found["ae_title"], running.proc.pid
            )
        finally:
            running.stop()
