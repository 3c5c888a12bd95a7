"""Hints that fit the case, for associations that fail before they are accepted and for a
requested response that does not come back.

Real peers where real peers behave so: a pynetdicom SCP whose identity handler raises (the
(2, 2, 1) it sends), the embedded PACS in its response modes, a real KDC. A scripted peer
(tests/hostile_server.py) for what no real server here does on cue: an A-ABORT or a hang-up right
after an identity-bearing A-ASSOCIATE-RQ. The command line runs installed, from tmp_path.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.events import Event

from client_sdk import (
    AssociationAborted,
    AuthenticationRejected,
    Client,
    Peer,
    Policy,
    ResponseAdvice,
    ServerResponseMissing,
    TlsConfig,
)
from client_sdk.testing import EmbeddedPacs
from providers import (
    IdentityError,
    IdentityProvider,
    IdentityType,
    JwtFileProvider,
    PasswordProvider,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, USERS, make_jwt, poll, write_token
from tests.hostile_server import ScriptedPeer, a_abort, answer
from tests.installed_cli import json_lines, run_cli
from tests.tcp_server import tcp_server
from tests.timeouts import OPERATIONS
from tests.tls_certs import CertificateFiles

VERIFICATION = "1.2.840.10008.1.1"
IDENTITY_HINT = "identity, which may be why: some peers drop an association whose identity item"
PROBE_NOTE = "a second, short connection: that was a TLS probe by dicom-identity"


def attempt(port: int, identity: IdentityProvider | None, tls: TlsConfig | None = None) -> Any:
    with pytest.raises(IdentityError) as info:
        Client(
            Peer("127.0.0.1", port, "PEER", tls=tls), identity=identity, timeouts=OPERATIONS
        ).echo()
    return info.value


PASSWORD = PasswordProvider("alice", "hint-Pa55", positive_response=True)


# --- an abort or a hang-up right after the A-ASSOCIATE-RQ ----------------------------------------


def test_an_abort_after_an_identity_says_the_identity_may_be_why() -> None:
    with ScriptedPeer(answer(lambda rq: a_abort(source=0, reason=0))) as peer:
        error = attempt(peer.port, PASSWORD)
        assert peer.rq.identity_type == 2
    assert type(error) is AssociationAborted
    message = str(error)
    assert "sent an A-ABORT (source 0, service-user) instead of answering" in message
    assert f"carried a username+passcode {IDENTITY_HINT}" in message
    assert PROBE_NOTE not in message  # an abort is a DICOM answer: no TLS probe was made


def test_an_abort_without_an_identity_does_not_blame_one() -> None:
    with ScriptedPeer(answer(lambda rq: a_abort(source=0, reason=0))) as peer:
        error = attempt(peer.port, None)
    assert type(error) is AssociationAborted
    assert "A-ABORT" in str(error) and "identity" not in str(error)


def test_a_hang_up_after_an_identity_names_it_and_the_tls_probe_the_peer_saw() -> None:
    with ScriptedPeer(lambda conn: None, connections=2) as peer:
        error = attempt(peer.port, PASSWORD)
        # The probe is a real second connection, as the peer's log shows it.
        poll(lambda: len(peer.runs) == 2, timeout=5, what="the TLS probe's connection")
    assert type(error) is AssociationAborted
    message = str(error)
    assert "closed the connection without an A-ASSOCIATE response" in message
    assert f"carried a username+passcode {IDENTITY_HINT}" in message
    assert PROBE_NOTE in message and "the port does not speak TLS" in message


def test_the_command_line_says_so_in_one_line(env: dict[str, str], tmp_path: Path) -> None:
    token = write_token(tmp_path / "t.jwt", make_jwt())
    with ScriptedPeer(lambda conn: None, connections=2) as peer:
        result = run_cli(
            "echo", f"127.0.0.1:{peer.port}", "--ae-title", "PEER", "--jwt-file", str(token),
            "--pos-response", env=env, cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 8
    (line,) = result.stderr.splitlines()
    assert line.startswith("dicom-identity: error (AssociationAborted): ")
    assert f"carried a jwt {IDENTITY_HINT}" in line and PROBE_NOTE in line


@contextlib.contextmanager
def tls_hang_up(certs: CertificateFiles) -> Iterator[tuple[int, list[int]]]:
    """A TLS port that completes the handshake, reads the A-ASSOCIATE-RQ and hangs up. Yields
    the port and a list that gets one entry per TLS connection."""
    context = certs.server_context()
    seen: list[int] = []

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(5)
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
            seen.append(1)
            tls.recv(65536)

    with tcp_server(handle) as (_host, port):
        yield port, seen


def test_a_hang_up_over_tls_names_the_probe_for_a_client_certificate(
    certs: CertificateFiles,
) -> None:
    tls = TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")
    with tls_hang_up(certs) as (port, seen):
        error = attempt(port, PASSWORD, tls)
        poll(lambda: len(seen) == 2, timeout=5, what="the TLS probe's handshake")
    assert type(error) is AssociationAborted
    message = str(error)
    assert f"carried a username+passcode {IDENTITY_HINT}" in message
    assert PROBE_NOTE in message and "does not ask for a client certificate" in message


# --- (2, 2, 1): transient, and what pynetdicom sends when its identity handler fails ----------


@contextlib.contextmanager
def pynetdicom_peer(handler: Any) -> Iterator[int]:
    """A stock pynetdicom SCP (Verification) with ``handler`` bound to EVT_USER_ID."""
    ae = AE("STOCK")
    ae.add_supported_context(VERIFICATION)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_USER_ID, handler)]
    )
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def test_a_crashing_identity_handler_gets_a_transient_hint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def crash(event: Event) -> tuple[bool, bytes | None]:
        raise RuntimeError("identity back end down")

    with caplog.at_level(logging.CRITICAL, logger="pynetdicom"), pynetdicom_peer(crash) as port:
        error = attempt(port, PASSWORD)
    assert isinstance(error, AuthenticationRejected)
    assert error.triple == (2, 2, 1)  # what stock pynetdicom sends for a handler that raised
    message = str(error)
    assert "Rejected Transient" in message
    assert "The rejection is transient (result 2)" in message
    assert "identity check itself failed (an exception in the EVT_USER_ID handler" in message
    assert "retry later; not retried automatically" in message


def test_a_refusing_handler_sends_the_same_triple() -> None:
    """Why the hint also says "check the credential": stock pynetdicom sends (2, 2, 1) for a
    credential its handler refuses, too."""
    with pynetdicom_peer(lambda event: (False, None)) as port:
        error = attempt(port, PASSWORD)
    assert isinstance(error, AuthenticationRejected) and error.triple == (2, 2, 1)
    assert "check the credential" in str(error)


def test_a_permanent_rejection_is_about_the_credential() -> None:
    with EmbeddedPacs(users=USERS) as pacs:  # conformant: (1, 2, 1)
        wrong = PasswordProvider("alice", "not-the-password", positive_response=True)
        error = attempt_at(pacs, wrong)
    assert isinstance(error, AuthenticationRejected) and error.triple == (1, 2, 1)
    assert "Check the credential and that this user may use this peer" in str(error)
    assert "transient" not in str(error)


def attempt_at(pacs: EmbeddedPacs, identity: IdentityProvider, policy: Policy | None = None) -> Any:
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=identity,
        policy=policy or Policy(),
        timeouts=OPERATIONS,
    )
    with pytest.raises(IdentityError) as info:
        client.echo()
    return info.value


# --- a requested response that did not come back ---------------------------------------------


@pytest.fixture
def stock() -> Iterator[EmbeddedPacs]:
    """Answers like stock pynetdicom: never a response to types 1 and 2."""
    with EmbeddedPacs(users=USERS, response_mode="pynetdicom") as pacs:
        yield pacs


def test_python_advice_names_pynetdicom_and_the_policy(stock: EmbeddedPacs) -> None:
    error = attempt_at(stock, UsernameProvider("alice", positive_response=True))
    assert isinstance(error, ServerResponseMissing)
    assert error.advice == ResponseAdvice(IdentityType.USERNAME)
    assert "Policy" not in error.fact and "sent no user identity response" in error.fact
    message = str(error)
    assert message.startswith(error.fact)
    assert "pynetdicom-based peers never answer types 1 and 2" in message
    assert "set Policy(per_type={IdentityType.USERNAME: MissingResponse.WARN})" in message


def test_the_command_line_names_its_flag_and_config_key(
    stock: EmbeddedPacs, env: dict[str, str], tmp_path: Path
) -> None:
    base = ("echo", f"{stock.host}:{stock.port}", "--ae-title", stock.ae_title)
    flags = ("--user", "alice", "--pos-response")
    result = run_cli(*base, *flags, env=env, cwd=tmp_path)
    assert result.returncode == 7
    (line,) = result.stderr.splitlines()
    assert "pynetdicom-based peers never answer types 1 and 2" in line
    assert "run with --on-missing-response warn" in line
    assert 'missing_response = "warn" in [policies.NAME]' in line
    assert 'per_type.username = "warn"' in line
    assert "Policy(" not in line
    as_json = run_cli("--json", *base, *flags, env=env, cwd=tmp_path)
    (event,) = json_lines(as_json.stdout)
    assert event["event"] == "error" and event["exit_code"] == 7
    assert line.endswith(event["message"])  # the same words on stderr and in JSON
    warned = run_cli(*base, *flags, "--on-missing-response", "warn", env=env, cwd=tmp_path)
    assert warned.returncode == 0 and "response=missing decision=warn" in warned.stdout


def test_a_per_type_rule_is_named_where_it_is(
    stock: EmbeddedPacs, env: dict[str, str], tmp_path: Path
) -> None:
    """The peer's policy has its own rule for type 2, which --on-missing-response does not
    change: the advice names that key (quoted: "username+passcode" is no bare TOML key)."""
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[peers.stock]
host = "{stock.host}"
port = {stock.port}
ae_title = "{stock.ae_title}"
identity = "alice"
policy = "strict"

[identities.alice]
type = "keyring-password"
service = "stock"
username = "alice"
positive_response = true

[policies.strict]
missing_response = "abort"
per_type = {{ "username+passcode" = "abort" }}
"""
    )
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "data" / "python_keyring" / "keyring_pass.cfg")
    backend.set_password("stock", "alice", USERS["alice"])
    args = ("--config", str(config), "echo", "stock", "--on-missing-response", "warn")
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 7  # the per-type rule wins over the flag
    (line,) = result.stderr.splitlines()
    assert 'set per_type."username+passcode" = "warn" in [policies.NAME]' in line
    assert "--on-missing-response does not change it" in line


def test_an_echo_names_echo_is_missing(env: dict[str, str], tmp_path: Path) -> None:
    token = write_token(tmp_path / "t.jwt", make_jwt())
    with EmbeddedPacs(jwt_key=JWT_KEY, jwt_audience=AUDIENCE, response_mode="echo") as pacs:
        error = attempt_at(pacs, JwtFileProvider(token, positive_response=True))
        result = run_cli(
            "echo", f"{pacs.host}:{pacs.port}", "--ae-title", pacs.ae_title,
            "--jwt-file", str(token), "--pos-response", env=env, cwd=tmp_path,
        )  # fmt: skip
    assert isinstance(error, ServerResponseMissing) and error.advice is not None
    assert error.advice.echoed
    assert "Policy(echo_is_missing=False)" in str(error)
    assert result.returncode == 7
    assert "set echo_is_missing = false in [policies.NAME]" in result.stderr
    assert "Policy(" not in result.stderr


def test_kerberos_that_requires_the_answer_names_mutual_auth(
    kerberos_realm: Any, env: dict[str, str], tmp_path: Path
) -> None:
    env.update(kerberos_realm.env)
    with EmbeddedPacs(kerberos_keytab=kerberos_realm.pacs_keytab, response_mode="silent") as pacs:
        result = run_cli(
            "echo", f"{pacs.host}:{pacs.port}", "--ae-title", pacs.ae_title,
            "--kerberos", "dicom@localhost", env=env, cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 7, result.stderr
    assert 'set mutual_auth = "optional" in its [identities.NAME]' in result.stderr
    assert "mutual_auth='optional'" not in result.stderr  # the Python wording
