"""The policy matrix: {ABORT, RELEASE, WARN, PROCEED, callable} x response modes x types {1, 2, 5}.

Every cell runs a real association against the embedded PACS and checks the SDK's outcome, the
exception, and what the PACS observed (an A-ABORT for ABORT, a release for RELEASE).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client_sdk import (
    Client,
    Decision,
    IdentityOutcome,
    MissingResponse,
    Peer,
    Policy,
    ServerResponseMissing,
)
from client_sdk.testing import EmbeddedPacs
from providers import (
    IdentityProvider,
    IdentityType,
    JwtFileProvider,
    PasswordProvider,
    ResponseStatus,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, USERS, make_jwt, write_token
from tests.timeouts import OPERATIONS

MODES = ["standard", "silent", "echo", "pynetdicom"]
TYPES = [IdentityType.USERNAME, IdentityType.USERNAME_PASSCODE, IdentityType.JWT]
RULES = ["abort", "release", "warn", "proceed", "callable"]


@pytest.fixture(scope="module")
def pacs_by_mode() -> Any:
    servers = {
        mode: EmbeddedPacs(users=USERS, jwt_key=JWT_KEY, jwt_audience=AUDIENCE, response_mode=mode)
        for mode in MODES
    }
    for pacs in servers.values():
        pacs.start()
    yield servers
    for pacs in servers.values():
        pacs.stop()


def provider_for(kind: IdentityType, tmp_path: Path) -> IdentityProvider:
    if kind is IdentityType.USERNAME:
        return UsernameProvider("alice", positive_response=True)
    if kind is IdentityType.USERNAME_PASSCODE:
        return PasswordProvider("alice", USERS["alice"], positive_response=True)
    token = write_token(tmp_path / "token.jwt", make_jwt(sub="alice@example.org"))
    return JwtFileProvider(token, audience=AUDIENCE, positive_response=True)


def response_missing(mode: str, kind: IdentityType) -> bool:
    """What the standard and each peer model imply (echo of our own token counts as missing)."""
    if mode == "silent":
        return True
    if mode == "pynetdicom":
        return kind is not IdentityType.JWT  # stock pynetdicom answers types 3-5 only
    if mode == "echo":
        return kind is IdentityType.JWT  # dcm4che-style: our own token sent back
    return False


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", TYPES, ids=lambda k: k.label)
def test_policy_cell(
    pacs_by_mode: dict[str, EmbeddedPacs],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    rule: str,
    mode: str,
    kind: IdentityType,
) -> None:
    pacs = pacs_by_mode[mode]
    pacs.clear()
    seen: list[IdentityOutcome] = []

    def decide(outcome: IdentityOutcome) -> MissingResponse:
        seen.append(outcome)
        return MissingResponse.PROCEED

    chosen: MissingResponse | Callable[[IdentityOutcome], MissingResponse]
    chosen = decide if rule == "callable" else MissingResponse(rule)
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=provider_for(kind, tmp_path),
        policy=Policy(missing_response=chosen),
        timeouts=OPERATIONS,
    )
    missing = response_missing(mode, kind)
    stops = missing and rule in ("abort", "release")

    with caplog.at_level(logging.INFO, logger="client_sdk"):
        if stops:
            with pytest.raises(ServerResponseMissing) as info:
                client.associate()
            message = str(info.value)
            assert pacs.ae_title in message and kind.label in message
            assert ("released" if rule == "release" else "aborted") in message
            if mode == "echo":
                assert "echoing our own token" in message
        else:
            with client.associate() as session:
                assert session.echo() == 0x0000
                outcome = session.outcome

    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.identity_type == int(kind)
    assert record.response_requested is True
    assert record.verified is True
    assert record.principal == ("alice@example.org" if kind is IdentityType.JWT else "alice")

    if stops:
        assert record.ended == ("released" if rule == "release" else "aborted")
        assert record.dimse == []
        return

    assert record.ended == "released"
    assert record.dimse == ["C-ECHO"]
    assert outcome.identity_type is kind
    assert outcome.response_requested is True
    assert outcome.response_received is (not missing or (mode == "echo"))
    assert outcome.echoed is (mode == "echo" and kind is IdentityType.JWT)
    if not missing:
        assert outcome.decision is Decision.CONFIRMED
        assert outcome.status is ResponseStatus.EMPTY
        assert outcome.response_length == 0
        assert seen == []
        return
    expected = {"warn": Decision.WARN, "proceed": Decision.PROCEED, "callable": Decision.PROCEED}
    assert outcome.decision is expected[rule]
    warned = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "did not confirm" in r.getMessage()
    ]
    assert bool(warned) is (rule == "warn")
    if rule == "callable":
        (given,) = seen
        assert given.decision is Decision.PENDING
        assert given.identity_type is kind and given.principal == record.principal
    # One INFO line per association outcome, naming peer, type, principal and decision.
    info_lines = [r.getMessage() for r in caplog.records if r.name == "client_sdk.association"]
    assert any(
        f"identity={kind.label}" in line and outcome.decision.value in line for line in info_lines
    )


def test_per_type_override_and_default_is_abort(
    pacs_by_mode: dict[str, EmbeddedPacs], tmp_path: Path
) -> None:
    pacs = pacs_by_mode["silent"]
    peer = Peer(pacs.host, pacs.port, pacs.ae_title)
    assert Policy().missing_response is MissingResponse.ABORT
    policy = Policy(per_type={IdentityType.USERNAME: MissingResponse.WARN})
    with Client(
        peer,
        identity=UsernameProvider("alice", positive_response=True),
        policy=policy,
        timeouts=OPERATIONS,
    ).associate() as session:
        assert session.outcome.decision is Decision.WARN
    with pytest.raises(ServerResponseMissing):
        Client(
            peer,
            identity=provider_for(IdentityType.JWT, tmp_path),
            policy=policy,
            timeouts=OPERATIONS,
        ).associate()


def test_echo_can_count_as_a_response(
    pacs_by_mode: dict[str, EmbeddedPacs], tmp_path: Path
) -> None:
    pacs = pacs_by_mode["echo"]
    policy = Policy(echo_is_missing=False)
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=provider_for(IdentityType.JWT, tmp_path),
        policy=policy,
        timeouts=OPERATIONS,
    )
    with client.associate() as session:
        assert session.outcome.echoed is True
        assert session.outcome.decision is Decision.CONFIRMED


def test_no_response_requested_needs_no_policy(pacs_by_mode: dict[str, EmbeddedPacs]) -> None:
    pacs = pacs_by_mode["silent"]
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=UsernameProvider("alice"),
        timeouts=OPERATIONS,
    )
    with client.associate() as session:
        assert session.outcome.decision is Decision.NOT_REQUESTED


def test_a_broken_policy_callable_fails_closed(pacs_by_mode: dict[str, EmbeddedPacs]) -> None:
    pacs = pacs_by_mode["silent"]
    pacs.clear()

    def broken(outcome: IdentityOutcome) -> MissingResponse:
        return "proceed"  # type: ignore[return-value]

    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=UsernameProvider("alice", positive_response=True),
        policy=Policy(missing_response=broken),
        timeouts=OPERATIONS,
    )
    with pytest.raises(TypeError, match="not a MissingResponse"):
        client.associate()
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.ended == "aborted"
