"""Local bad inputs (issue #6), the whole list in one place.

Each case ends, within a bound, in a typed error whose message names the source (the file, the
keyring entry, the field, the dotted key) and says what to do. When the fault is local nothing is
sent: the cases go through a ``Client`` whose peer is a port that counts the TCP connections made
to it, and that count stays zero. A few inputs are accepted on purpose (a token file with CRLF, a
``Bearer `` prefix or a BOM; a token file others may read, with a warning): for those the
embedded PACS verifies the token it received, and echoes it back so its length can be checked.

- keyring: entry missing; no backend (keyring's fail backend, passed in or chosen through
  PYTHON_KEYRING_BACKEND); a PYTHON_KEYRING_BACKEND that cannot load; a backend raising (keyring's
  errors, a locked keyring, an OS error, a corrupt keyring file); an empty stored password
- JWT file: missing; empty or blank; unreadable (permission, checked as the user ``nobody`` when we
  run as root; a folder that cannot be searched; a directory; a FIFO); garbage (text, binary);
  two or four parts; characters outside base64url; undecodable; expired; not yet valid (nbf, iat);
  a time claim that is not a number; wrong or missing audience; too large (over the association's
  16-bit budget; over 1 MiB); CRLF, ``Bearer `` and a BOM (accepted); group- or world-readable
  (a warning; the association goes ahead)
- usernames and passwords: a username with lone surrogates (not UTF-8), given as bytes, empty or
  blank; an empty password; a password that is not UTF-8 (bytes, lone surrogates); an empty
  keyring service
- configuration: one file with every kind of mistake the loader detects, reported at once; a
  TOML syntax error alone (it stops parsing). The loader's exact wording for each rule, and the
  file-level cases (not UTF-8, a directory, a missing explicit path), are pinned in
  tests/test_config.py.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring.backends.fail
import keyring.core
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from client_sdk import (
    Client,
    ConfigError,
    IdentityTooLarge,
    InvalidConfig,
    Peer,
    Policy,
    Timeouts,
    load_config,
)
from client_sdk._association.contexts import user_information_budget
from client_sdk.testing import EmbeddedPacs
from providers import (
    CredentialError,
    CredentialExpired,
    CredentialUnavailable,
    IdentityError,
    IdentityProvider,
    InvalidIdentity,
    JwtFileProvider,
    KeyringEntryMissing,
    KeyringPasswordProvider,
    PasswordProvider,
    Target,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, poll, write_token
from tests.timeouts import QUICK

# A local refusal takes milliseconds; the bound is generous for a loaded machine, and far below
# what reaching the peer would take (its ACSE timeout).
LOCAL_BOUND = 1.5


# --- Nothing sent: a port that counts connections -------------------------------------------


class CountingPort:
    """A listening TCP port on 127.0.0.1 that never answers. The kernel completes every
    connection into the backlog, even one the client closes at once; ``connections()`` takes
    them all, so zero means no TCP connection was ever made."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._seen = 0

    def connections(self) -> int:
        while True:
            try:
                conn, _ = self._listener.accept()
            except BlockingIOError:
                return self._seen
            conn.close()
            self._seen += 1

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def silent_peer() -> Iterator[CountingPort]:
    port = CountingPort()
    yield port
    port.close()


def refused_locally(
    silent_peer: CountingPort,
    make_provider: Callable[[], IdentityProvider],
    error: type[IdentityError],
    *fragments: str,
) -> str:
    """Build the provider, associate through a Client: ``error`` (exactly that class) quickly,
    no connection made, and every fragment in the message. Returns the message."""

    def associate() -> None:  # the provider may refuse when built, or when asked
        peer = Peer("127.0.0.1", silent_peer.port, "PACS")
        Client(peer, identity=make_provider(), timeouts=QUICK).echo()

    started = time.monotonic()
    with pytest.raises(IdentityError) as info:
        associate()
    elapsed = time.monotonic() - started
    assert type(info.value) is error, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert elapsed < LOCAL_BOUND, f"took {elapsed:.2f} s"
    assert silent_peer.connections() == 0
    return message


def test_the_counting_port_sees_a_client_that_does_connect(silent_peer: CountingPort) -> None:
    # What makes "zero connections" mean something: a good identity does reach the port (and
    # then gives up at the ACSE timeout, since nobody answers).
    client = Client(
        Peer("127.0.0.1", silent_peer.port, "PACS"),
        identity=UsernameProvider("alice"),
        timeouts=Timeouts(connect=2, acse=0.5, dimse=1, network=1),
    )
    with pytest.raises(IdentityError):
        client.echo()
    assert silent_peer.connections() == 1


# --- Keyring ----------------------------------------------------------------------------------


class RaisingKeyring(KeyringBackend):
    """A backend whose store fails the ways real ones do (locked, D-Bus down, file unreadable).
    A fake, for the provider's handling of the error only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> str | None:
        raise self.error

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error


def test_keyring_entry_missing(silent_peer: CountingPort, file_keyring: Any) -> None:
    file_keyring.set_password("pacs", "alice", "someone-else's")
    refused_locally(
        silent_peer,
        lambda: KeyringPasswordProvider("pacs", "bob", backend=file_keyring),
        KeyringEntryMissing,  # a CredentialUnavailable that names the entry (service, username)
        "no password in keyring service 'pacs', user 'bob'",
        "keyrings.alt.file.PlaintextKeyring",
        "Add it with: keyring set pacs bob",
    )


def test_keyring_without_a_backend(silent_peer: CountingPort) -> None:
    refused_locally(
        silent_peer,
        lambda: KeyringPasswordProvider("pacs", "alice", backend=keyring.backends.fail.Keyring()),
        CredentialUnavailable,
        "no usable keyring backend for keyring service 'pacs', user 'alice'",
        "PYTHON_KEYRING_BACKEND",
        "pip install keyrings.alt",
    )


def test_keyring_without_a_backend_chosen_by_keyring(
    silent_peer: CountingPort, monkeypatch: pytest.MonkeyPatch
) -> None:
    # keyring's own resolution, from the environment (its choice is restored afterwards)
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    refused_locally(
        silent_peer,
        lambda: KeyringPasswordProvider("pacs", "alice"),
        CredentialUnavailable,
        "keyring.backends.fail.Keyring",
        "PYTHON_KEYRING_BACKEND",
    )


@pytest.mark.parametrize(
    "name", ["keyrings.alt.file.NoSuchKeyring", "no_such_package.Keyring", "not a dotted name"]
)
def test_keyring_backend_in_the_environment_that_cannot_load(
    silent_peer: CountingPort, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)
    refused_locally(
        silent_peer,
        lambda: KeyringPasswordProvider("pacs", "alice"),
        CredentialError,
        f"PYTHON_KEYRING_BACKEND={name!r} cannot be loaded",
        "keyring --list-backends",
    )


@pytest.mark.parametrize(
    ("raised", "error", "shown"),
    [
        (
            keyring.errors.KeyringError("the D-Bus session bus is not running"),
            CredentialError,
            "KeyringError: the D-Bus session bus is not running",
        ),
        (keyring.errors.KeyringLocked("collection is locked"), CredentialError, "Unlock it"),
        (
            PermissionError(13, "Permission denied", "/home/alice/.local/share/keyring.cfg"),
            CredentialError,
            "Permission denied (/home/alice/.local/share/keyring.cfg)",
        ),
        # A message that may quote the keyring's contents: only its type is shown.
        (RuntimeError("line 2: alice = hunter2-secret"), CredentialError, "RuntimeError."),
    ],
    ids=["keyring-error", "locked", "os-error", "other"],
)
def test_keyring_backend_raising(
    silent_peer: CountingPort, raised: Exception, error: type[IdentityError], shown: str
) -> None:
    message = refused_locally(
        silent_peer,
        lambda: KeyringPasswordProvider("pacs", "alice", backend=RaisingKeyring(raised)),
        error,
        "keyring service 'pacs', user 'alice'",
        f"{RaisingKeyring.__module__}.RaisingKeyring",
        shown,
    )
    assert "hunter2" not in message


def test_keyring_file_that_is_corrupt(silent_peer: CountingPort, file_keyring: Any) -> None:
    # A real backend on a broken file: configparser's error quotes the file's lines, which hold
    # (base64) passwords; the message keeps only the error's type.
    Path(file_keyring.file_path).write_text("[pacs\nalice = c2VjcmV0LXB3\n")
    message = refused_locally(
        silent_peer,
        lambda: KeyringPasswordProvider("pacs", "alice", backend=file_keyring),
        CredentialError,
        "the keyring backend failed reading keyring service 'pacs', user 'alice'",
        "MissingSectionHeaderError",
        "keyring diagnose",
    )
    assert "c2VjcmV0LXB3" not in message


def test_keyring_password_that_is_empty(silent_peer: CountingPort, file_keyring: Any) -> None:
    file_keyring.set_password("pacs", "alice", "")
    refused_locally(
        silent_peer,
        lambda: KeyringPasswordProvider("pacs", "alice", backend=file_keyring),
        InvalidIdentity,
        "the password in keyring service 'pacs', user 'alice'",
        "is empty; set it again with: keyring set pacs alice",
    )


# --- Usernames and passwords ----------------------------------------------------------------

CALLER_CASES: list[tuple[str, Callable[[], IdentityProvider], tuple[str, ...]]] = [
    (
        "username-lone-surrogate",
        lambda: UsernameProvider("j\udcfcrgen"),
        ("'j\\udcfcrgen'", "cannot be encoded as UTF-8", "decode the name"),
    ),
    (
        "username-bytes",
        lambda: UsernameProvider(b"j\xfcrgen"),  # type: ignore[arg-type]
        ("must be text (str), not bytes", "decode it first"),
    ),
    ("username-empty", lambda: UsernameProvider(""), ("the username is empty", "give the name")),
    ("username-blank", lambda: UsernameProvider("  \t"), ("the username is empty",)),
    (
        "password-username-lone-surrogate",
        lambda: PasswordProvider("j\udcfcrgen", "pw"),
        ("cannot be encoded as UTF-8",),
    ),
    ("password-username-empty", lambda: PasswordProvider("", "pw"), ("the username is empty",)),
    (
        "password-empty",
        lambda: PasswordProvider("alice", ""),
        ("the password given for 'alice' is empty", "pass the user's password"),
    ),
    (
        "password-not-utf8",
        lambda: PasswordProvider("alice", b"hunter2\xff"),
        ("the password given for 'alice' is not valid UTF-8", "as UTF-8 bytes"),
    ),
    (
        "password-lone-surrogate",
        lambda: PasswordProvider("alice", "hunter2\udcff"),
        ("lone surrogate", "decode it with its real encoding"),
    ),
    (
        "keyring-username-lone-surrogate",
        lambda: KeyringPasswordProvider("pacs", "j\udcfcrgen"),
        ("cannot be encoded as UTF-8",),
    ),
    (
        "keyring-username-empty",
        lambda: KeyringPasswordProvider("pacs", ""),
        ("the username is empty",),
    ),
    (
        "keyring-service-empty",
        lambda: KeyringPasswordProvider(" ", "alice"),
        ("the keyring service is ' '", "keyring set SERVICE USERNAME"),
    ),
]


@pytest.mark.parametrize(
    ("make_provider", "fragments"),
    [case[1:] for case in CALLER_CASES],
    ids=[case[0] for case in CALLER_CASES],
)
def test_username_and_password_given_by_the_caller(
    silent_peer: CountingPort,
    make_provider: Callable[[], IdentityProvider],
    fragments: tuple[str, ...],
) -> None:
    message = refused_locally(silent_peer, make_provider, InvalidIdentity, *fragments)
    assert "hunter2" not in message


def test_a_password_with_lone_surrogates_keeps_it_out_of_the_traceback() -> None:
    # UnicodeEncodeError holds the whole string in .object: it must not ride along as context.
    with pytest.raises(InvalidIdentity) as info:
        PasswordProvider("alice", "hunter2\udcff")
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


# --- JWT file: refused before anything is sent -------------------------------------------------


def _content(data: str | bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        path.chmod(0o600)

    return make


def _later(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


JWT_CASES: list[tuple[str, Callable[[Path], None], type[IdentityError], tuple[str, ...]]] = [
    ("missing", lambda path: None, CredentialUnavailable, ("does not exist", "agent")),
    ("empty", _content(""), CredentialError, ("is empty", "agent", "rename")),
    ("blank", _content(" \r\n\t\n"), CredentialError, ("is empty",)),
    ("directory", lambda path: path.mkdir(), CredentialError, ("is a directory", "token file")),
    ("fifo", lambda path: os.mkfifo(path, 0o600), CredentialError, ("not a regular file",)),
    (
        "garbage-text",
        _content("not a token at all\n"),
        CredentialError,
        ("found 1 part(s)", "check what the token agent writes"),
    ),
    (
        "garbage-binary",
        _content(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8"),
        CredentialError,
        ("not ASCII", "check what the token agent writes"),
    ),
    ("two-part", _content("aaaa.bbbb"), CredentialError, ("found 2 part(s)", "3 (JWS) or 5")),
    ("four-part", _content("a.b.c.d"), CredentialError, ("found 4 part(s)",)),
    (
        "not-base64url",
        _content("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0=.sig+nature/"),
        CredentialError,
        ("part 2 of 3 has characters outside base64url",),
    ),
    (
        "undecodable",
        _content("Zm9v.YmFy.YmF6"),
        CredentialError,
        ("cannot be decoded (DecodeError)", "check what the token agent writes"),
    ),
    (
        "expired",
        _content(make_jwt(lifetime=-3600)),
        CredentialExpired,
        ("expired at", "leeway 30 s", "nothing was sent", "agent rotating it"),
    ),
    (
        "not-yet-valid-nbf",
        _content(make_jwt(nbf=_later(), lifetime=7200)),
        CredentialExpired,
        ("is not valid before", "in the future", "clock"),
    ),
    (
        "not-yet-valid-iat",
        _content(make_jwt(iat=_later(), lifetime=7200)),
        CredentialExpired,
        ("was issued at", "in the future", "clock"),
    ),
    (
        "exp-not-a-number",
        _content(make_jwt(exp="tomorrow")),
        CredentialError,
        ("the 'exp' claim is not a number", "issuer"),
    ),
    (
        "nbf-too-large",
        _content(make_jwt(nbf=10**400)),
        CredentialError,
        ("the 'nbf' claim is not a number of seconds since 1970", "issuer"),
    ),
    (
        "wrong-audience",
        _content(make_jwt(aud=["OTHER", "ANOTHER"])),
        CredentialError,
        ("for audience ['OTHER', 'ANOTHER'], not 'EMBEDDED_PACS'", "Request a token for"),
    ),
    (
        "no-audience",
        _content(make_jwt(aud=None)),
        CredentialError,
        ("for audience none, not 'EMBEDDED_PACS'",),
    ),
    (
        "over-1-MiB",
        _content(b"a" * (2 << 20)),
        CredentialError,
        ("2097152 bytes, more than any token", "names the token file"),
    ),
]


@pytest.mark.parametrize(
    ("make_file", "error", "fragments"),
    [case[1:] for case in JWT_CASES],
    ids=[case[0] for case in JWT_CASES],
)
def test_jwt_file_refused(
    silent_peer: CountingPort,
    tmp_path: Path,
    make_file: Callable[[Path], None],
    error: type[IdentityError],
    fragments: tuple[str, ...],
) -> None:
    path = tmp_path / "dicom.jwt"
    make_file(path)
    message = refused_locally(
        silent_peer,
        lambda: JwtFileProvider(path, audience=AUDIENCE),
        error,
        str(path),
        *fragments,
    )
    assert "eyJ" not in message  # no token, nor any part of one


def test_jwt_over_the_association_budget_fails_fast(
    silent_peer: CountingPort, tmp_path: Path
) -> None:
    # Fits the file limit, not the 16-bit lengths of the A-ASSOCIATE-RQ (65,463 bytes here).
    path = write_token(tmp_path / "big.jwt", make_jwt(pad="x" * 60_000))
    refused_locally(
        silent_peer,
        lambda: JwtFileProvider(path, audience=AUDIENCE),
        IdentityTooLarge,
        f"from JWT file {path}",
        f"at most {user_information_budget()} fit",
        "nothing was sent",
        "Use a smaller credential",
    )


# The permission case. Root reads any file, so as root the provider runs in a forked child that
# dropped to the user nobody (a fork: nobody may not be able to reach this Python or this
# checkout); otherwise in this process, as ourselves.


def _negotiate_unprivileged(provider: JwtFileProvider) -> str:
    """``"accepted"`` or ``"ErrorClass: message"`` for ``provider.negotiate`` as a user who is
    not root (``nobody`` when we are root)."""
    target = Target("127.0.0.1", 104, "PACS", "SCU")
    if os.geteuid() != 0:
        try:
            provider.negotiate(target)
        except IdentityError as exc:
            return f"{type(exc).__name__}: {exc}"
        return "accepted"
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, try, report through the pipe, exit without cleanup
        outcome = "accepted"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            provider.negotiate(target)
        except BaseException as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(write_end, outcome.encode())
            os._exit(0)
    os.close(write_end)
    try:
        poll(lambda: os.waitpid(pid, os.WNOHANG) != (0, 0), timeout=10, what="the child")
    except AssertionError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    with os.fdopen(read_end, "rb") as pipe:
        return pipe.read().decode()


@pytest.fixture
def searchable_dir() -> Iterator[Path]:
    """A folder any user may search (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="bad-input-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_jwt_file_unreadable(searchable_dir: Path) -> None:
    readable = write_token(searchable_dir / "readable.jwt", make_jwt(), mode=0o644)
    unreadable = write_token(searchable_dir / "unreadable.jwt", make_jwt(), mode=0o600)
    if os.geteuid() != 0:
        unreadable.chmod(0o000)
    hidden_dir = searchable_dir / "private"
    hidden_dir.mkdir(mode=0o700)
    if os.geteuid() != 0:
        hidden_dir.chmod(0o000)
    hidden = hidden_dir / "dicom.jwt"
    if os.geteuid() == 0:
        write_token(hidden, make_jwt())
    uid = os.geteuid() or pwd.getpwnam("nobody").pw_uid
    try:
        # The same user and code read a file they may read: the refusals below are the mode's.
        assert _negotiate_unprivileged(JwtFileProvider(readable)) == "accepted"
        for path in (unreadable, hidden):
            outcome = _negotiate_unprivileged(JwtFileProvider(path))
            assert outcome.startswith(f"CredentialError: JWT file {path} cannot be read: "), outcome
            assert f"permission denied for this process (uid {uid})" in outcome
            assert "mode 600" in outcome and f"ls -l {path}" in outcome
    finally:
        hidden_dir.chmod(0o700)  # let the cleanup in


# --- JWT file: accepted on purpose --------------------------------------------------------------


@pytest.fixture
def echoing_pacs() -> Iterator[EmbeddedPacs]:
    # "echo": the PACS sends back the token it received, so its length can be compared.
    with EmbeddedPacs(jwt_key=JWT_KEY, jwt_audience=AUDIENCE, response_mode="echo") as pacs:
        yield pacs


def _associate_and_check_bare_token(pacs: EmbeddedPacs, path: Path, token: str) -> None:
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=JwtFileProvider(path, audience=AUDIENCE, positive_response=True),
        policy=Policy(echo_is_missing=False),
        timeouts=QUICK,
    )
    with client.associate() as session:
        assert session.echo() == 0
        assert session.outcome.echoed  # what came back is what the request held
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert (record.identity_type, record.verified, record.principal) == (
        5,
        True,
        "alice@example.org",
    )
    assert record.response_sent == "echo"
    assert record.response_length == len(token)  # the bare JWT: no CR, LF, prefix or BOM


@pytest.mark.parametrize(
    "wrap",
    [
        lambda token: f"{token}\r\n".encode(),
        lambda token: f"Bearer {token}".encode(),
        lambda token: f"  bearer\t{token}\r\n\r\n".encode(),
        lambda token: b"\xef\xbb\xbf" + f"{token}\r\n".encode(),
    ],
    ids=["crlf", "bearer-prefix", "bearer-any-case-and-blank-lines", "utf8-bom"],
)
def test_jwt_file_accepted_and_sent_bare(
    echoing_pacs: EmbeddedPacs, tmp_path: Path, wrap: Callable[[str], bytes]
) -> None:
    token = make_jwt()
    path = tmp_path / "dicom.jwt"
    path.write_bytes(wrap(token))
    path.chmod(0o600)
    _associate_and_check_bare_token(echoing_pacs, path, token)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o666])
def test_jwt_file_readable_by_others_warns_and_goes_ahead(
    echoing_pacs: EmbeddedPacs, tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    token = make_jwt()
    path = write_token(tmp_path / "dicom.jwt", token, mode=mode)
    with caplog.at_level(logging.WARNING, logger="providers"):
        _associate_and_check_bare_token(echoing_pacs, path, token)
    [warning] = [r for r in caplog.records if r.name == "providers.rotating_file"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == (
        f"JWT file {path} is accessible by group or others (mode {mode:o}); "
        f"restrict it with: chmod 600 {path}"
    )
    assert token not in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == mode  # a warning, never a change to the file


# --- Configuration ----------------------------------------------------------------------------

# One file with one mistake of every kind the loader detects (the syntax error is separate: it
# stops parsing). Each is reported as FILE: DOTTED.KEY: what is wrong and what is expected.
EVERY_MISTAKE = """
colour = "blue"

[defaults]
calling_ae_title = "CALLING_TITLE_TOO_LONG"
polcy = "strict"
[defaults.timeouts]
connect = -1
acse = "30"

[peers.archive]
host = "archive.example:104"
port = 70000
ae_title = "ARCHIVÉ"
identity = "alice"
policy = "nope"
[peers.archive.tls]
key_file = "client.key"
verify = false

[peers.half]
ae_title = "HALF"

[identities.alice-keyring]
type = "keyring-password"
username = "alice"
password = "hunter2-in-the-file"
positive_response = "yes"

[identities.ldap]
type = "ldap"

[identities.untyped]
username = "x"

[identities.token]
type = "jwt-file"
path = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
leeway = -3

[identities.kerb]
type = "kerberos"
keytab = "/etc/dicom.keytab"
ccache = "FILE:/tmp/krb5cc_dicom"
positive_response = false

[identities.loop]
type = "chain"
identities = ["loop", "ghost"]

[policies.strict]
missing_response = "explode"
[policies.strict.per_type]
ldap = "abort"
"""

# (dotted key, what the message must say), in the order they are reported. Lists of choices are
# matched by their start: other helpers may add identity types or tables.
EVERY_MISTAKE_REPORTED = [
    ("identities.alice-keyring.password", "never holds a secret: keep a password in the keyring"),
    ("identities.token.path", "this looks like a JWT; the configuration file never holds"),
    ("colour", "unknown table; valid tables: defaults, peers, "),
    ("defaults.calling_ae_title", "must be an AE title of at most 16 characters"),
    ("defaults.polcy", 'unknown key (did you mean "policy"?); valid keys: '),
    ("defaults.timeouts.connect", "must be a positive number of seconds, got -1"),
    ("defaults.timeouts.acse", 'must be a positive number of seconds, got "30"'),
    ("peers.archive.host", "without a port (it goes in port = ...)"),
    ("peers.archive.port", "must be an integer 1-65535, got 70000"),
    ("peers.archive.ae_title", "must be an AE title of ASCII characters"),
    ("peers.archive.tls.verify", "unknown key; valid keys: ca_file, cert_file, key_file"),
    ("peers.archive.tls.key_file", "needs cert_file too"),
    ("peers.half.host", "missing; a peer needs host, port and ae_title"),
    ("peers.half.port", "missing; a peer needs host, port and ae_title"),
    ("identities.alice-keyring.positive_response", 'must be true or false, got "yes"'),
    ("identities.alice-keyring.service", "missing; a keyring-password identity needs service"),
    ("identities.ldap.type", "must be one of username, keyring-password, "),
    ("identities.untyped.type", "missing; the identity type, one of username, "),
    ("identities.token.leeway", "must be a number of seconds (0 or more), got -3"),
    ("identities.kerb.ccache", "give a keytab or a ccache, not both"),
    ("identities.kerb.positive_response", 'must be true with mutual_auth = "required"'),
    ("policies.strict.missing_response", "must be one of abort, release, warn, proceed"),
    ("policies.strict.per_type.ldap", "unknown key; valid keys: username, username+passcode"),
    ("peers.archive.identity", 'no identity "alice"; defined identities: alice-keyring, '),
    ("peers.archive.policy", 'no policy "nope"; defined policies: strict'),
    ("identities.loop.identities[1]", 'no identity "ghost"; defined identities: '),
    ("identities.loop.identities", "the chain refers to itself: loop -> loop"),
]


def test_config_with_every_kind_of_mistake(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(EVERY_MISTAKE, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"DICOM_IDENTITY_CONNECT_TIMEOUT": "soon"})
    assert time.monotonic() - started < LOCAL_BOUND
    assert type(info.value) is InvalidConfig
    errors = info.value.errors
    assert str(info.value) == "\n".join(errors)
    from_file = [e for e in errors if not e.startswith("environment: ")]
    assert len(from_file) == len(EVERY_MISTAKE_REPORTED), "\n".join(errors)
    for line, (key, says) in zip(from_file, EVERY_MISTAKE_REPORTED, strict=True):
        assert line.startswith(f"{path}: {key}: "), line
        assert says in line, f"{says!r} not in: {line}"
    # the environment's mistakes come in the same error
    assert errors[-1] == (
        'environment: DICOM_IDENTITY_CONNECT_TIMEOUT: must be a number of seconds, got "soon"'
    )
    assert "hunter2" not in str(info.value) and "eyJ" not in str(info.value)


def test_config_with_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(
            """\
            [peers.archive]
            host = "archive.example"
            port = 104 104
            ae_title = 42
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert type(info.value) is InvalidConfig
    [error] = info.value.errors  # parsing stopped: the bad ae_title below is not reached
    assert error.startswith(f"{path}: TOML syntax error: ")
    assert "(at line 3, column 12)" in error
    assert "fix it there" in error
