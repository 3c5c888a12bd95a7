"""What to tell the user when an association attempt ends before it is accepted.

The association flow (``client_sdk._association``) finds out what happened; this module words it
so the advice fits the case: a rejection's class and what to do about its codes, and what the
identity (or a diagnostic TLS handshake) may have to do with a peer that aborts or hangs up
right after an identity-bearing A-ASSOCIATE-RQ.
"""

from __future__ import annotations

from client_sdk._errors import AssociationRejected, AuthenticationRejected
from client_sdk._wire.constants import REJECTED_TRANSIENT
from client_sdk._wire.pdu_check import is_defined_rejection, rejection_text
from providers import IdentityExchange, Target


def rejected(
    triple: tuple[int, int, int], target: Target, exchange: IdentityExchange | None
) -> AssociationRejected:
    """The error for an A-ASSOCIATE-RJ: an authentication rejection when an identity was sent
    and the codes mean "not authenticated" ((1|2, 2, 1), or older dcm4chee's (1, 1, 1))."""
    result, source, reason = triple
    text = rejection_text(triple)
    if exchange is not None and (
        (result in (1, 2) and source == 2 and reason == 1) or triple == (1, 1, 1)
    ):
        request = exchange.request
        who = (
            f"{target} rejected the {request.identity_type.label} identity of "
            f"{request.principal or 'the caller'!r} from {request.source} {text}."
        )
        return AuthenticationRejected(
            f"{who} {_authentication_advice(result)}; not retried automatically",
            result=result,
            source=source,
            reason=reason,
        )
    return AssociationRejected(
        f"{target} rejected the association {text}. {_rejection_advice(triple, target)}",
        result=result,
        source=source,
        reason=reason,
    )


def _authentication_advice(result: int) -> str:
    if result != REJECTED_TRANSIENT:
        return "Check the credential and that this user may use this peer"
    # PS3.7 D.3.3.7.3 rejects a credential permanently, (1, 2, 1); stock pynetdicom (3.0.4,
    # acse.py) sends (2, 2, 1) both for an identity its handler refuses and for a handler that
    # raised (tests/test_hints.py shows the second).
    return (
        "The rejection is transient (result 2): a credential the peer refuses is rejected "
        "permanently, (1, 2, 1), so this may be a passing fault at the peer. pynetdicom-based "
        "peers send exactly this both for a refused credential and when their identity check "
        "itself failed (an exception in the EVT_USER_ID handler, an identity back end that is "
        "down): check the peer's log, check the credential, and retry later"
    )


def _rejection_advice(triple: tuple[int, int, int], target: Target) -> str:
    result, source, reason = triple
    called, calling = target.called_ae_title, target.calling_ae_title
    if not is_defined_rejection(triple):
        return (
            "Its codes are not defined by PS3.8 Table 9-21, so the peer's implementation is "
            f"faulty: check its log. Called AE title {called!r}, calling AE title {calling!r}"
        )
    advice = {
        (1, 1): f"The peer gave no reason: check its log and that it knows calling AE title "
        f"{calling!r}",
        (1, 2): "The peer does not support the DICOM application context: is this a DICOM port?",
        (1, 3): f"Register calling AE title {calling!r} with the peer, or set calling_ae_title",
        (1, 7): f"Check the called AE title {called!r}: the peer does not answer to it",
        (2, 1): "The peer gave no reason: check its log",
        (2, 2): "The peer does not support DICOM Upper Layer protocol version 1",
        (3, 1): "The peer is congested: retry later",
        (3, 2): "The peer is at its association limit: retry later or open fewer at once",
    }[(source, reason)]
    if result == REJECTED_TRANSIENT and source != 3:
        advice += " (a transient rejection: a later retry may succeed)"
    return advice


def identity_may_be_why(exchange: IdentityExchange | None) -> str:
    """For a peer that aborted or hung up on an identity-bearing A-ASSOCIATE-RQ: "" when no
    identity was sent."""
    if exchange is None:
        return ""
    label = exchange.request.identity_type.label
    return (
        f" The request carried a {label} identity, which may be why: some peers drop an "
        "association whose identity item they cannot parse or do not support (their log "
        "says so): an attempt without it, or with another identity type, tells."
    )


def probe_note(tls: bool) -> str:
    """For a failure after which dicom-identity made one diagnostic TLS handshake to the port
    (``ConnectionTrace.probed``): the peer's log shows it, so say what it was and found."""
    found = (
        "the port does not ask for a client certificate"
        if tls
        else "the port does not speak TLS, so TLS is not what it expected"
    )
    return (
        " The peer's log also shows a second, short connection: that was a TLS probe by "
        f"dicom-identity, which found that {found}."
    )
