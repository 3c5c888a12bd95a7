"""An A-ASSOCIATE-AC: the peer's identity answer checked, the policy's decision, and the
Session handed back (or the association released or aborted, and why raised)."""

from __future__ import annotations

import dataclasses
import logging

from pynetdicom.association import Association

from client_sdk._association.peer_faults import PeerFaults
from client_sdk._association.wipe import wipe_identity_answer
from client_sdk._audit.attempt import AuditAttempt
from client_sdk._client_settings import ClientSettings
from client_sdk._errors import ResponseAdvice, ServerResponseMissing
from client_sdk._operations.retrieve import Receiver
from client_sdk._operations.session import Session
from client_sdk._outcome import Decision, IdentityOutcome
from client_sdk._peer_text import PeerText
from providers import IdentityExchange, ResponseCheck, ResponseStatus

# Its 0.4 name: logging configurations (and the tests) name it.
log = logging.getLogger("client_sdk.association")


def accepted_session(
    assoc: Association,
    settings: ClientSettings,
    exchange: IdentityExchange | None,
    receiver: Receiver | None,
    attempt: AuditAttempt,
    faults: PeerFaults,
) -> Session:
    target = settings.target
    peer = str(target)
    if exchange is None:
        outcome = IdentityOutcome(
            peer=peer,
            identity_type=None,
            principal="",
            source="",
            response_requested=False,
            response_length=None,
            status=ResponseStatus.NO_IDENTITY,
            decision=Decision.NO_IDENTITY,
        )
        log.info("association %s", outcome.summary())
        return Session(assoc, outcome, peer, receiver, faults=faults)

    try:
        # A response that does not verify (MutualAuthenticationFailed) or a policy callable that
        # fails: abort, whatever the policy says. Fail closed.
        check = _check_answer(assoc, exchange)
        outcome = _outcome(peer, exchange, check)
        if faults.legacy_identity_item:
            # DCMTK <= 3.6.1 acceptors typed the answer 58H; DCMTK's requestor accepts it too.
            detail = f"{outcome.detail} (legacy 58H item)".strip()
            outcome = dataclasses.replace(outcome, detail=detail)
        decision = _decide(settings, exchange, outcome)
    except BaseException:
        assoc.abort()
        raise
    outcome = dataclasses.replace(outcome, decision=decision)
    attempt.outcome = outcome
    log.info("association %s", outcome.summary())
    if decision.proceeds:
        if decision is Decision.WARN:
            log.warning(
                "%s did not confirm the %s identity of %r (%s); proceeding as the policy says",
                peer,
                outcome.type_label,
                outcome.principal,
                check.detail,
            )
        return Session(
            assoc, outcome, peer, receiver, faults=faults, peer_text=PeerText.of(exchange)
        )

    if decision is Decision.RELEASE:
        assoc.release()
    else:
        assoc.abort()
    identity = f"the {outcome.type_label} identity of {outcome.principal or '-'!r}"
    what = (
        f"answered {identity} by echoing our own token or passcode (a secret we sent, raw or "
        "encoded), which proves nothing,"
        if check.echoed
        else f"sent no user identity response for {identity}"
    )
    ended = "released" if decision is Decision.RELEASE else "aborted"
    kind = exchange.request.identity_type
    raise ServerResponseMissing(
        f"{peer} {what} although a positive response was requested; association {ended}.",
        advice=ResponseAdvice(
            kind,
            echoed=check.echoed,
            per_type=kind in settings.policy.per_type,
            required_by=repr(exchange) if _required_and_missing(exchange, outcome) else "",
        ),
    )


def _check_answer(assoc: Association, exchange: IdentityExchange) -> ResponseCheck:
    """``exchange.complete()`` on the peer's answer, then the answer wiped from pynetdicom's
    objects if it held a secret we sent (an echo) or did not verify: the association keeps no
    copy, and no frame of this flow holds one as a local."""
    answer = assoc.acceptor.user_identity
    check: ResponseCheck | None = None
    try:
        check = exchange.complete(answer.server_response if answer is not None else None)
        return check
    finally:
        if check is None or check.echoed:
            wipe_identity_answer(assoc)


def _outcome(peer: str, exchange: IdentityExchange, check: ResponseCheck) -> IdentityOutcome:
    request = exchange.request
    return IdentityOutcome(
        peer=peer,
        identity_type=request.identity_type,
        principal=request.principal,
        source=request.source,
        response_requested=request.positive_response_requested,
        response_length=check.length,
        status=check.status,
        detail=check.detail,
    )


def _decide(
    settings: ClientSettings, exchange: IdentityExchange, outcome: IdentityOutcome
) -> Decision:
    if _required_and_missing(exchange, outcome):
        # The provider demands a verified answer (Kerberos mutual_auth="required").
        return Decision.ABORT
    return settings.policy.decide(outcome)


def _required_and_missing(exchange: IdentityExchange, outcome: IdentityOutcome) -> bool:
    return exchange.requires_response and outcome.status is ResponseStatus.MISSING
