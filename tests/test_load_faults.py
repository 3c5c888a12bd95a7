"""Load and faults: many associations at once, a peer killed mid-association, a KDC stopped
between associations, a token file rotated while associations run.

Every fault must end in a typed error within a bound (never a hang, never an untyped exception),
and the first association after recovery must succeed. The load leaves no thread and no file
descriptor behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.pdu import P_DATA_TF

from client_sdk import (
    VERIFICATION,
    AssociationAborted,
    AuthenticationRejected,
    Client,
    DimseFailure,
    Peer,
    Timeouts,
)
from client_sdk.testing import (
    EmbeddedPacs,
    KerberosRealm,
    ct_dataset,
    kerberos_tools_missing,
    throwaway_realm,
)
from providers import (
    CredentialError,
    CredentialExpired,
    IdentityError,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    PasswordProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, free_port, make_jwt, poll, write_token
from tests.processes import Running, background, listening
from tests.timeouts import THIRD_PARTY

THREADS = 8
PER_THREAD = 50


# --- Resources: threads and file descriptors ---------------------------------------------------


def _open_files() -> set[tuple[str, str]]:
    """(descriptor, what it points to) for every open descriptor of this process."""
    found: set[tuple[str, str]] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue  # the descriptor listdir itself used, already closed
    return found


@dataclass(frozen=True)
class _Resources:
    """Python threads, OS threads (/proc/self/task) and open descriptors of this process.

    Compared as sets: "nothing new since before". Other tests' leftovers (a reader thread of a
    stopped process) may end meanwhile without making this test wait for an exact count.
    """

    threads: frozenset[int]
    tasks: frozenset[str]
    fds: frozenset[tuple[str, str]]

    @classmethod
    def now(cls) -> _Resources:
        return cls(
            frozenset(t.ident or 0 for t in threading.enumerate()),
            frozenset(os.listdir("/proc/self/task")),
            frozenset(_open_files()),
        )

    def new_since(self, before: _Resources) -> _Resources:
        return _Resources(
            self.threads - before.threads, self.tasks - before.tasks, self.fds - before.fds
        )

    @property
    def counts(self) -> tuple[int, int, int]:
        return len(self.threads), len(self.tasks), len(self.fds)

    def __bool__(self) -> bool:
        return bool(self.threads or self.tasks or self.fds)


def _sockets() -> int:
    return sum(1 for _, target in _open_files() if target.startswith("socket:"))


def _no_socket_left(before: int) -> None:
    """An aborted association closes its socket (bounded wait for pynetdicom's threads)."""
    poll(lambda: _sockets() <= before, timeout=10, what=f"sockets back to {before}")


def _settle_to(before: _Resources, timeout: float) -> _Resources:
    """Wait (bounded) until no thread and no descriptor is left that was not there ``before``:
    pynetdicom's reactor and association threads end a little after the association does."""
    try:
        poll(
            lambda: not _Resources.now().new_since(before),
            timeout=timeout,
            what="threads and fds to settle",
        )
    except AssertionError:
        new = _Resources.now().new_since(before)
        names = sorted(t.name for t in threading.enumerate() if t.ident in new.threads)
        raise AssertionError(
            f"left after the load: threads {names}, OS threads {sorted(new.tasks)}, "
            f"descriptors {sorted(new.fds)}"
        ) from None
    return _Resources.now()


# --- Load --------------------------------------------------------------------------------------


def _calling(index: int) -> str:
    return f"LOAD_SCU_{index}"


def _load_identities(
    variant: str, tmp_path: Path, keyring_backend: Any
) -> tuple[dict[str, str], list[Any]]:
    """The PACS's users and one identity provider per thread, each a different principal."""
    users = {f"user{i}": f"pässword-{i}" for i in range(THREADS)}
    if variant == "password":
        return users, [PasswordProvider(f"user{i}", users[f"user{i}"]) for i in range(THREADS)]
    if variant == "keyring":  # one file keyring read by every thread at every association
        for user, password in users.items():
            keyring_backend.set_password("load-pacs", user, password)
        return users, [
            KeyringPasswordProvider("load-pacs", f"user{i}", backend=keyring_backend)
            for i in range(THREADS)
        ]
    providers = []
    for i in range(THREADS):
        path = write_token(tmp_path / f"token-{i}.jwt", make_jwt(sub=f"user{i}", lifetime=900))
        providers.append(JwtFileProvider(path, audience=AUDIENCE))
    return users, providers


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["password", "keyring", "jwt"])
def test_eight_threads_fifty_associations_each(
    variant: str, tmp_path: Path, file_keyring: Any
) -> None:
    users, identities = _load_identities(variant, tmp_path, file_keyring)
    with EmbeddedPacs(users=users, jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as pacs:
        peer = Peer(pacs.host, pacs.port, pacs.ae_title)
        clients = [
            Client(peer, identity=identities[i], calling_ae_title=_calling(i), timeouts=THIRD_PARTY)
            for i in range(THREADS)
        ]
        before = _Resources.now()
        assert clients[0].echo() == 0  # warm-up: lazy imports and one-time set-up
        pacs.wait_for_records(1, ended=True, timeout=10)
        _settle_to(before, timeout=20)
        pacs.clear()

        errors: list[tuple[int, BaseException]] = []
        statuses: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def run(index: int) -> None:
            try:
                start.wait(30)
                for _ in range(PER_THREAD):
                    with clients[index].associate(sop_classes=[VERIFICATION]) as session:
                        assert session.outcome.principal == f"user{index}"
                        status = session.echo()
                    with lock:
                        statuses.append(status)
            except BaseException as exc:
                with lock:
                    errors.append((index, exc))

        threads = [
            threading.Thread(target=run, args=(i,), name=f"load-{i}") for i in range(THREADS)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        wall = time.monotonic() - started
        assert not any(t.is_alive() for t in threads), "a load thread is still running after 300 s"
        assert errors == []
        assert statuses == [0] * (THREADS * PER_THREAD)

        records = pacs.wait_for_records(THREADS * PER_THREAD, ended=True, timeout=60)
        assert len(records) == THREADS * PER_THREAD
        expected_type = 5 if variant == "jwt" else 2
        for record in records:
            index = int(record.calling_ae_title.rsplit("_", 1)[1])
            assert record.identity_type == expected_type
            assert record.verified and record.principal == f"user{index}", record
            assert record.ended == "released" and record.dimse == ["C-ECHO"], record
        per_caller = Counter(r.calling_ae_title for r in records)
        assert per_caller == {_calling(i): PER_THREAD for i in range(THREADS)}

        after = _settle_to(before, timeout=30)
    print(
        f"\nload ({variant}): {THREADS}x{PER_THREAD} associations with identity + C-ECHO in "
        f"{wall:.1f} s ({THREADS * PER_THREAD / wall:.0f}/s); (threads, OS threads, fds) "
        f"before {before.counts}, after {after.counts}"
    )


# --- A peer killed mid-association -------------------------------------------------------------

KILL_USERS = {"alice": "correct horse battery staple"}


@pytest.fixture
def pacs_process(tmp_path: Path) -> Iterator[Callable[[int], Running]]:
    """Start ``python -m client_sdk.testing`` on a given port; every one is killed at teardown."""
    users = tmp_path / "users.json"
    users.write_text(json.dumps(KILL_USERS), encoding="utf-8")
    users.chmod(0o600)
    stack = contextlib.ExitStack()

    def start(port: int) -> Running:
        args = ["-m", "client_sdk.testing", "--port", str(port), "--users-file", str(users)]
        running = stack.enter_context(background(args))
        assert int(listening(running)["port"]) == port
        return running

    with stack:
        yield start


def _kill_client(port: int) -> Client:
    return Client(
        Peer("127.0.0.1", port, "EMBEDDED_PACS"),
        identity=PasswordProvider("alice", KILL_USERS["alice"]),
        timeouts=THIRD_PARTY,
    )


def _assert_recovers(start: Callable[[int], Running], port: int, client: Client) -> None:
    """A new PACS on the same port; the next association succeeds and is seen there."""
    pacs = start(port)
    assert client.echo() == 0
    line = pacs.line(timeout=10)
    assert "principal 'alice', verified True" in line and "ended released" in line, line


def test_peer_killed_inside_the_session(pacs_process: Callable[[int], Running]) -> None:
    port = free_port()
    pacs = pacs_process(port)
    client = _kill_client(port)
    sockets = _sockets()
    # Whether pynetdicom notices the dead peer before or during the second C-ECHO is a race:
    # both must name the hang-up.
    lost = pytest.raises(
        AssociationAborted,
        match=r"(?i)closed the connection (before|during) the C-ECHO.*open a new association",
    )
    with lost as info, client.associate(sop_classes=[VERIFICATION]) as session:
        assert session.echo() == 0
        pacs.proc.send_signal(signal.SIGKILL)
        pacs.proc.wait(timeout=10)
        started = time.monotonic()
        session.echo()
    assert time.monotonic() - started < 5, "the dead peer was noticed only after a timeout"
    assert f"127.0.0.1:{port}" in str(info.value)
    assert not session.is_open
    _no_socket_left(sockets)
    _assert_recovers(pacs_process, port, client)


@pytest.mark.slow
def test_peer_killed_during_a_c_store(pacs_process: Callable[[int], Running]) -> None:
    """SIGKILL while the client is sending a 32 MB dataset: after its 100th P-DATA-TF PDU
    (about 1.6 MB), from pynetdicom's own PDU-sent event, so the kill always lands mid-send."""
    port = free_port()
    pacs = pacs_process(port)
    client = _kill_client(port)
    big = ct_dataset(rows=4096, columns=4096)
    sent = Counter[str]()
    killed = threading.Event()

    def kill_mid_send(event: Any) -> None:
        if isinstance(event.pdu, P_DATA_TF):
            sent["P-DATA-TF"] += 1
            if sent["P-DATA-TF"] == 100:
                pacs.proc.send_signal(signal.SIGKILL)
                killed.set()

    sockets = _sockets()
    lost = pytest.raises(AssociationAborted, match="closed the connection during the C-STORE")
    with lost as info, client.associate(sop_classes=[big.SOPClassUID]) as session:
        session.association.bind(evt.EVT_PDU_SENT, kill_mid_send)
        started = time.monotonic()
        session.store(big)
    elapsed = time.monotonic() - started
    assert killed.is_set()
    assert elapsed < 5, f"the dead peer was noticed only after {elapsed:.1f} s"
    print(
        f"\npeer killed during C-STORE after {sent['P-DATA-TF']} PDUs, noticed in "
        f"{elapsed:.2f} s: {type(info.value).__name__}: {info.value}"
    )
    assert f"127.0.0.1:{port}" in str(info.value) and "C-STORE" in str(info.value)
    pacs.proc.wait(timeout=10)
    _no_socket_left(sockets)
    _assert_recovers(pacs_process, port, client)


def test_a_dimse_timeout_is_not_reported_as_a_lost_peer() -> None:
    """The counterpart: a live peer that does not answer in time is a DimseFailure naming the
    timeout (pynetdicom aborts the association itself), not "the peer aborted"."""
    answer = threading.Event()

    def slow_echo(event: Any) -> int:
        answer.wait(10)
        return 0

    ae = AE("SLOW_SCP")
    ae.add_supported_context(VERIFICATION)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_ECHO, slow_echo)]
    )
    assert server is not None
    try:
        peer = Peer("127.0.0.1", int(server.server_address[1]), "SLOW_SCP")
        client = Client(peer, timeouts=Timeouts(connect=2, acse=2, dimse=1, network=5))
        sockets = _sockets()
        timed_out = pytest.raises(DimseFailure, match=r"DIMSE timeout \(1 s\)")
        with timed_out as info, client.associate(sop_classes=[VERIFICATION]) as session:
            session.echo()
        assert not isinstance(info.value, AssociationAborted)
        answer.set()  # the SCP's side of the aborted association ends too
        _no_socket_left(sockets)
    finally:
        answer.set()
        server.shutdown()


# --- The KDC stopped between associations ------------------------------------------------------


@pytest.fixture
def private_realm(monkeypatch: pytest.MonkeyPatch) -> Iterator[KerberosRealm]:
    """A realm of this test's own (its KDC gets stopped), not the session-wide one."""
    why = kerberos_tools_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and Kerberos tests cannot run: {why}")
        pytest.skip(why)
    with throwaway_realm("LOADTEST.COM") as realm:
        for key, value in realm.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("KRB5_CLIENT_KTNAME", raising=False)
        monkeypatch.delenv("KRB5_KTNAME", raising=False)
        yield realm


def test_kdc_stopped_between_associations(private_realm: KerberosRealm, tmp_path: Path) -> None:
    """A keytab identity needs the KDC for every association; a ticket already in a cache does
    not. With the KDC down: a typed error naming it, fast, nothing sent; once it is back, the
    next association succeeds."""
    realm = private_realm
    keytab = KerberosProvider(
        hostname="localhost", keytab=realm.account_keytab, principal=realm.account
    )
    cached = KerberosProvider(
        hostname="localhost", ccache=realm.kinit(ccache=f"FILE:{tmp_path}/cc")
    )
    with EmbeddedPacs(kerberos_keytab=realm.pacs_keytab) as pacs:
        peer = Peer(pacs.host, pacs.port, pacs.ae_title)
        with_keytab = Client(peer, identity=keytab, timeouts=THIRD_PARTY)
        with_cache = Client(peer, identity=cached, timeouts=THIRD_PARTY)
        assert with_keytab.echo() == 0
        assert with_cache.echo() == 0  # the service ticket is now in the cache
        realm.stop_kdc()
        try:
            started = time.monotonic()
            with pytest.raises(CredentialError, match="cannot reach a KDC") as info:
                with_keytab.echo()
            elapsed = time.monotonic() - started
            assert with_cache.echo() == 0  # a cached service ticket needs no KDC
        finally:
            realm.start_kdc()
        message = str(info.value)
        assert "LOADTEST.COM" in message and "nothing was sent" in message
        assert "KDC is running" in message
        assert type(info.value) is CredentialError  # not "unavailable": a chain must not move on
        assert elapsed < 15, f"the stopped KDC took {elapsed:.1f} s to notice"
        records = pacs.wait_for_records(3, ended=True, timeout=10)
        assert len(records) == 3  # the failed attempt sent nothing

        assert with_keytab.echo() == 0
        records = pacs.wait_for_records(4, ended=True, timeout=10)
    principals = [r.principal for r in records]
    assert principals == [realm.account, realm.user, realm.user, realm.account]
    assert all(r.verified and r.ended == "released" for r in records)


# --- A token file rotated while associations run ------------------------------------------------

ROTATIONS = 8
ROTATING_THREADS = 4


def _rotation_token(generation: int) -> str:
    # Same length for every generation: the provider cannot tell them apart by size.
    return make_jwt(sub=f"rotation-{generation:02d}", jti=f"jti-{generation:02d}", lifetime=900)


def _generation(principal: str) -> int:
    assert principal.startswith("rotation-"), principal
    return int(principal.removeprefix("rotation-"))


def _replace_atomically(path: Path, token: str) -> None:
    """What a token agent should do: write a temporary file, then rename it over the old one."""
    temporary = write_token(path.with_name(f".{path.name}.tmp"), token)
    os.replace(temporary, path)


class _Rotation:
    """The generation in the token file: ``published`` is raised before a write starts and
    ``current`` after it ended, so a token read meanwhile is in [current before, published
    after]."""

    def __init__(self) -> None:
        self.current = 0
        self.published = 0


@pytest.mark.slow
@pytest.mark.parametrize("write", ["atomic", "in-place"])
def test_token_file_rotated_while_associations_run(write: str, tmp_path: Path) -> None:
    """Every association carries the token valid at that moment or fails with a typed error
    (in place: a reader may see the file empty or half written); atomic replacement never
    fails. After the last rotation the next association carries the newest token."""
    path = write_token(tmp_path / "token.jwt", _rotation_token(0))
    rotation = _Rotation()
    done: list[tuple[int, int, int]] = []  # (current before, generation sent, published after)
    typed: list[IdentityError] = []
    untyped: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()
    with EmbeddedPacs(jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as pacs:
        # One provider shared by every thread: its cache of the file is shared too.
        client = Client(
            Peer(pacs.host, pacs.port, pacs.ae_title),
            identity=JwtFileProvider(path, audience=AUDIENCE),
            timeouts=THIRD_PARTY,
        )

        def associate_in_a_loop() -> None:
            while not stop.is_set():
                before = rotation.current
                try:
                    with client.associate(sop_classes=[VERIFICATION]) as session:
                        sent = _generation(session.outcome.principal)
                        session.echo()
                except IdentityError as exc:
                    with lock:
                        typed.append(exc)
                    continue
                except BaseException as exc:
                    with lock:
                        untyped.append(exc)
                    return
                with lock:
                    done.append((before, sent, rotation.published))

        def wait_until_used(generation: int) -> None:
            """Until three associations that started after ``generation`` was written ended."""

            def used() -> bool:
                with lock:
                    return sum(1 for before, _, _ in done if before >= generation) >= 3

            poll(used, timeout=30, what=f"associations with generation {generation}")

        threads = [
            threading.Thread(target=associate_in_a_loop, name=f"rotating-{i}")
            for i in range(ROTATING_THREADS)
        ]
        for thread in threads:
            thread.start()
        try:
            for generation in range(1, ROTATIONS + 1):
                wait_until_used(generation - 1)
                rotation.published = generation
                if write == "atomic":
                    _replace_atomically(path, _rotation_token(generation))
                else:
                    write_token(path, _rotation_token(generation))
                rotation.current = generation
            wait_until_used(ROTATIONS)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert not any(t.is_alive() for t in threads)
        assert untyped == []
        if write == "atomic":
            assert typed == []
        for exc in typed:  # in place: the half-written file is refused before anything is sent
            assert isinstance(exc, CredentialError | AuthenticationRejected), repr(exc)
        stale = [(lo, sent, hi) for lo, sent, hi in done if not lo <= sent <= hi]
        assert stale == [], "associations carried a token that was not in the file then"

        with client.associate(sop_classes=[VERIFICATION]) as session:
            assert session.outcome.principal == f"rotation-{ROTATIONS:02d}"
            assert session.echo() == 0

        records = pacs.wait_for_records(len(done) + 1, ended=True, timeout=30)
    accepted = [r for r in records if r.rejected is None]
    assert Counter(_generation(r.principal or "") for r in accepted) == Counter(
        [sent for _, sent, _ in done] + [ROTATIONS]
    )
    assert {_generation(r.principal or "") for r in accepted} == set(range(ROTATIONS + 1))
    assert all(r.verified and r.ended == "released" for r in accepted)
    print(
        f"\ntoken rotated {ROTATIONS} times ({write}) under {ROTATING_THREADS} threads: "
        f"{len(done)} associations, {len(typed)} typed failures "
        f"{sorted(Counter(type(e).__name__ for e in typed).items())}"
    )


@pytest.mark.parametrize(
    ("expired_for", "error"),
    [
        (3600, CredentialExpired),  # beyond the provider's leeway: refused before sending
        (10, AuthenticationRejected),  # within its 30 s leeway: sent, and the PACS refuses it
    ],
)
def test_expired_token_then_rotated_to_a_valid_one(
    expired_for: int, error: type[Exception], tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_jwt(sub="stale", lifetime=-expired_for))
    with EmbeddedPacs(jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as pacs:
        client = Client(
            Peer(pacs.host, pacs.port, pacs.ae_title),
            identity=JwtFileProvider(path, audience=AUDIENCE),
            timeouts=THIRD_PARTY,
        )
        with pytest.raises(error, match=r"expired|rejected"):
            client.echo()
        _replace_atomically(path, make_jwt(sub="fresh"))
        assert client.echo() == 0
        records = pacs.wait_for_records(1 if error is CredentialExpired else 2, timeout=10)
    assert records[-1].principal == "fresh" and records[-1].verified
    if error is AuthenticationRejected:
        assert records[0].failure == "JWT expired" and records[0].rejected is not None
