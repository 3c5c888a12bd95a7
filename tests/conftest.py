"""Shared test helpers: signed JWTs, a real file keyring, a guard against outside connects."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from providers import Target
from tests import hypothesis_profiles
from tests.oidc_fixtures import (  # noqa: F401  (fixtures, used by name)
    oidc_provider,
    oidc_provider_tls,
)

# The shared fixtures, each in the module named for what it holds: the embedded PACS and a
# client for it, the throwaway certificates, the installed command line's clean environment, the
# loopback tests' listener.
pytest_plugins = [
    "tests.fixtures_pacs",
    "tests.tls_certs",
    "tests.installed_cli",
    "tests.loopback_listener",
    "tests.oidc_login_helpers",
]

# Before any test module is imported: their example counts read the loaded profile.
hypothesis_profiles.register()

JWT_KEY = "test-hs256-key-known-to-the-embedded-pacs"
AUDIENCE = "EMBEDDED_PACS"
USERS = {"alice": "correct horse battery staple", "jürgen": "pässwörd-ü"}


def make_jwt(key: str = JWT_KEY, *, lifetime: float = 300, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"sub": "alice@example.org", "aud": AUDIENCE, "iat": now}
    body["exp"] = now + lifetime
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="HS256")


def write_token(path: Path, token: str, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    os.chmod(path, mode)
    return path


@pytest.fixture
def target() -> Target:
    return Target("127.0.0.1", 11112, "PACS", "SCU")


@pytest.fixture
def file_keyring(tmp_path: Path) -> Any:
    """A real keyring backend: keyrings.alt's plaintext file backend, in a temp folder."""
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring_pass.cfg")
    return backend


@pytest.fixture
def no_keyring_access(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any read of a keyring backend fails the test."""
    import keyring

    calls: list[str] = []

    def refuse() -> None:
        calls.append("get_keyring")
        raise AssertionError("the keyring was touched")

    monkeypatch.setattr(keyring, "get_keyring", refuse)
    return calls


@pytest.fixture
def no_outside_connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any socket connect to an address outside 127.0.0.0/8 and ::1 fails loudly and is recorded."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            attempts.append(address)
            raise AssertionError(f"test tried to connect to {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


def poll(predicate: Callable[[], bool], *, timeout: float = 5.0, what: str = "condition") -> None:
    """Wait for ``predicate`` with a bound, without sleeping blindly."""
    import threading

    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        event.wait(0.01)


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    import keyring.core

    before = keyring.core.get_keyring()
    yield
    keyring.core.set_keyring(before)


@pytest.fixture(scope="session")
def kerberos_realm() -> Iterator[Any]:
    """A real MIT KDC on 127.0.0.1 (k5test), with the environment pointing Kerberos at it."""
    from client_sdk.testing import kerberos_tools_missing, throwaway_realm

    why = kerberos_tools_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and Kerberos tests cannot run: {why}")
        pytest.skip(why)
    with throwaway_realm() as realm, pytest.MonkeyPatch.context() as mp:
        for key, value in realm.env.items():
            mp.setenv(key, value)
        mp.delenv("KRB5_CLIENT_KTNAME", raising=False)
        mp.delenv("KRB5_KTNAME", raising=False)
        yield realm


def require_program(program: str, package: str) -> str:
    """The program's path; a missing one fails under CI=true and skips elsewhere, with the fix."""
    import shutil

    path = shutil.which(program, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if path is None:
        why = f"{program} is not installed: apt-get install {package}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for programs that cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
