"""One meaning per field: every outcome case through every channel, checked against the README.

The README's "What came back" table is parsed, so the documentation cannot drift from the code.
Each case is a real association to the embedded PACS in one of its response modes (and a real
KDC for ``verified``); its response word and decision are read from the Python API (the
``ResponseStatus`` enum and the ``Decision``), the installed command line's line, its ``--json``
association event and the audit trail, and must be the table's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client_sdk import (
    AuditEvent,
    Client,
    Decision,
    IdentityOutcome,
    MissingResponse,
    Peer,
    Policy,
    ServerResponseMissing,
)
from client_sdk.testing import EmbeddedPacs, ResponseMode
from providers import (
    IdentityProvider,
    JwtFileProvider,
    KerberosProvider,
    ResponseStatus,
    SamlFileProvider,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, USERS, make_jwt, write_token
from tests.installed_cli import json_lines, run_cli
from tests.saml_assertions import ISSUER, make_assertion
from tests.timeouts import OPERATIONS

ROOT = Path(__file__).resolve().parent.parent
STOPS = {Decision.ABORT.value, Decision.RELEASE.value}


@dataclass(frozen=True)
class Row:
    member: str  # the ResponseStatus member
    verified: bool
    decision: str  # under the default policy


def readme_vocabulary() -> dict[str, Row]:
    """The README's "What came back" table: response word -> its row."""
    text = (ROOT / "README.md").read_text()
    start = text.index("| response | `ResponseStatus` | what came back |")
    rows: dict[str, Row] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        word, member, _what, verified, decision, _audit = (
            cell.strip() for cell in line.strip("|").split("|")
        )
        assert verified in ("true", "false"), line
        first = re.search(r"`([a-z-]+)`", decision)
        assert first is not None, line
        rows[word.strip("`")] = Row(member.strip("`"), verified == "true", first.group(1))
    return rows


VOCABULARY = readme_vocabulary()


def test_the_table_is_the_enum() -> None:
    assert set(VOCABULARY) == {status.value for status in ResponseStatus}
    for word, row in VOCABULARY.items():
        assert ResponseStatus[row.member].value == word
        assert Decision(row.decision) is not Decision.PENDING
        assert row.verified is (ResponseStatus[row.member] is ResponseStatus.VERIFIED)


# --- the cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One outcome: the PACS's response mode, the identity (CLI flags and the same provider)."""

    expected: str  # the table's response word
    mode: ResponseMode
    identity: Callable[[Path], tuple[tuple[str, ...], IdentityProvider | None]]
    kerberos: bool = False


def _token(tmp: Path) -> Path:
    return write_token(tmp / "token.jwt", make_jwt())


def _assertion(tmp: Path) -> Path:
    path = tmp / "assertion.xml"
    path.write_bytes(make_assertion())
    return path


CASES = {
    "no-identity": Case("no-identity", "standard", lambda tmp: ((), None)),
    "not-requested": Case(
        "not-requested", "standard", lambda tmp: (("--user", "alice"), UsernameProvider("alice"))
    ),
    "missing-silent": Case(
        "missing",
        "silent",
        lambda tmp: (
            ("--user", "alice", "--pos-response"),
            UsernameProvider("alice", positive_response=True),
        ),
    ),
    "missing-pynetdicom": Case(
        "missing",
        "pynetdicom",  # stock pynetdicom never answers types 1 and 2
        lambda tmp: (
            ("--user", "alice", "--pos-response"),
            UsernameProvider("alice", positive_response=True),
        ),
    ),
    "empty": Case(
        "empty",
        "standard",
        lambda tmp: (
            ("--user", "alice", "--pos-response"),
            UsernameProvider("alice", positive_response=True),
        ),
    ),
    "empty-jwt": Case(
        "empty",
        "standard",
        lambda tmp: (
            ("--jwt-file", str(_token(tmp)), "--pos-response"),
            JwtFileProvider(_token(tmp), positive_response=True),
        ),
    ),
    "echoed": Case(
        "echoed",
        "echo",
        lambda tmp: (
            ("--jwt-file", str(_token(tmp)), "--pos-response"),
            JwtFileProvider(_token(tmp), positive_response=True),
        ),
    ),
    "present-unverified": Case(
        "present-unverified",
        "standard",  # a small SAML Response naming the assertion
        lambda tmp: (
            ("--saml-file", str(_assertion(tmp)), "--pos-response"),
            SamlFileProvider(_assertion(tmp), positive_response=True),
        ),
    ),
    "verified": Case(
        "verified",
        "standard",
        lambda tmp: (
            ("--kerberos", "dicom@localhost"),
            KerberosProvider(service="dicom", hostname="localhost"),
        ),
        kerberos=True,
    ),
}


def test_the_cases_cover_every_row() -> None:
    assert {case.expected for case in CASES.values()} == set(VOCABULARY)


# --- what each channel says -------------------------------------------------------------------


@dataclass
class Seen:
    """Response word, decision and (where there is one) verified, per channel."""

    channels: dict[str, tuple[str, str, bool | None]] = field(default_factory=dict)


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


def python_api(pacs: EmbeddedPacs, provider: IdentityProvider | None, seen: Seen) -> None:
    """The default policy. When it stops, a policy callable that answers what the default does
    (ABORT) shows the outcome the association had."""
    peer = Peer(pacs.host, pacs.port, pacs.ae_title)
    sink = RecordingSink()
    client = Client(peer, identity=provider, timeouts=OPERATIONS, audit=sink)
    try:
        with client.associate() as session:
            outcome = session.outcome
            assert session.echo() == 0
    except ServerResponseMissing:
        (event,) = sink.events
    else:
        (event,) = sink.events
        assert isinstance(outcome.status, ResponseStatus)
        seen.channels["python"] = (outcome.status.value, outcome.decision.value, outcome.verified)
        seen.channels["python audit"] = (event.response, event.decision, None)
        return
    seen.channels["python audit"] = (event.response, event.decision, None)
    shown: list[IdentityOutcome] = []

    def record(outcome: IdentityOutcome) -> MissingResponse:
        shown.append(outcome)
        return MissingResponse.ABORT

    policy = Policy(missing_response=record)
    with pytest.raises(ServerResponseMissing):
        Client(peer, identity=provider, policy=policy, timeouts=OPERATIONS).associate()
    (outcome,) = shown
    assert isinstance(outcome.status, ResponseStatus)
    seen.channels["python"] = (outcome.status.value, event.decision, outcome.verified)


def audit_words(path: Path) -> tuple[str, str]:
    (line,) = path.read_text().splitlines()
    found = re.search(r" response=(\S+) decision=(\S+) tls=", line)
    assert found is not None, line
    return found.group(1), found.group(2)


def line_words(stdout: str) -> tuple[str, str]:
    (line,) = [text for text in stdout.splitlines() if text.startswith("C-ECHO: ")]
    found = re.search(r" response=(\S+) .*decision=(\S+) status=0x0000$", line)
    assert found is not None, line
    return found.group(1), found.group(2)


def command_line(
    pacs: EmbeddedPacs, flags: tuple[str, ...], env: dict[str, str], tmp: Path, seen: Seen
) -> None:
    """The installed command line: its line, its --json event, its audit file. A response that
    does not count stops it (exit 7, audit decision=abort); with --on-missing-response warn it
    goes on, and the line and the JSON event show the same response word."""
    base = ("echo", f"{pacs.host}:{pacs.port}", "--ae-title", pacs.ae_title, *flags)
    audit = tmp / "audit.xml"
    plain = run_cli(*base, "--audit-file", str(audit), env=env, cwd=tmp)
    assert plain.returncode in (0, 7), plain.stderr
    seen.channels["cli audit"] = (*audit_words(audit), None)
    extra: tuple[str, ...] = ()
    if plain.returncode == 7:
        assert "ServerResponseMissing" in plain.stderr and "C-ECHO:" not in plain.stdout
        extra = ("--on-missing-response", "warn")
        plain = run_cli(*base, *extra, env=env, cwd=tmp)
        assert plain.returncode == 0, plain.stderr
    seen.channels["cli line"] = (*line_words(plain.stdout), None)
    as_json = run_cli("--json", *base, *extra, env=env, cwd=tmp)
    assert as_json.returncode == 0, as_json.stderr
    (event,) = [e for e in json_lines(as_json.stdout) if e["event"] == "association"]
    # The booleans are derived from the response word, never set apart from it.
    assert event["echoed"] is (event["response"] == "echoed")
    assert event["response_received"] is (
        event["response"] in ("empty", "echoed", "present-unverified", "verified")
    )
    assert event["status"] == 0  # the DIMSE status, nothing else
    seen.channels["cli json"] = (event["response"], event["decision"], event["verified"])


@pytest.fixture
def pacs_for(request: pytest.FixtureRequest) -> Iterator[Callable[[Case], EmbeddedPacs]]:
    started: list[EmbeddedPacs] = []

    def make(case: Case) -> EmbeddedPacs:
        kwargs: dict[str, Any] = {}
        if case.kerberos:
            realm = request.getfixturevalue("kerberos_realm")
            kwargs["kerberos_keytab"] = realm.pacs_keytab
        pacs = EmbeddedPacs(
            users=USERS,
            jwt_key=JWT_KEY,
            jwt_audience=AUDIENCE,
            saml_issuer=ISSUER,
            saml_audience=AUDIENCE,
            response_mode=case.mode,
            **kwargs,
        ).start()
        started.append(pacs)
        return pacs

    yield make
    for pacs in started:
        pacs.stop()


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_channel_says_what_the_table_says(
    name: str,
    pacs_for: Callable[[Case], EmbeddedPacs],
    env: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    case = CASES[name]
    pacs = pacs_for(case)  # the Kerberos case needs the realm before any provider is made
    if case.kerberos:  # the realm's variables, for the command line too
        realm = request.getfixturevalue("kerberos_realm")
        env.update(realm.env)
        for variable in ("KRB5_CLIENT_KTNAME", "KRB5_KTNAME"):
            env.pop(variable, None)
    flags, provider = case.identity(tmp_path)
    seen = Seen()
    python_api(pacs, provider, seen)
    command_line(pacs, flags, env, tmp_path, seen)

    row = VOCABULARY[case.expected]
    stops = row.decision in STOPS
    for channel, (word, decision, verified) in seen.channels.items():
        assert word == case.expected, (channel, seen.channels)
        if verified is not None:
            assert verified is row.verified, (channel, seen.channels)
        if stops and channel in ("cli line", "cli json"):
            assert decision == "warn", (channel, seen.channels)  # run with warn to go on
        else:
            assert decision == row.decision, (channel, seen.channels)
    assert set(seen.channels) == {"python", "python audit", "cli audit", "cli line", "cli json"}
