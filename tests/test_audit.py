"""The audit trail: one PS3.15 A.5.3.12 "User Authentication" event per association attempt,
against real associations with the embedded PACS on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from client_sdk import (
    AuditEvent,
    AuditSinks,
    AuditSource,
    AuditWriteError,
    AuthenticationRejected,
    Client,
    Decision,
    EventOutcome,
    InsecureTransport,
    InvalidConfig,
    LoggingAuditSink,
    MissingResponse,
    Overrides,
    Peer,
    PeerUnreachable,
    Policy,
    ServerResponseMissing,
    XmlFileAuditSink,
    load_config,
)
from client_sdk._audit.event import outcome_for
from client_sdk._audit.sinks import AUDIT_LOGGER, DEFAULT_AUDIT_SINK
from client_sdk._audit.xml import audit_message_line
from client_sdk.testing import EmbeddedPacs
from providers import (
    CredentialUnavailable,
    JwtFileProvider,
    KeyringEntryMissing,
    KeyringPasswordProvider,
    PasswordProvider,
    UsernameProvider,
)
from tests.conftest import USERS, free_port, make_jwt, write_token
from tests.fixtures_pacs import client_for
from tests.installed_cli import run_cli
from tests.timeouts import LOCAL

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = USERS["alice"]
WRONG_PASSWORD = "audit-canary-wrong-Pa55word"


@pytest.fixture
def silent_pacs() -> Iterator[EmbeddedPacs]:
    """Verifies identities but never answers them (like DCMTK and Orthanc)."""
    with EmbeddedPacs(users=USERS, response_mode="silent") as server:
        yield server


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "dicom-audit.xml"


def xml_sink(path: Path) -> XmlFileAuditSink:
    path.parent.mkdir(parents=True, exist_ok=True)
    return XmlFileAuditSink(path, source=AuditSource("AUDIT_TEST", site_id="TEST_SITE"))


def messages(path: Path) -> list[ET.Element]:
    """Every line of the file, each parsed on its own: one whole message per line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ET.fromstring(line) for line in lines]


def only_message(path: Path) -> ET.Element:
    (message,) = messages(path)
    return message


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        raw = secret.encode()
        for form in (
            secret,
            base64.b64encode(raw).decode(),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex(),
        ):
            assert form not in text, "a secret reached the audit trail"


# --- The message's structure (PS3.15 A.5.1 schema, A.5.3.12 User Authentication) -----------


def participants(message: ET.Element) -> dict[str, ET.Element]:
    """The ActiveParticipants by role: "user" (no RoleIDCode), "process", "peer"."""
    found: dict[str, ET.Element] = {}
    for participant in message.findall("ActiveParticipant"):
        role = participant.find("RoleIDCode")
        code = role.get("csd-code") if role is not None else None
        name = {None: "user", "110153": "process", "110152": "peer"}[code]
        assert name not in found, f"two {name} participants"
        found[name] = participant
    return found


def check_structure(message: ET.Element, *, pacs: EmbeddedPacs, calling: str) -> dict[str, Any]:
    """Assert the message is a well-formed User Authentication (Login) message; return what
    varies: the outcome, the description and the participants."""
    assert message.tag == "AuditMessage"
    tags = [child.tag for child in message]
    assert tags[0] == "EventIdentification" and tags[-1] == "AuditSourceIdentification"
    assert set(tags[1:-1]) == {"ActiveParticipant"} and len(tags) >= 4  # process and peer at least

    event = message[0]
    assert event.get("EventActionCode") == "E"
    when = datetime.fromisoformat(event.get("EventDateTime", ""))
    assert when.tzinfo is not None  # A.5.2.5: the time zone is required
    assert abs((datetime.now(UTC) - when).total_seconds()) < 120
    assert event.get("EventOutcomeIndicator") in ("0", "4", "8", "12")
    assert [child.tag for child in event] == ["EventID", "EventTypeCode", "EventOutcomeDescription"]
    assert event[0].attrib == {
        "csd-code": "110114",
        "codeSystemName": "DCM",
        "originalText": "User Authentication",
    }
    assert event[1].attrib == {
        "csd-code": "110122",
        "codeSystemName": "DCM",
        "originalText": "Login",
    }

    roles = participants(message)
    process, peer = roles["process"], roles["peer"]
    assert process.get("AlternativeUserID") == f"AETITLES={calling}"
    assert process.get("UserIsRequestor") == "true"
    assert (process.get("UserID") or "").isdigit()  # the process ID (A.5.2.1)
    assert process.get("NetworkAccessPointID") and process.get("NetworkAccessPointTypeCode") in (
        "1",
        "2",
    )
    process_role = process.find("RoleIDCode")
    assert process_role is not None and process_role.get("originalText") == "Source Role ID"
    assert peer.get("AlternativeUserID") == f"AETITLES={pacs.ae_title}"
    assert peer.get("UserIsRequestor") == "false"
    assert peer.get("UserID") == f"{pacs.host}:{pacs.port}"
    assert peer.get("NetworkAccessPointID") == pacs.host == "127.0.0.1"
    assert peer.get("NetworkAccessPointTypeCode") == "2"  # an IP address
    if "user" in roles:
        user = roles["user"]
        assert user.get("UserIsRequestor") == "true"
        assert user.get("UserID")
        assert user.get("NetworkAccessPointID") == process.get("NetworkAccessPointID")
        assert user.get("NetworkAccessPointTypeCode") in ("1", "2")

    source = message[-1]
    assert source.get("AuditSourceID")
    source_type = source.find("AuditSourceTypeCode")
    assert source_type is not None and source_type.get("csd-code") == "4"
    description = event.findtext("EventOutcomeDescription") or ""
    words = dict(word.split("=", 1) for word in description.split(" ") if "=" in word)
    return {
        "outcome": event.get("EventOutcomeIndicator"),
        "description": description,
        "words": words,
        "user": roles.get("user"),
    }


# --- Accepted --------------------------------------------------------------------------------


def test_accepted_password_is_a_successful_login(pacs: EmbeddedPacs, audit_file: Path) -> None:
    provider = PasswordProvider("alice", PASSWORD, positive_response=True)
    client = client_for(pacs, provider, audit=xml_sink(audit_file), calling_ae_title="AUDIT_SCU")
    assert client.echo() == 0
    message = only_message(audit_file)
    seen = check_structure(message, pacs=pacs, calling="AUDIT_SCU")
    assert seen["outcome"] == "0"
    assert participants(message)["process"].get("UserID") == str(os.getpid())
    assert seen["user"].get("UserID") == "alice"
    assert seen["words"]["identity"] == "username+passcode"
    assert seen["words"]["decision"] == "confirmed"
    assert seen["words"]["response"] == "empty"  # a zero-length 59H item
    assert seen["words"]["tls"] == "off"
    assert "failure" not in seen["words"]
    source = message.find("AuditSourceIdentification")
    assert source is not None
    assert source.attrib == {"AuditSourceID": "AUDIT_TEST", "AuditEnterpriseSiteID": "TEST_SITE"}
    assert_no_secret(audit_file.read_text(), PASSWORD)


def test_accepted_jwt_names_the_subject_and_never_the_token(
    pacs: EmbeddedPacs, audit_file: Path, tmp_path: Path
) -> None:
    token = make_jwt(sub="dr.house@example.org")
    path = write_token(tmp_path / "token.jwt", token)
    client = client_for(
        pacs, JwtFileProvider(path, positive_response=True), audit=xml_sink(audit_file)
    )
    client.echo()
    seen = check_structure(only_message(audit_file), pacs=pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == "0"
    assert seen["user"].get("UserID") == "dr.house@example.org"
    assert seen["words"]["identity"] == "jwt"
    assert f"source={f'JWT file {path}'!r}" in seen["description"]
    text = audit_file.read_text()
    assert_no_secret(text, token, *token.split("."))


def test_kerberos_names_the_client_principal_and_never_the_ticket(
    kerberos_realm: Any, audit_file: Path
) -> None:
    from providers import KerberosProvider

    with EmbeddedPacs(kerberos_keytab=kerberos_realm.pacs_keytab) as pacs:
        provider = KerberosProvider(hostname="localhost")
        client = client_for(pacs, provider, audit=xml_sink(audit_file))
        with client.associate() as session:
            outcome = session.outcome
            assert session.echo() == 0
        sent = pacs.wait_for_records(1)[0]
    assert sent.verified is True
    seen = check_structure(only_message(audit_file), pacs=pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == "0"
    assert seen["user"].get("UserID") == kerberos_realm.user  # user@REALM, from the context
    assert seen["words"]["identity"] == "kerberos"
    assert seen["words"]["response"] == "verified"  # the AP-REP checked: mutual authentication
    assert outcome.principal == kerberos_realm.user
    # No Kerberos token in the line: neither its GSS-API mechanism OID (06 09 2a 86 48 86 f7 12
    # 01 02 02, in every initial context token) as hex, nor a DER token's base64 start.
    line = audit_file.read_text()
    assert "2a864886f712010202" not in line.replace(" ", "").lower()
    assert "YII" not in line  # base64 of a DER GSS-API token starts so


def test_no_identity_has_no_person_participant(pacs: EmbeddedPacs, audit_file: Path) -> None:
    client_for(pacs, None, audit=xml_sink(audit_file)).echo()
    seen = check_structure(only_message(audit_file), pacs=pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == "0" and seen["user"] is None
    assert seen["words"]["identity"] == "none" and seen["words"]["decision"] == "no-identity"


# --- Rejected, missing response, refused before sending ---------------------------------------


def test_rejected_password_is_a_serious_failure(pacs: EmbeddedPacs, audit_file: Path) -> None:
    client = client_for(pacs, PasswordProvider("alice", WRONG_PASSWORD), audit=xml_sink(audit_file))
    with pytest.raises(AuthenticationRejected):
        client.echo()
    seen = check_structure(only_message(audit_file), pacs=pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == "8"
    assert seen["user"].get("UserID") == "alice"
    assert seen["words"]["failure"] == "AuthenticationRejected"
    assert "rejected=(1, 2, 1)" in seen["description"]
    assert seen["words"]["decision"] == "-"  # the policy never decided
    assert_no_secret(audit_file.read_text(), WRONG_PASSWORD, PASSWORD)


@pytest.mark.parametrize(
    ("rule", "outcome", "decision"),
    [
        (MissingResponse.WARN, "4", "warn"),
        (MissingResponse.PROCEED, "4", "proceed"),
        (MissingResponse.ABORT, "8", "abort"),
        (MissingResponse.RELEASE, "8", "release"),
    ],
)
def test_missing_response_follows_the_policy(
    silent_pacs: EmbeddedPacs, audit_file: Path, rule: MissingResponse, outcome: str, decision: str
) -> None:
    provider = PasswordProvider("alice", PASSWORD, positive_response=True)
    client = client_for(silent_pacs, provider, audit=xml_sink(audit_file), policy=Policy(rule))
    if rule in (MissingResponse.ABORT, MissingResponse.RELEASE):
        with pytest.raises(ServerResponseMissing):
            client.echo()
    else:
        assert client.echo() == 0
    seen = check_structure(only_message(audit_file), pacs=silent_pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == outcome
    assert seen["words"]["response"] == "missing"
    assert seen["words"]["decision"] == decision
    if outcome == "8":
        assert seen["words"]["failure"] == "ServerResponseMissing"
    assert_no_secret(audit_file.read_text(), PASSWORD)


def test_insecure_transport_is_refused_and_audited_before_anything_is_sent(
    audit_file: Path, no_outside_connections: list[Any]
) -> None:
    peer = Peer("pacs.example.org", 2762, "REMOTE_PACS")
    provider = PasswordProvider("alice", PASSWORD)
    client = Client(peer, identity=provider, audit=xml_sink(audit_file), timeouts=LOCAL)
    with pytest.raises(InsecureTransport):
        client.echo()
    assert no_outside_connections == []
    message = only_message(audit_file)
    event = message.find("EventIdentification")
    assert event is not None and event.get("EventOutcomeIndicator") == "8"
    assert "failure=InsecureTransport" in (event.findtext("EventOutcomeDescription") or "")
    roles = participants(message)
    assert roles["user"].get("UserID") == "alice"  # as the provider claims it
    assert roles["peer"].get("NetworkAccessPointID") == "pacs.example.org"
    assert roles["peer"].get("NetworkAccessPointTypeCode") == "1"  # a machine name
    assert_no_secret(audit_file.read_text(), PASSWORD)


def test_credential_unavailable_is_audited(
    pacs: EmbeddedPacs, audit_file: Path, file_keyring: Any
) -> None:
    provider = KeyringPasswordProvider("no-such-service", "alice", backend=file_keyring)
    with pytest.raises(CredentialUnavailable) as info:
        client_for(pacs, provider, audit=xml_sink(audit_file)).echo()
    seen = check_structure(only_message(audit_file), pacs=pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == "8"
    assert seen["user"].get("UserID") == "alice"
    assert seen["words"]["identity"] == "username+passcode"
    # The audit names the class raised, the most specific one, as for every failure: a missing
    # keyring entry is a KeyringEntryMissing (a CredentialUnavailable that names the entry).
    assert type(info.value) is KeyringEntryMissing
    assert seen["words"]["failure"] == "KeyringEntryMissing"
    assert pacs.records == []  # nothing reached the peer


def test_unreachable_peer_is_audited(audit_file: Path) -> None:
    port = free_port()
    client = Client(
        Peer("127.0.0.1", port, "NOBODY"),
        identity=UsernameProvider("alice"),
        audit=xml_sink(audit_file),
        timeouts=LOCAL,
    )
    with pytest.raises(PeerUnreachable):
        client.echo()
    message = only_message(audit_file)
    event = message.find("EventIdentification")
    assert event is not None and event.get("EventOutcomeIndicator") == "8"
    assert "failure=PeerUnreachable" in (event.findtext("EventOutcomeDescription") or "")
    assert participants(message)["peer"].get("UserID") == f"127.0.0.1:{port}"


# --- Sinks -----------------------------------------------------------------------------------


def test_logging_sink_is_the_default_and_carries_the_fields(
    pacs: EmbeddedPacs, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    token = make_jwt(sub="carol@example.org")
    path = write_token(tmp_path / "token.jwt", token)
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=JwtFileProvider(path, positive_response=True),
        timeouts=LOCAL,
    )
    assert client.audit is DEFAULT_AUDIT_SINK and isinstance(client.audit, LoggingAuditSink)
    client.echo()
    wrong = client_for(pacs, PasswordProvider("alice", WRONG_PASSWORD), audit=DEFAULT_AUDIT_SINK)
    with pytest.raises(AuthenticationRejected):
        wrong.echo()
    records = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert len(records) == 2
    accepted, rejected = (r.__dict__["audit"] for r in records)
    assert accepted["outcome"] == 0 and accepted["principal"] == "carol@example.org"
    assert accepted["identity_type"] == "jwt" and accepted["decision"] == "confirmed"
    assert accepted["calling_ae_title"] == "DICOM_IDENTITY"
    assert accepted["called_ae_title"] == pacs.ae_title
    assert (accepted["peer_host"], accepted["peer_port"]) == (pacs.host, pacs.port)
    assert accepted["tls"] is False and accepted["failure"] == ""
    assert datetime.fromisoformat(accepted["time"]).tzinfo is not None
    assert rejected["outcome"] == 8 and rejected["failure"] == "AuthenticationRejected"
    assert rejected["rejection"] == [1, 2, 1]
    assert "outcome=0 principal='carol@example.org'" in records[0].getMessage()
    everything = "\n".join(f"{r.getMessage()} {r.__dict__['audit']!r}" for r in records)
    assert_no_secret(everything, token, *token.split("."), WRONG_PASSWORD)


def test_audit_none_records_nothing(pacs: EmbeddedPacs, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    client_for(pacs, UsernameProvider("alice"), audit=None).echo()
    assert [r for r in caplog.records if r.name == AUDIT_LOGGER] == []


class BrokenSink:
    """A sink that always fails (pure logic: the point is what the flow does with it)."""

    calls = 0

    def record(self, event: AuditEvent) -> None:
        BrokenSink.calls += 1
        raise RuntimeError("the audit repository is down")


def test_a_failing_sink_never_breaks_the_association(
    pacs: EmbeddedPacs, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.ERROR, logger="client_sdk.audit")
    client = client_for(pacs, UsernameProvider("alice"), audit=BrokenSink())
    with client.associate() as session:
        assert session.echo() == 0
    assert BrokenSink.calls == 1
    # A real sink whose folder vanished: the association goes on, the error is logged.
    folder = tmp_path / "gone"
    folder.mkdir()
    sink = XmlFileAuditSink(folder / "audit.xml")
    folder.rmdir()
    assert client_for(pacs, UsernameProvider("alice"), audit=sink).echo() == 0
    # The rejection still raises what it should, not the sink's error.
    with pytest.raises(AuthenticationRejected):
        client_for(pacs, PasswordProvider("alice", WRONG_PASSWORD), audit=BrokenSink()).echo()
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("client_sdk.audit")]
    assert len(errors) == 3
    assert "the audit repository is down" in errors[0] and "association goes on" in errors[0]
    assert "cannot open the audit file" in errors[1] and str(folder) in errors[1]
    assert_no_secret("\n".join(errors), WRONG_PASSWORD)


def test_xml_file_sink_error_says_what_to_do(tmp_path: Path) -> None:
    sink = XmlFileAuditSink(tmp_path / "missing" / "audit.xml")
    with pytest.raises(AuditWriteError) as info:
        sink.record(sample_event())
    assert "missing" in str(info.value) and "writable" in str(info.value)


def test_several_sinks_each_get_the_event_even_after_a_failure(audit_file: Path) -> None:
    sinks = AuditSinks([BrokenSink(), xml_sink(audit_file)])
    with pytest.raises(AuditWriteError, match="the audit repository is down"):
        sinks.record(sample_event())
    assert len(messages(audit_file)) == 1


def test_concurrent_writers_write_whole_lines(audit_file: Path) -> None:
    # Two sinks on one file stand for two processes; long principals make big writes.
    sinks = [xml_sink(audit_file), xml_sink(audit_file)]
    threads, per_thread = 8, 40
    start = threading.Barrier(threads)

    def write(n: int) -> None:
        start.wait(timeout=10)
        for i in range(per_thread):
            sinks[n % 2].record(sample_event(principal=f"user-{n}-{i}-" + "x" * 2000))

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers)
    found = messages(audit_file)  # every line parses on its own
    assert len(found) == threads * per_thread
    users = {participants(m)["user"].get("UserID", "").split("-x")[0] for m in found}
    assert len(users) == threads * per_thread


def test_concurrent_associations_one_line_each(pacs: EmbeddedPacs, audit_file: Path) -> None:
    client = client_for(pacs, PasswordProvider("alice", PASSWORD), audit=xml_sink(audit_file))
    errors: list[BaseException] = []

    def echo() -> None:
        try:
            client.echo()
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=echo) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    found = messages(audit_file)
    assert len(found) == 4
    assert all(
        check_structure(m, pacs=pacs, calling="DICOM_IDENTITY")["outcome"] == "0" for m in found
    )


# --- The XML itself, for hostile values (pure logic) -------------------------------------------


def sample_event(**changes: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "time": datetime.now(UTC),
        "outcome": EventOutcome.SUCCESS,
        "principal": "alice",
        "identity_type": "username",
        "identity_source": "username given by the caller",
        "calling_ae_title": "SCU",
        "called_ae_title": "PACS",
        "peer_host": "127.0.0.1",
        "peer_port": 11112,
        "tls": False,
        "response": "not-requested",
        "decision": "not-requested",
        "failure": "",
        "rejection": None,
        "requestor_host": "workstation.example.org",
        "process_id": 4242,
    }
    fields.update(changes)
    return AuditEvent(**fields)


def test_hostile_values_are_escaped_and_stay_on_one_line() -> None:
    hostile = 'eve"/><ActiveParticipant UserID="root"/>\n<!-- & \x00 \x1b[31m'
    event = sample_event(principal=hostile, calling_ae_title="A<B>&C", identity_source=hostile)
    line = audit_message_line(event)
    assert line.endswith("\n") and line.count("\n") == 1
    message = ET.fromstring(line)
    roles = participants(message)
    assert len(message.findall("ActiveParticipant")) == 3
    user_id = roles["user"].get("UserID", "")
    assert user_id.startswith('eve"/><ActiveParticipant UserID="root"/>')
    assert "\\x0a" in user_id and "\\x00" in user_id and "\\x1b" in user_id
    assert roles["process"].get("AlternativeUserID") == "AETITLES=A<B>&C"


def test_unknown_principal_and_tls_and_host_names() -> None:
    event = sample_event(principal="", tls=True, peer_host="pacs.example.org")
    message = ET.fromstring(audit_message_line(event))
    roles = participants(message)
    assert roles["user"].get("UserID") == "(unknown)"
    assert roles["user"].get("NetworkAccessPointID") == "workstation.example.org"
    assert roles["user"].get("NetworkAccessPointTypeCode") == "1"
    assert roles["peer"].get("NetworkAccessPointTypeCode") == "1"
    assert "tls=on" in (message.findtext("EventIdentification/EventOutcomeDescription") or "")


def test_outcome_mapping() -> None:
    assert outcome_for(Decision.CONFIRMED, False) is EventOutcome.SUCCESS
    assert outcome_for(Decision.NOT_REQUESTED, False) is EventOutcome.SUCCESS
    assert outcome_for(Decision.NO_IDENTITY, False) is EventOutcome.SUCCESS
    assert outcome_for(Decision.WARN, False) is EventOutcome.MINOR_FAILURE
    assert outcome_for(Decision.PROCEED, False) is EventOutcome.MINOR_FAILURE
    for decision in (None, Decision.ABORT, Decision.RELEASE, Decision.CONFIRMED):
        assert outcome_for(decision, True) is EventOutcome.SERIOUS_FAILURE


def test_client_refuses_a_sink_without_record(pacs: EmbeddedPacs) -> None:
    with pytest.raises(TypeError, match="record"):
        Client(Peer(pacs.host, pacs.port, pacs.ae_title), audit="audit.xml")  # type: ignore[arg-type]


# --- Configuration and command line ------------------------------------------------------------


def write_config(tmp_path: Path, pacs: EmbeddedPacs, audit: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[peers.local]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "alice"

[identities.alice]
type = "username"
username = "alice"

{audit}
"""
    )
    return path


def test_config_audit_table(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    audit = """[audit]
file = "logs/audit.xml"
log = false
fsync = true
source_id = "RAD_WS_07"
site_id = "RADIOLOGY"
"""
    config = load_config(write_config(tmp_path, pacs, audit), environ={})
    client = config.client("local")
    assert isinstance(client.audit, XmlFileAuditSink)
    assert client.audit.path == tmp_path / "logs" / "audit.xml"  # relative to the file's folder
    assert client.audit.fsync is True
    client.echo()
    message = only_message(tmp_path / "logs" / "audit.xml")
    source = message.find("AuditSourceIdentification")
    assert source is not None
    assert source.get("AuditSourceID") == "RAD_WS_07"
    assert source.get("AuditEnterpriseSiteID") == "RADIOLOGY"
    shown = {s.key: s for s in config.effective("local")}
    assert shown["audit.file"].value == str(tmp_path / "logs" / "audit.xml")
    assert shown["audit.file"].source.endswith(":audit.file")
    assert shown["audit.log"].value == "false"
    # --audit-file (Overrides) wins over the file; the log setting stays.
    other = tmp_path / "elsewhere.xml"
    overridden = config.client("local", overrides=Overrides(audit_file=str(other)))
    assert isinstance(overridden.audit, XmlFileAuditSink) and overridden.audit.path == other


def test_config_audit_defaults_and_combinations(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    plain = load_config(write_config(tmp_path, pacs, ""), environ={}).client("local")
    assert isinstance(plain.audit, LoggingAuditSink)
    off = load_config(write_config(tmp_path, pacs, "[audit]\nlog = false\n"), environ={})
    assert off.client("local").audit is None
    both = load_config(write_config(tmp_path, pacs, '[audit]\nfile = "a.xml"\n'), environ={})
    sinks = both.client("local").audit
    assert isinstance(sinks, AuditSinks)
    assert [type(s) for s in sinks.sinks] == [LoggingAuditSink, XmlFileAuditSink]


def test_config_audit_errors_name_the_file_and_key(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    audit = '[audit]\nfile = ""\nfsync = "yes"\npath = "x.xml"\n'
    path = write_config(tmp_path, pacs, audit)
    with pytest.raises(InvalidConfig) as info:
        load_config(path, environ={})
    errors = info.value.errors
    assert f'{path}: audit.file: must be a non-empty string, got ""' in errors
    assert f'{path}: audit.fsync: must be true or false, got "yes"' in errors
    [unknown] = [e for e in errors if e.startswith(f"{path}: audit.path: ")]
    assert "unknown key" in unknown and "file" in unknown
    missing = write_config(tmp_path, pacs, '[audit]\nfile = "no/such/folder/audit.xml"\n')
    config = load_config(missing, environ={})
    with pytest.raises(InvalidConfig, match="does not exist; create it or choose another file"):
        config.client("local")


def cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path))
    return run_cli(*args, env=env, cwd=tmp_path)  # the installed command, outside the checkout


def test_cli_audit_file_overrides_the_config(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    configured, flagged = tmp_path / "configured.xml", tmp_path / "flagged.xml"
    config = write_config(tmp_path, pacs, f'[audit]\nfile = "{configured}"\n')
    result = cli(
        "--config", str(config), "echo", "local", "--audit-file", str(flagged), tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert not configured.exists()
    seen = check_structure(only_message(flagged), pacs=pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == "0" and seen["user"].get("UserID") == "alice"
    # Without the flag, the configured file; a rejection is audited too (exit code 6).
    address = f"{pacs.host}:{pacs.port}"
    rejected = cli(
        "--config",
        str(config),
        "echo",
        address,
        "--ae-title",
        pacs.ae_title,
        "--user",
        "mallory",
        tmp_path=tmp_path,
    )
    assert rejected.returncode == 6, rejected.stderr
    seen = check_structure(only_message(configured), pacs=pacs, calling="DICOM_IDENTITY")
    assert seen["outcome"] == "8" and seen["user"].get("UserID") == "mallory"
    assert seen["words"]["failure"] == "AuthenticationRejected"


def test_cli_audit_file_in_a_missing_folder_is_a_config_error(
    pacs: EmbeddedPacs, tmp_path: Path
) -> None:
    address = f"{pacs.host}:{pacs.port}"
    result = cli(
        "echo",
        address,
        "--ae-title",
        pacs.ae_title,
        "--user",
        "alice",
        "--audit-file",
        str(tmp_path / "nowhere" / "audit.xml"),
        tmp_path=tmp_path,
    )
    assert result.returncode == 3
    assert "audit.file" in result.stderr and "(argument)" in result.stderr
    assert pacs.records == []
