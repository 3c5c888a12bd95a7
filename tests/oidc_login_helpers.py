"""Shared by the OidcLoginProvider and token endpoint tests: the person's part of a device login
(in another thread, as a person at another device would), a provider for the real OpenID
Provider's clients, and the witness that collects every secret seen and every text shown, for the
leak search. A fixture module too (``tests/conftest.py``'s ``pytest_plugins``): the ``witness``
fixture."""

from __future__ import annotations

import logging
import queue
import re
import subprocess
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import providers._oidc_browser_flow as browser_flow
import providers._oidc_device_flow as device_flow
from providers import OidcLoginProvider, Secret
from providers._oidc_prompt import LoginPrompt
from tests.installed_cli import cli_command
from tests.leak_search import find_leaks
from tests.oidc_fixtures import RunningOidcProvider

SCOPES = ("openid", "offline_access", "dicom")
USER_CODE = re.compile(r"enter the code (\S+)")
FAST_POLL = 0.05  # seconds between device-flow polls: the provider sends no interval


class Person:
    """A prompt callback: approves (or denies, or ignores) each device login from another
    thread, after the poller has started, like a person at another device."""

    def __init__(self, op: RunningOidcProvider, login: str = "alice", *, act: str = "approve"):
        self.op = op
        self.login = login
        self.act = act
        self.prompts: list[LoginPrompt] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def __call__(self, prompt: LoginPrompt) -> None:
        self.prompts.append(prompt)
        if self.act == "ignore":
            return
        assert prompt.user_code is not None
        thread = threading.Thread(target=self._act, args=(prompt.user_code,))
        thread.start()
        self._threads.append(thread)

    def _act(self, user_code: str) -> None:
        try:
            if self.act == "deny":
                self.op.deny_device(user_code)
            else:
                self.op.approve_device(user_code, self.login, self.op.users[self.login])
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=15)
            assert not thread.is_alive(), "the person's part did not finish"
        if self.errors:
            raise self.errors[0]


def run_cli_login(
    op: RunningOidcProvider,
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    approve: bool = True,
    login: str = "alice",
    stdin: int = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """The installed ``dicom-identity ARGS`` (``login PEER ...``), with the person approving (or
    denying) the code it prints on stderr, from a second client, as ``login``. ``stdin``: a file
    descriptor (a terminal's, for a command that logs in by itself only on a terminal)."""
    proc = subprocess.Popen(
        [*cli_command(), *args],
        cwd=cwd,
        env=dict(env),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while (line := lines.get(timeout=30)) is not None:
            seen.append(line)
            found = USER_CODE.search(line)
            if found:
                if approve:
                    op.approve_device(found.group(1), login, op.users[login])
                else:
                    op.deny_device(found.group(1))
                break
        # stdout only: the reader thread owns stderr (communicate() would race it for lines).
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    reader.join(timeout=5)
    while not lines.empty():
        line = lines.get()
        if line is not None:
            seen.append(line)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen))


def make_login(
    op: RunningOidcProvider, keyring: Any, tmp_path: Path, role: str = "device", **kw: Any
) -> OidcLoginProvider:
    """A provider for the fixture's ``device`` or ``browser`` client, with the PACS's resource
    and audience, a keyring in tmp and the lock files in tmp."""
    kw.setdefault("client_id", op.clients[role].client_id)
    kw.setdefault("scopes", SCOPES)
    kw.setdefault("resource", op.resource)
    kw.setdefault("audience", op.audience)
    kw.setdefault("keyring_backend", keyring)
    kw.setdefault("lock_dir", tmp_path / "locks")
    kw.setdefault("poll_interval", FAST_POLL)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("login_timeout", 30.0)
    kw.setdefault("flow", "browser" if role == "browser" else "device")
    return OidcLoginProvider(op.issuer, **kw)


class Witness:
    """Every secret a test saw (tokens given out, refresh tokens stored, and through spies on
    the real functions each device code and PKCE verifier a flow made) and every text the SDK
    showed (errors with their frames' locals, logs at DEBUG, stdout and stderr)."""

    def __init__(
        self,
        caplog: pytest.LogCaptureFixture,
        capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ):
        self.caplog = caplog
        self.capfd = capfd
        self.secrets: list[str | bytes] = []
        self.texts: list[str] = []
        caplog.set_level(logging.DEBUG)
        real_started, real_pair = device_flow._started, browser_flow.pkce_pair

        def started(*args: Any, **kwargs: Any) -> Any:
            answer = real_started(*args, **kwargs)
            self.secret(answer.device_code)
            return answer

        def pair() -> tuple[Secret, str]:
            verifier, challenge = real_pair()
            self.secret(verifier)
            return verifier, challenge

        monkeypatch.setattr(device_flow, "_started", started)
        monkeypatch.setattr(browser_flow, "pkce_pair", pair)

    def secret(self, value: Secret | str | bytes | None) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if value:
            self.secrets.append(value)

    def stored(self, provider: OidcLoginProvider, keyring: Any) -> str | None:
        """The refresh token in the provider's keyring entry (kept as a secret to search)."""
        value = keyring.get_password(*provider.keyring_entry)
        self.secret(value)
        return value  # type: ignore[no-any-return]

    def error(self, exc: BaseException) -> BaseException:
        # From the frame below the test's own (which holds what the test itself keeps).
        below = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        formatted = traceback.TracebackException(type(exc), exc, below, capture_locals=True)
        self.texts += [str(exc), repr(exc), "".join(formatted.format())]
        return exc

    def assert_no_leaks(self) -> None:
        assert self.secrets, "no secret was collected: the search would prove nothing"
        captured = self.capfd.readouterr()
        seen = "\n".join([*self.texts, self.caplog.text, captured.out, captured.err])
        assert find_leaks(seen, self.secrets) == []


@pytest.fixture
def witness(
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Witness:
    """A :class:`Witness` for the test: DEBUG logs captured, the flows' secrets spied on."""
    return Witness(caplog, capfd, monkeypatch)
