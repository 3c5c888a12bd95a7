"""OidcLoginProvider's refresh against the real OpenID Provider (tests/oidc_op), whose public
clients' refresh tokens rotate on each use and whose grant ends when a spent one is used again:
rotation stored, revocation turned into LoginRequired with the login advice, one refresh for many
threads, processes that refresh one after the other (each with the token the previous one stored,
no grant revoked), and a new signing key read once. A new provider on the same keyring is what a
new process is: no access token in memory, the refresh token in the keyring."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client_sdk import Client, Peer
from client_sdk.testing import EmbeddedPacs
from providers import (
    CredentialError,
    LoginRequired,
    OidcLoginProvider,
    Target,
    TokenEndpointUnreachable,
)
from providers._oidc_refresh_lock import ProcessLock, default_lock_dir
from tests.conftest import AUDIENCE
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider
from tests.oidc_login_helpers import Person, Witness, make_login
from tests.oidc_requests import active, post, refresh
from tests.processes import ROOT, Running

pytestmark = pytest.mark.usefixtures("no_outside_connections")

TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def logged_in(
    op: RunningOidcProvider, keyring: Any, tmp_path: Path, witness: Witness, **kw: Any
) -> OidcLoginProvider:
    person = Person(op)
    provider = make_login(op, keyring, tmp_path, prompt=person, **kw)
    provider.login()
    person.join()
    witness.stored(provider, keyring)
    witness.secret(provider.negotiate(TARGET).request.primary)
    return provider


def refreshes(records: list[Any]) -> int:
    return sum("refreshed the login" in r.getMessage() for r in records)


def test_a_refresh_stores_the_rotated_token(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op = oidc_provider
    first = logged_in(op, file_keyring, tmp_path, witness)
    spent = witness.stored(first, file_keyring)
    later = make_login(op, file_keyring, tmp_path)  # a new process: nothing in memory
    status = later.whoami()
    assert status.principal == "alice"
    renewed = witness.stored(later, file_keyring)
    assert renewed and spent and renewed != spent
    assert active(op, renewed) and not active(op, spent)
    witness.secret(later.negotiate(TARGET).request.primary)
    assert refreshes(witness.caplog.records) == 1
    assert "the refresh token was rotated" in witness.caplog.text
    witness.assert_no_leaks()


def test_a_revoked_login_asks_for_a_new_one_and_forgets_the_dead_token(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op = oidc_provider
    first = logged_in(op, file_keyring, tmp_path, witness)
    stored = witness.stored(first, file_keyring)
    assert stored is not None
    revoke = {"client_id": op.clients["device"].client_id, "token": stored}
    assert post(op, "revocation", revoke).status_code == 200
    later = make_login(op, file_keyring, tmp_path, login_command="dicom-identity login archive")
    with pytest.raises(LoginRequired) as required:
        later.negotiate(TARGET)
    message = str(required.value)
    assert "invalid_grant" in message and "revoked" in message
    assert message.endswith("Log in with: dicom-identity login archive")
    witness.error(required.value)
    assert file_keyring.get_password(*later.keyring_entry) is None  # dead: deleted
    witness.assert_no_leaks()


def test_a_refresh_token_rotated_elsewhere_asks_for_a_new_login(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    """A copy of the login elsewhere (here a plain request) spent the stored refresh token: the
    provider rotated it. The SDK's refresh with the spent one is refused, and this provider takes
    the replay as theft and ends the grant: LoginRequired, the dead token forgotten."""
    op = oidc_provider
    first = logged_in(op, file_keyring, tmp_path, witness)
    stored = witness.stored(first, file_keyring)
    assert stored is not None
    elsewhere = refresh(op, "device", stored)
    assert elsewhere.status_code == 200, elsewhere.text
    rotated = elsewhere.json()
    for name in ("refresh_token", "access_token", "id_token"):
        witness.secret(rotated[name])
    later = make_login(op, file_keyring, tmp_path, login_command="dicom-identity login archive")
    with pytest.raises(LoginRequired) as required:
        later.negotiate(TARGET)
    message = str(required.value)
    assert "invalid_grant" in message
    assert message.endswith("Log in with: dicom-identity login archive")
    witness.error(required.value)
    assert file_keyring.get_password(*later.keyring_entry) is None
    assert not active(op, rotated["refresh_token"])  # the replay ended the grant
    witness.assert_no_leaks()


def test_the_mandatory_window_refreshes_the_token_in_memory(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op = oidc_provider
    clock = Clock()
    provider = logged_in(op, file_keyring, tmp_path, witness, clock=clock)
    before = provider.negotiate(TARGET).request.primary
    expires_at = provider.whoami().expires_at
    assert expires_at is not None
    clock.now = expires_at - 30  # inside the mandatory window (60 s)
    after = provider.negotiate(TARGET).request.primary
    witness.secret(after)
    witness.stored(provider, file_keyring)
    assert after != before
    assert refreshes(witness.caplog.records) == 1
    witness.assert_no_leaks()


def test_many_threads_refresh_once(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op = oidc_provider
    logged_in(op, file_keyring, tmp_path, witness)
    errors_before = op.log().count("grant.error")
    later = make_login(op, file_keyring, tmp_path)
    barrier = threading.Barrier(8)
    tokens: list[bytes] = []
    errors: list[BaseException] = []

    def negotiate() -> None:
        barrier.wait(timeout=10)
        try:
            tokens.append(later.negotiate(TARGET).request.primary.reveal())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=negotiate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(tokens) == 8 and len(set(tokens)) == 1  # one token: one refresh at the server
    assert refreshes(witness.caplog.records) == 1
    assert op.log().count("grant.error") == errors_before  # no refresh token sent twice
    witness.secret(tokens[0])
    stored = witness.stored(later, file_keyring)
    assert stored is not None and active(op, stored)
    witness.assert_no_leaks()


def test_processes_refresh_one_at_a_time_and_the_grant_survives(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    """Each process needs its own access token, so each refreshes; under the lock each reads
    the token the previous one stored. Without it, two would send the same refresh token and
    this provider would revoke the grant (tests/test_oidc_op.py shows that it does)."""
    op = oidc_provider
    first = logged_in(op, file_keyring, tmp_path, witness)
    spent = witness.stored(first, file_keyring)
    errors_before = op.log().count("grant.error")
    settings = {
        "issuer": op.issuer,
        "client_id": op.clients["device"].client_id,
        "scopes": ["openid", "offline_access", "dicom"],
        "resource": op.resource,
        "audience": op.audience,
        "keyring_file": file_keyring.file_path,
        "lock_dir": str(tmp_path / "locks"),
        "timeout": 5.0,
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_refresh_child", json.dumps(settings)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        running = [Running(child) for child in children]
        assert [r.line(timeout=30).strip() for r in running] == ["ready"] * 3
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [json.loads(r.line(timeout=30)) for r in running]
        for child in children:
            assert child.wait(timeout=10) == 0
            assert child.stderr is not None
            witness.texts.append(child.stderr.read())
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=5)
            for pipe in (child.stdin, child.stdout, child.stderr):
                if pipe is not None:
                    pipe.close()
    witness.texts.append(json.dumps(results))
    assert [r.get("principal") for r in results] == ["alice"] * 3, results
    assert len({r["sha256"] for r in results}) == 3  # three refreshes, one after the other
    stored = witness.stored(first, file_keyring)
    assert stored is not None and stored != spent
    assert active(op, stored)  # the grant survived: no refresh token was used twice
    assert op.log().count("grant.error") == errors_before
    mine = hashlib.sha256(first.negotiate(TARGET).request.primary.reveal()).hexdigest()
    assert mine not in {r["sha256"] for r in results}
    witness.assert_no_leaks()


def test_a_new_signing_key_is_read_once(
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    with start_oidc_provider(tmp_path / "op") as op:
        clock = Clock()
        provider = logged_in(op, file_keyring, tmp_path, witness, clock=clock)

        def reads() -> int:
            return witness.caplog.text.count("read the JWKS")

        assert reads() == 1
        new_kid = op.rotate_keys()
        for expected_reads in (2, 2):  # the new kid once; then it is known
            expires_at = provider.whoami().expires_at
            assert expires_at is not None
            clock.now = expires_at - 30
            token = provider.negotiate(TARGET).request.primary
            clock.now = time.time()  # back to now: the new token is not due yet
            witness.secret(token)
            assert reads() == expected_reads
        assert refreshes(witness.caplog.records) == 2
        pacs = embedded_pacs_factory(
            jwt_key=op.public_key_pem(new_kid), jwt_audience=AUDIENCE, jwt_issuer=op.issuer
        )
        with Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider).associate():
            pass
        (record,) = pacs.wait_for_records(1)
        assert (record.principal, record.verified) == ("alice", True)
        witness.stored(provider, file_keyring)
    witness.assert_no_leaks()


def test_the_lock_folder_is_private_and_the_wait_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert default_lock_dir() == tmp_path / "run" / "dicom-identity" / "locks"
    monkeypatch.delenv("XDG_RUNTIME_DIR")  # ssh, cron: no runtime folder; not /tmp then
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_lock_dir() == tmp_path / "cache" / "dicom-identity" / "locks"

    lock = ProcessLock("issuer\0client", directory=tmp_path / "locks")
    other = ProcessLock("issuer\0client", directory=tmp_path / "locks")
    with lock.held(1, what="the test's login"):
        assert lock.path.parent.stat().st_mode & 0o777 == 0o700
        assert lock.path.stat().st_mode & 0o777 == 0o600
        started = time.monotonic()
        with (
            pytest.raises(TokenEndpointUnreachable, match="held the test's login for more than"),
            other.held(0.3, what="the test's login"),
        ):
            pass
        assert 0.3 <= time.monotonic() - started < 1.5
    with other.held(0.3, what="the test's login"):
        pass  # free again
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with (
        pytest.raises(CredentialError, match="only this user can write to"),
        ProcessLock("k", directory=shared).held(1, what="x"),
    ):
        pass
