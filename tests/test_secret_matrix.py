"""No secret anywhere, on any path: the secret-leak matrix.

Every case runs with everything that could print a secret switched on: ``pynetdicom.debug_logger()``
(its A-ASSOCIATE dumps print passwords), pynetdicom's ``debug_data`` hex dump of every PDU sent
and received, on the client *and* on the PACS (bound through ``AE.associate`` and
``AE.start_server``), pyspnego at DEBUG, and every other logger at DEBUG through the root logger.
It then searches, with :func:`tests.test_secret_leaks.find_leaks` (raw, hex, base64 at every
alignment, bytes ``repr``, and the hex-dump layout across lines), all of:

* the captured logs (root, pynetdicom, pyspnego, client_sdk, the embedded PACS), stdout and
  stderr (``capfd``: what ``debug_logger()`` printed);
* ``repr`` and ``str`` of the client, the provider, the session and its ``IdentityOutcome``, and
  what pynetdicom keeps of the negotiation on ``session.association`` (both ends' A-ASSOCIATE
  primitives and user identity items);
* the exception's ``repr``, ``str``, args and full traceback (``traceback.format_exception``,
  with its chained causes), and the PACS's own records.

A control in each case proves the search would find each of the case's secrets, in every form,
if it were there.

Design (a covering design rather than the full product, which would be 4 x 4 x 5 x 2 = 160
associations with PACS start-ups): providers = username+password, keyring password (the real
keyrings.alt file backend; a non-ASCII password, so its UTF-8 bytes are what is searched), JWT
file, Kerberos (the real MIT KDC; GSS-API and bare AP-REQ tokens), plus one ProviderChain case.

* "accepted": every provider against every response mode of the embedded PACS (standard,
  silent, echo, pynetdicom), positive response requested, missing-response rule WARN, so each mode
  runs to a session (or to MutualAuthenticationFailed: Kerberos against an echoing peer);
* "rejected" (wrong password, JWT signed with another key, Kerberos to a PACS holding the wrong
  key), "aborted" (a peer that reads the A-ASSOCIATE-RQ and sends A-ABORT), "missing-response"
  (silent PACS, rule ABORT, Kerberos mutual_auth="required"), "exception-in-block" (the caller's
  own exception, chained from an SDK error, raised inside ``with session:``): every provider;
* TLS on or off alternates so that every provider meets TLS on and off on both halves, and every
  response mode and every path meets TLS on and off across the providers;
* "untrusted-tls" (TLS only): the credential was fetched, then the handshake fails
  (PeerUnreachable): every provider.

That is 37 cases. The command line, with ``debug_data`` bound too, is in
``tests/test_secret_matrix_cli.py``; the token endpoint, SAML, and what peers say in
``tests/test_secret_matrix_web.py`` and ``tests/test_secret_matrix_peers.py``. Every error a case
raises is kept, and formatted with its frames' locals by the last test of the web module.

Two clients with different identities in two threads at once: each PACS record holds only its own
client's user, each client's outcomes, exceptions and log records name only its own user, and no
secret of either appears anywhere.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from client_sdk import (
    VERIFICATION,
    Client,
    DimseFailure,
    MissingResponse,
    Peer,
    Policy,
    TlsConfig,
)
from client_sdk.testing import EmbeddedPacs, ResponseMode
from providers import (
    IdentityExchange,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    PasswordProvider,
    ProviderChain,
    Target,
)
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, write_token
from tests.fixtures_pacs import pacs_on_first_use
from tests.leak_search import find_leaks, planted
from tests.secret_matrix_support import ErrorKeeper, Gathered
from tests.secret_matrix_values import (
    IDENTITY_DUMP_WITHHELD,
    OTHER_KEY,
    PASSWORD,
    WRONG_PASSWORD,
    jwt_secrets,
)
from tests.timeouts import LOCAL
from tests.tls_certs import CertificateFiles
from tests.wire import read_pdu

pytest_plugins = ["tests.secret_matrix_fixtures"]  # hex_dumps, debug_everything, keep_errors

KEYRING_PASSWORD = "pässwörd-ü-matrix-canary"  # not ASCII: its UTF-8 bytes are searched for
A_ABORT = bytes.fromhex("07 00 00 00 00 04 00 00 02 00")  # source 2 (provider), reason 0

PROVIDERS = ("password", "keyring", "jwt", "kerberos")
MODES = ("standard", "silent", "echo", "pynetdicom")
PATHS = ("rejected", "aborted", "missing-response", "exception-in-block")
TLS_ONLY_PATHS = ("untrusted-tls",)


@dataclass(frozen=True)
class Case:
    provider: str
    path: str  # "accepted", one of PATHS or of TLS_ONLY_PATHS
    mode: str  # the embedded PACS's response mode
    tls: bool

    def __str__(self) -> str:
        return f"{self.provider}-{self.path}-{self.mode}-{'tls' if self.tls else 'plain'}"


def covering_cases() -> list[Case]:
    cases = []
    for p, provider in enumerate(PROVIDERS):
        for m, mode in enumerate(MODES):
            cases.append(Case(provider, "accepted", mode, tls=(p + m) % 2 == 0))
        for q, path in enumerate(PATHS):
            mode = "silent" if path == "missing-response" else "standard"
            cases.append(Case(provider, path, mode, tls=(p + q) % 2 == 1))
        for path in TLS_ONLY_PATHS:
            cases.append(Case(provider, path, "standard", tls=True))
    cases.append(Case("chain", "accepted", "standard", tls=True))
    return cases


CASES = covering_cases()


def test_the_design_covers_what_it_claims() -> None:
    for provider in PROVIDERS:
        mine = [c for c in CASES if c.provider == provider]
        assert {c.mode for c in mine if c.path == "accepted"} == set(MODES)
        assert {c.path for c in mine} == {"accepted", *PATHS, *TLS_ONLY_PATHS}
        for half in (
            [c for c in mine if c.path == "accepted"],
            [c for c in mine if c.path in PATHS],
        ):
            assert {c.tls for c in half} == {True, False}
    for mode in MODES:
        assert {c.tls for c in CASES if c.mode == mode and c.path == "accepted"} == {True, False}
    for path in PATHS:
        assert {c.tls for c in CASES if c.path == path} == {True, False}


def expected_result(case: Case) -> str:
    """What the client must end with: "ok:<decision>" or the exception's type name."""
    if case.path == "rejected":
        return "AuthenticationRejected"
    if case.path == "aborted":
        return "AssociationAborted"
    if case.path == "missing-response":
        return "ServerResponseMissing"
    if case.path == "exception-in-block":
        return "UserCodeFailed"
    if case.path == "untrusted-tls":
        return "UntrustedCertificate"  # a PeerUnreachable
    if case.provider == "kerberos" and case.mode == "echo":
        return "MutualAuthenticationFailed"
    # What comes back for each type in each mode (see client_sdk.testing.acse.server_response).
    confirmed = {
        "password": {"standard", "echo"},
        "keyring": {"standard", "echo"},
        "chain": {"standard", "echo"},
        "jwt": {"standard", "pynetdicom"},  # echo: our own token back, counted as missing
        "kerberos": {"standard", "pynetdicom"},  # a verified AP-REP
    }[case.provider]
    return "ok:confirmed" if case.mode in confirmed else "ok:warn"


# --- debug output on, everywhere ------------------------------------------------------------


# hex_dumps and debug_everything: tests/secret_matrix_support.py, shared by the matrix modules.


PacsPool = Callable[..., EmbeddedPacs]


@pytest.fixture(scope="module")
def pacs_pool(hex_dumps: None, certs: CertificateFiles) -> Iterator[PacsPool]:
    """One embedded PACS per (mode, TLS, keytab), started on first use, stopped at the end."""

    def make(mode: str, tls: bool, keytab: str | None) -> EmbeddedPacs:
        return EmbeddedPacs(
            users={"alice": PASSWORD, "jürgen": KEYRING_PASSWORD},
            jwt_key=JWT_KEY,
            jwt_audience=AUDIENCE,
            kerberos_keytab=keytab,
            response_mode=cast(ResponseMode, mode),
            ssl_context=certs.server_context() if tls else None,
        )

    with pacs_on_first_use(make) as get:
        yield lambda mode, tls, keytab=None: get(mode, tls, keytab)


def tls_for(certs: CertificateFiles, tls: bool) -> TlsConfig | None:
    return TlsConfig(ca_file=certs.ca_file, server_hostname=certs.hostname) if tls else None


class AbortingPeer:
    """Reads the A-ASSOCIATE-RQ (identity and all) and answers with an A-ABORT."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self._context = context
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self._listener.settimeout(10)
        self.port = int(self._listener.getsockname()[1])
        self.received: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> AbortingPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(10)
        self._listener.close()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self._listener.accept()
            conn.settimeout(10)
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            with conn:
                self.received.append(read_pdu(conn))
                conn.sendall(A_ABORT)


# --- providers and their secrets ------------------------------------------------------------


class RecordingKerberos:
    """A KerberosProvider whose tokens the test keeps, to search everything for them."""

    def __init__(self, **kwargs: Any) -> None:
        self.inner = KerberosProvider(hostname="localhost", **kwargs)
        self.identity_type = self.inner.identity_type
        self.tokens: list[bytes] = []

    def negotiate(self, target: Target) -> IdentityExchange:
        exchange = self.inner.negotiate(target)
        self.tokens.append(exchange.request.primary.reveal())
        return exchange

    def __repr__(self) -> str:
        return repr(self.inner)


def token_secrets(token: bytes) -> list[bytes]:
    """A Kerberos token, and a slice of its encrypted middle: a partial dump leaks too."""
    middle = len(token) // 2
    return [token, token[middle : middle + 24]]


class UserCodeFailed(Exception):
    """The caller's own error, raised inside ``with session:``."""


@dataclass
class Run:
    provider: Any
    secrets: list[bytes]
    recording: RecordingKerberos | None = None


def make_provider(
    case: Case, tmp_path: Path, file_keyring: Any, request: pytest.FixtureRequest
) -> Run:
    rejected = case.path == "rejected"
    password = WRONG_PASSWORD if rejected else PASSWORD
    passwords = [PASSWORD.encode(), WRONG_PASSWORD.encode()]
    if case.provider == "password":
        return Run(PasswordProvider("alice", password, positive_response=True), passwords)
    if case.provider == "keyring":
        file_keyring.set_password(
            "pacs", "jürgen", WRONG_PASSWORD if rejected else KEYRING_PASSWORD
        )
        provider = KeyringPasswordProvider(
            "pacs", "jürgen", positive_response=True, backend=file_keyring
        )
        return Run(provider, [KEYRING_PASSWORD.encode(), WRONG_PASSWORD.encode()])
    if case.provider == "chain":
        chain = ProviderChain(
            [
                JwtFileProvider(tmp_path / "absent.jwt"),
                PasswordProvider("alice", password, positive_response=True),
            ]
        )
        return Run(chain, passwords)
    if case.provider == "jwt":
        token = make_jwt(key=OTHER_KEY if rejected else JWT_KEY, sub="alice@example.org")
        path = write_token(tmp_path / "identity.jwt", token)
        return Run(JwtFileProvider(path, positive_response=True), jwt_secrets(token))
    assert case.provider == "kerberos"
    request.getfixturevalue("kerberos_realm")
    recording = RecordingKerberos(
        mutual_auth="required" if case.path == "missing-response" else "optional",
        token_format="ap-req" if case.tls else "gssapi",
    )
    return Run(recording, [], recording)


# --- the matrix -----------------------------------------------------------------------------


def _run_path(
    case: Case, client: Client, tmp_path: Path, seen: Gathered, keeper: ErrorKeeper
) -> str:
    """Open the association and walk the case's path; returns what happened."""
    try:
        with client.associate(sop_classes=[VERIFICATION]) as session:
            outcome = session.outcome
            seen += [repr(session), str(session), repr(outcome), str(outcome), outcome.summary()]
            # What pynetdicom keeps of the negotiation, on the association the Session exposes.
            for end in (session.association.requestor, session.association.acceptor):
                seen += [str(end.primitive), str(end.user_identity)]
            session.echo()
            if case.path == "exception-in-block":
                try:
                    session.store(tmp_path / "not-there.dcm")
                except DimseFailure as exc:
                    raise UserCodeFailed("the caller's own code failed in the session") from exc
        seen += [repr(session), str(session)]
        return f"ok:{outcome.decision.value}"
    except Exception as exc:  # every error path is part of what is searched
        seen += [repr(exc), str(exc), *map(str, exc.args)]
        seen.append("".join(traceback.format_exception(exc)))
        keeper.keep(exc)  # formatted with its frames' locals by test_secret_matrix_web
        return type(exc).__name__


@pytest.mark.parametrize("case", CASES, ids=str)
def test_no_secret_anywhere(
    capfd: pytest.CaptureFixture[str],
    debug_everything: pytest.LogCaptureFixture,
    pacs_pool: PacsPool,
    certs: CertificateFiles,
    stranger_certs: CertificateFiles,
    case: Case,
    tmp_path: Path,
    file_keyring: Any,
    request: pytest.FixtureRequest,
    keep_errors: ErrorKeeper,
) -> None:
    run = make_provider(case, tmp_path, file_keyring, request)
    rule = MissingResponse.ABORT if case.path == "missing-response" else MissingResponse.WARN
    seen = Gathered()
    keep_errors.expect_error = not expected_result(case).startswith("ok:")
    pacs: EmbeddedPacs | None = None
    if case.path == "aborted":
        with AbortingPeer(certs.server_context() if case.tls else None) as peer:
            client = Client(
                Peer("127.0.0.1", peer.port, "ABORTER", tls=tls_for(certs, case.tls)),
                identity=run.provider,
                policy=Policy(missing_response=rule),
                timeouts=LOCAL,
            )
            result = _run_path(case, client, tmp_path, seen, keep_errors)
        assert len(peer.received) == 1 and peer.received[0][0] == 0x01  # the RQ went out
    else:
        keytab = None
        if case.provider == "kerberos":
            realm = request.getfixturevalue("kerberos_realm")
            # A PACS holding another principal's key cannot read the ticket: it rejects.
            keytab = realm.account_keytab if case.path == "rejected" else realm.pacs_keytab
        pacs = pacs_pool(case.mode, case.tls, keytab)
        pacs.clear()
        trusted = stranger_certs if case.path == "untrusted-tls" else certs
        client = Client(
            Peer(pacs.host, pacs.port, pacs.ae_title, tls=tls_for(trusted, case.tls)),
            identity=run.provider,
            policy=Policy(missing_response=rule),
            timeouts=LOCAL,
        )
        result = _run_path(case, client, tmp_path, seen, keep_errors)
        seen.append(repr(pacs))
        if case.path == "untrusted-tls":
            assert pacs.records == []  # the handshake failed: no A-ASSOCIATE-RQ was sent
        else:
            (record,) = pacs.wait_for_records(1, ended=True, timeout=15)
            seen.append(repr(record))
            assert (record.rejected is not None) == (case.path == "rejected")
    seen += [repr(client), str(client), repr(run.provider), str(run.provider)]
    captured = capfd.readouterr()
    logs = debug_everything.text
    seen += [captured.out, captured.err, logs]

    assert result == expected_result(case)
    tokens = run.recording.tokens if run.recording is not None else []
    secrets = run.secrets + [part for token in tokens for part in token_secrets(token)]
    keep_errors.secrets += secrets
    assert secrets, "the case has no secret to look for"
    # The control: the search finds each secret in each form it looks for.
    for secret in secrets:
        for name, text in planted(secret).items():
            assert find_leaks(text, [secret]), f"the search would miss {name}"
    assert find_leaks("\n".join(seen), secrets) == []
    if case.provider == "kerberos":
        assert "step output: [redacted]" in logs, "pyspnego's DEBUG lines did not run"
    if case.path in TLS_ONLY_PATHS:
        return  # nothing went out: no PDU to dump
    # The debug output really ran, on both ends, and reached stderr.
    assert "END ENCODED PDU" in captured.err and "END ENCODED PDU" in logs
    assert IDENTITY_DUMP_WITHHELD in logs
    if case.provider in ("password", "keyring", "chain"):
        assert "Password: [redacted]" in logs


# --- two clients, two threads -----------------------------------------------------------------


@dataclass
class ThreadResults:
    outcomes: list[str]
    texts: list[str]
    errors: list[BaseException]


@pytest.mark.parametrize("bob_rejected", [False, True], ids=["both-accepted", "bob-rejected"])
def test_two_clients_in_two_threads_never_see_each_other(
    capfd: pytest.CaptureFixture[str],
    debug_everything: pytest.LogCaptureFixture,
    pacs_pool: PacsPool,
    certs: CertificateFiles,
    tmp_path: Path,
    bob_rejected: bool,
    keep_errors: ErrorKeeper,
) -> None:
    """Alice (a password) and Bob (a JWT, or a wrong one) at once, each from its own thread, with
    every debug output on: each side's outcomes, exceptions and log records carry only its own
    principal and no secret of the other; the PACS records match each calling AE to its user."""
    pacs = pacs_pool("standard", True)
    pacs.clear()
    bob_token = make_jwt(key=OTHER_KEY if bob_rejected else JWT_KEY, sub="bob@example.org")
    clients = {
        "alice": Client(
            Peer(pacs.host, pacs.port, pacs.ae_title, tls=tls_for(certs, True)),
            identity=PasswordProvider("alice", PASSWORD, positive_response=True),
            calling_ae_title="ALICE_SCU",
            timeouts=LOCAL,
        ),
        "bob@example.org": Client(
            Peer(pacs.host, pacs.port, pacs.ae_title, tls=tls_for(certs, True)),
            identity=JwtFileProvider(
                write_token(tmp_path / "bob.jwt", bob_token), positive_response=True
            ),
            calling_ae_title="BOB_SCU",
            timeouts=LOCAL,
        ),
    }
    secrets = {"alice": [PASSWORD.encode()], "bob@example.org": jwt_secrets(bob_token)}
    keep_errors.secrets += secrets["alice"] + secrets["bob@example.org"]
    keep_errors.expect_error = bob_rejected
    results = {name: ThreadResults([], [], []) for name in clients}
    rounds = 10
    start = threading.Barrier(len(clients))

    def run(name: str) -> None:
        mine = results[name]
        try:
            start.wait(10)
            for _ in range(rounds):
                try:
                    with clients[name].associate(sop_classes=[VERIFICATION]) as session:
                        mine.outcomes.append(session.outcome.principal)
                        mine.texts += [repr(session), session.outcome.summary()]
                        session.echo()
                except Exception as exc:
                    mine.outcomes.append(type(exc).__name__)
                    mine.texts += [str(exc), "".join(traceback.format_exception(exc))]
                    keep_errors.keep(exc)
        except BaseException as exc:
            mine.errors.append(exc)

    threads = {
        name: threading.Thread(target=run, args=(name,), name=f"client-{name}") for name in clients
    }
    for thread in threads.values():
        thread.start()
    for thread in threads.values():
        thread.join(120)
    assert not any(t.is_alive() for t in threads.values())
    records = pacs.wait_for_records(2 * rounds, ended=True, timeout=30)

    assert results["alice"].errors == [] and results["bob@example.org"].errors == []
    assert results["alice"].outcomes == ["alice"] * rounds
    bob_expected = "AuthenticationRejected" if bob_rejected else "bob@example.org"
    assert results["bob@example.org"].outcomes == [bob_expected] * rounds
    users = {"ALICE_SCU": "alice", "BOB_SCU": "bob@example.org"}
    assert {r.calling_ae_title for r in records} == set(users)
    for record in records:
        rejected = bob_rejected and record.calling_ae_title == "BOB_SCU"
        assert record.verified is not rejected
        # A JWT that does not verify names nobody the PACS could trust.
        assert record.principal == (None if rejected else users[record.calling_ae_title])
    # Each client's own view names only itself, and holds no secret of the other.
    for name, other in (("alice", "bob@example.org"), ("bob@example.org", "alice")):
        texts = "\n".join(results[name].texts)
        assert other not in texts
        assert find_leaks(texts, secrets[other]) == []
    # The SDK's log lines from each client's thread name only that client's user.
    sdk_lines = [
        line
        for line in debug_everything.records
        if (line.threadName or "").startswith("client-") and line.name.startswith("client_sdk")
    ]
    assert {line.threadName for line in sdk_lines} == {f"client-{name}" for name in clients}
    for line in sdk_lines:
        other = "alice" if line.threadName == "client-bob@example.org" else "bob@example.org"
        assert other not in line.getMessage()
    # And nothing anywhere holds either secret.
    captured = capfd.readouterr()
    everything = "\n".join([debug_everything.text, captured.out, captured.err])
    assert find_leaks(everything, secrets["alice"] + secrets["bob@example.org"]) == []
    assert everything.count(IDENTITY_DUMP_WITHHELD) >= 2 * rounds
