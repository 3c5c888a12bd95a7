"""The flow of one association, in one place (see DESIGN.md, "The flow of one association").

1. check the transport for the identity type the provider declares, before anything is fetched;
2. ``provider.negotiate(target)``: fetch the credential, get a single-use exchange;
3. check the transport again for the real type, and the 16-bit size budget: nothing sent yet;
4. build pynetdicom's primitive at the last moment and associate, secrets scrubbed from its logs
   (for C-GET also with SCP/SCU role items and a C-STORE handler feeding the Session);
5. rejected or failed: classify and raise;
6. accepted: ``exchange.complete(response)``, then the policy decides;
7. hand back a Session.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pynetdicom import (
    DEFAULT_TRANSFER_SYNTAXES,
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    StoragePresentationContexts,
    build_context,
    build_role,
    evt,
)
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation, UserIdentityNegotiation
from pynetdicom.presentation import PresentationContext

from client_sdk._association.hints import identity_may_be_why, probe_note, rejected
from client_sdk._association.peer_faults import PeerFaults
from client_sdk._association.tls_failures import transport_failure
from client_sdk._audit.attempt import AuditAttempt
from client_sdk._errors import (
    AssociationAborted,
    AuditUnavailable,
    IdentityTooLarge,
    PeerProtocolError,
    PeerUnreachable,
    ResponseAdvice,
    ServerResponseMissing,
)
from client_sdk._operations.retrieve import Receiver
from client_sdk._operations.session import Session
from client_sdk._outcome import Decision, IdentityOutcome
from client_sdk._peer_text import PeerText
from client_sdk._pynetdicom.log_redaction import (
    install_pynetdicom_redaction,
    redacting,
    wipe_identity_answer,
)
from client_sdk._pynetdicom.requestor import ConnectionTrace, SdkAE
from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE, VERIFICATION
from providers import (
    IdentityExchange,
    IdentityType,
    ResponseCheck,
    ResponseStatus,
    Target,
)
from providers.base import ITEM_HEADER_LENGTH, MAX_ITEM_LENGTH

if TYPE_CHECKING:
    from client_sdk._client import Client

__all__ = ["open_session", "user_information_budget"]

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128  # presentation context IDs are odd numbers 1-255
_MAX_PDU_ITEM = 8  # the Maximum Length sub-item (51H): 4-byte header + 4-byte value
_NOT_STORAGE = {VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE}


def user_information_budget(roles: Sequence[SCP_SCU_RoleSelectionNegotiation] = ()) -> int:
    """Bytes left for the identity item in the User Information item (16-bit length), next to
    pynetdicom's own sub-items and the given SCP/SCU role selection items."""
    used = _MAX_PDU_ITEM + ITEM_HEADER_LENGTH + len(PYNETDICOM_IMPLEMENTATION_UID)
    if PYNETDICOM_IMPLEMENTATION_VERSION:
        used += ITEM_HEADER_LENGTH + len(PYNETDICOM_IMPLEMENTATION_VERSION)
    used += sum(len(role.from_primitive().encode()) for role in roles)
    return MAX_ITEM_LENGTH - used


def _contexts(
    sop_classes: Iterable[str] | None, transfer_syntaxes: Iterable[str] = (), retrieve: bool = False
) -> tuple[list[PresentationContext], list[SCP_SCU_RoleSelectionNegotiation]]:
    """The presentation contexts to propose and, for ``retrieve``, the SCP/SCU role items."""
    if sop_classes is None:
        uids: list[str] = [VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_MOVE]
        uids += [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
    else:
        uids = list(dict.fromkeys(str(uid) for uid in sop_classes if uid))
    if retrieve and STUDY_ROOT_GET not in uids:
        uids.insert(0, STUDY_ROOT_GET)
    # An acceptor picks one syntax per context, usually an uncompressed one, so a compressed
    # dataset needs a context that offers only its own syntax.
    named = [str(ts) for ts in dict.fromkeys(transfer_syntaxes)]
    extra = [ts for ts in named if ts not in DEFAULT_TRANSFER_SYNTAXES]
    contexts = [build_context(uid, DEFAULT_TRANSFER_SYNTAXES) for uid in uids]
    contexts += [build_context(uid, ts) for uid in uids for ts in extra]
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError(
            f"at most {MAX_CONTEXTS} presentation contexts per association, {len(contexts)} needed "
            f"for {len(uids)} SOP classes and {len(extra)} extra transfer syntaxes"
        )
    # A named uncompressed syntax also gets contexts of its own, as many as fit: pynetdicom
    # acceptors pick Implicit VR Little Endian from the default list, and a dataset read from an
    # Explicit VR file is then decoded and re-encoded element by element (about a fifth of the
    # client's CPU per CT image); with its own syntax accepted it goes as it was read.
    exact = [build_context(uid, ts) for uid in uids for ts in named if ts not in extra]
    contexts += exact[: MAX_CONTEXTS - len(contexts)]
    if not retrieve:
        return contexts, []
    # C-GET: the peer sends the instances back as C-STORE requests on this association, for
    # storage classes we proposed with the SCP role. Propose as many as fit.
    for storage in StoragePresentationContexts:
        uid = str(storage.abstract_syntax)
        if len(contexts) >= MAX_CONTEXTS:
            break
        if uid not in uids:
            uids.append(uid)
            contexts.append(build_context(uid, DEFAULT_TRANSFER_SYNTAXES))
    roles = [
        build_role(uid, scu_role=True, scp_role=True) for uid in uids if uid not in _NOT_STORAGE
    ]
    return contexts, roles


def _check_budget(exchange: IdentityExchange, target: Target, budget: int) -> None:
    request = exchange.request
    size = request.item_length
    if size - ITEM_HEADER_LENGTH > MAX_ITEM_LENGTH or size > budget:
        raise IdentityTooLarge(
            f"the {request.identity_type.label} identity from {request.source} is {size} bytes; "
            f"at most {budget} fit in an A-ASSOCIATE-RQ (16-bit lengths), so nothing was sent "
            f"to {target}. Use a smaller credential (fewer JWT claims, a shorter ticket)"
        )


def _secrets_of(exchange: IdentityExchange | None) -> list[bytes]:
    """The bytes to scrub from logs: passcodes, and the primary field of tokens and tickets."""
    if exchange is None:
        return []
    request = exchange.request
    secrets = [request.secondary.reveal()] if request.secondary is not None else []
    if request.identity_type not in (IdentityType.USERNAME, IdentityType.USERNAME_PASSCODE):
        secrets.append(request.primary.reveal())
    return secrets


def _wipe(assoc: Association) -> None:
    """pynetdicom keeps the request primitive (password included) for the association's life."""
    primitive = assoc.requestor.primitive
    items = primitive.user_information if primitive is not None else []
    for item in items:
        if isinstance(item, UserIdentityNegotiation) and item.server_response is None:
            if item.user_identity_type not in (1, 2):
                item.primary_field = b"[wiped]"
            item.secondary_field = b""


def open_session(
    client: Client,
    sop_classes: Iterable[str] | None,
    transfer_syntaxes: Iterable[str] = (),
    *,
    retrieve: bool = False,
) -> Session:
    # The audit hook: every attempt ends here exactly once, with a Session or an exception, and
    # becomes one audit event (client_sdk/audit). A failing sink is logged, never raised, unless
    # the client requires its audit trail: then a sink that cannot take an event stops the
    # attempt before anything is fetched or sent, and an event that cannot be written aborts
    # the established association before any DIMSE operation (AuditUnavailable).
    attempt = AuditAttempt(client)
    try:
        attempt.check_sink()
        session = _open_session(client, attempt, sop_classes, transfer_syntaxes, retrieve)
    except BaseException as error:
        attempt.failed(error)
        raise
    try:
        attempt.succeeded(session.identity)
    except AuditUnavailable as error:
        session.__exit__(type(error), error, error.__traceback__)  # abort, free the threads
        raise
    return session


def _open_session(
    client: Client,
    attempt: AuditAttempt,
    sop_classes: Iterable[str] | None,
    transfer_syntaxes: Iterable[str],
    retrieve: bool,
) -> Session:
    install_pynetdicom_redaction()
    contexts, roles = _contexts(sop_classes, transfer_syntaxes, retrieve)
    target = client.target
    # TLS files are checked, and the context built once per TlsConfig, before anything is fetched.
    tls = client.peer.tls
    tls_args = (tls.context(), tls.server_hostname or target.host) if tls is not None else None
    policy = client.policy
    provider = client.identity
    exchange: IdentityExchange | None = None
    if provider is not None:
        declared = getattr(provider, "identity_type", None)
        if isinstance(declared, IdentityType):
            policy.check_transport(target, declared)
        exchange = provider.negotiate(target)
        if not isinstance(exchange, IdentityExchange):
            raise TypeError(
                f"{provider!r}.negotiate() returned {exchange!r}, not an IdentityExchange"
            )
        attempt.exchange = exchange
        policy.check_transport(target, exchange.request.identity_type)
        _check_budget(exchange, target, user_information_budget(roles))

    ae = SdkAE(client.calling_ae_title, client.timeouts)
    if exchange is not None and policy.needs_loopback(target, exchange.request.identity_type):
        # A name never proves loopback: the address connected to must, before the RQ is sent.
        kind = exchange.request.identity_type
        ae.trace.peer_check = lambda address: policy.check_connected(target, kind, address)
    # C-GET: the sub-operations arrive as C-STORE requests, handled by the Session's receiver.
    receiver = Receiver() if retrieve else None
    handlers: list[Any] = [] if receiver is None else [(evt.EVT_C_STORE, receiver.handle_store)]
    faults = PeerFaults()
    handlers += faults.handlers()
    started = time.monotonic()
    with redacting(_secrets_of(exchange)):
        ext_neg: list[Any] = [exchange.to_primitive()] if exchange is not None else []
        try:
            assoc = ae.associate(
                target.host,
                target.port,
                contexts,
                ae_title=target.called_ae_title,
                ext_neg=ext_neg + roles,
                tls_args=tls_args,
                evt_handlers=handlers,
            )
        except Exception as exc:
            if faults.association is None:
                raise
            # pynetdicom negotiates the peer's answer in this thread: an AC it decoded but
            # cannot apply raises here, with its reactor thread and socket still up.
            raise _unusable_answer(client, faults, exc) from None
        _wipe(assoc)
    if not assoc.is_established:
        faults.close()
        error = _peer_fault(assoc, faults, client, exchange) or _failure(
            assoc, ae.trace, client, exchange, time.monotonic() - started
        )
        request = exchange.request if exchange is not None else None
        log.info(
            "association peer=%s identity=%s principal=%r outcome=%s",
            target,
            request.identity_type.label if request is not None else "none",
            request.principal if request is not None else "",
            type(error).__name__,
        )
        raise error
    return _accepted(assoc, client, exchange, receiver, attempt, faults)


def _failure(
    assoc: Association,
    trace: ConnectionTrace,
    client: Client,
    exchange: IdentityExchange | None,
    elapsed: float,
) -> Exception:
    if trace.refused is not None:
        return trace.refused.with_traceback(None)  # the connected address failed the policy
    target = client.target
    timeouts = client.timeouts
    transport = transport_failure(trace, target, client.peer.tls, timeouts, elapsed)
    if transport is not None:
        return transport  # TLS: which of its failures, or plain DICOM to a TLS port
    if not trace.connected:
        error = trace.error
        if isinstance(error, TimeoutError):
            why = f"no TCP connection within the connect timeout ({timeouts.connect:g} s)"
        elif isinstance(error, ConnectionRefusedError):
            why = "connection refused: nothing listens on that port"
        elif error is not None:
            why = f"{type(error).__name__}: {error.strerror or error}"
        else:
            why = "the connection or the TLS handshake failed"
        return PeerUnreachable(
            f"cannot reach {target}: {why}. Check the host, the port and that the PACS is running"
        )
    accepted = assoc.acceptor.primitive
    if accepted is not None and accepted.result == 0 and not assoc.accepted_contexts:
        # The peer said yes to the association and no to every presentation context;
        # pynetdicom then aborts on its own.
        refused = sorted(
            {cx.abstract_syntax.name for cx in assoc.rejected_contexts if cx.abstract_syntax}
        )
        return AssociationAborted(
            f"{target} accepted the association but none of the proposed SOP classes "
            f"({', '.join(refused) or 'none proposed'}), so it was aborted. The peer does not "
            "offer this service to this calling AE title: check its configuration"
        )
    if elapsed >= timeouts.acse:
        return AssociationAborted(
            f"{target} accepted the TCP connection but sent no A-ASSOCIATE response within the "
            f"ACSE timeout ({timeouts.acse:g} s). Check that the port is a DICOM port"
        )
    if trace.probed:
        tls_hint = probe_note(target.tls)
    elif not target.tls:
        tls_hint = " A TLS port needs Peer(..., tls=TlsConfig(...)) (--tls)."
    else:
        tls_hint = ""
    return AssociationAborted(
        f"{target} closed the connection without an A-ASSOCIATE response. Check that the port "
        f"is a DICOM port and the peer's log.{identity_may_be_why(exchange)}{tls_hint}"
    )


def _unusable_answer(client: Client, faults: PeerFaults, exc: Exception) -> PeerProtocolError:
    assoc = faults.association
    if assoc is not None:
        assoc.abort()
        faults.close()
    return PeerProtocolError(
        f"{client.target} answered the A-ASSOCIATE-RQ with an A-ASSOCIATE-AC that pynetdicom "
        f"cannot apply ({type(exc).__name__}); the association was aborted. " + _VENDOR_ADVICE
    )


_VENDOR_ADVICE = (
    "The peer's DICOM implementation is at fault and a retry will not help: report it to its "
    "vendor with a capture of the exchange (tshark -d tcp.port==PORT,dicom)"
)


def _peer_fault(
    assoc: Association,
    faults: PeerFaults,
    client: Client,
    exchange: IdentityExchange | None,
) -> Exception | None:
    """The error for a peer that rejected, aborted, broke the protocol or hung up mid-PDU;
    None for the failures ``_failure`` classifies (no connection, TLS, timeouts)."""
    target = client.target
    if faults.tls_answer:
        return None  # plain DICOM to a TLS port: transport_failure names it (PlainToTlsPort)
    rejection = faults.rejection
    if rejection is None and assoc.is_rejected and assoc.acceptor.primitive is not None:
        rj = assoc.acceptor.primitive
        rejection = (int(rj.result or 0), int(rj.result_source or 0), int(rj.diagnostic or 0))
    if rejection is not None:
        return rejected(rejection, target, exchange)
    if faults.malformed is not None:
        return PeerProtocolError(
            f"{target} {faults.malformed}; the association was aborted. {_VENDOR_ADVICE}"
        )
    if 0x02 in faults.received:
        return None  # it did accept: what went wrong next is for _failure (no context)
    if faults.abort is not None:
        return AssociationAborted(
            f"{target} {faults.describe()} instead of answering the A-ASSOCIATE-RQ. The peer "
            "refused the association without saying why: check its log (and that it knows "
            f"calling AE title {target.calling_ae_title!r})." + identity_may_be_why(exchange)
        )
    if faults.cut is not None:
        return AssociationAborted(
            f"{target} {faults.cut} during negotiation. The peer or the network dropped the "
            "connection: check the peer's log, then retry"
        )
    stalled = faults.stalled()
    if stalled is not None:
        timeouts = client.timeouts
        return AssociationAborted(
            f"{target} {stalled} (network timeout {timeouts.network:g} s, ACSE timeout "
            f"{timeouts.acse:g} s); the association was aborted. The peer or the network is "
            "stuck: check the peer's log, then retry"
        )
    return None


def _accepted(
    assoc: Association,
    client: Client,
    exchange: IdentityExchange | None,
    receiver: Receiver | None,
    attempt: AuditAttempt,
    faults: PeerFaults,
) -> Session:
    target = client.target
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
        decision = _decide(client, exchange, outcome)
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
            per_type=kind in client.policy.per_type,
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


def _decide(client: Client, exchange: IdentityExchange, outcome: IdentityOutcome) -> Decision:
    if _required_and_missing(exchange, outcome):
        # The provider demands a verified answer (Kerberos mutual_auth="required").
        return Decision.ABORT
    return client.policy.decide(outcome)


def _required_and_missing(exchange: IdentityExchange, outcome: IdentityOutcome) -> bool:
    return exchange.requires_response and outcome.status is ResponseStatus.MISSING
