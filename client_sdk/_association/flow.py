"""The flow of one association, in one place.

1. check the transport for the identity type the provider declares, before anything is fetched;
2. ``provider.negotiate(target)``: fetch the credential, get a single-use exchange;
3. check the transport again for the real type, and the 16-bit size budget: nothing sent yet
   (``contexts``);
4. build pynetdicom's primitive at the last moment and associate, secrets scrubbed from its logs
   (for C-GET also with SCP/SCU role items and a C-STORE handler feeding the Session);
5. rejected or failed: classify and raise (``failures``);
6. accepted: ``exchange.complete(response)``, then the policy decides (``accepted``);
7. hand back a Session.

Every attempt is one audit event (``client_sdk._audit.attempt``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from pynetdicom import evt

from client_sdk._association.accepted import accepted_session
from client_sdk._association.context_memory import ContextMemory, Proposal
from client_sdk._association.contexts import check_budget, user_information_budget
from client_sdk._association.failures import not_established, unusable_answer
from client_sdk._association.peer_faults import PeerFaults
from client_sdk._association.wipe import secrets_of, wipe_request
from client_sdk._audit.attempt import AuditAttempt
from client_sdk._client_settings import ClientSettings
from client_sdk._errors import AuditUnavailable
from client_sdk._operations.retrieve import Receiver
from client_sdk._operations.session import Session
from client_sdk._pynetdicom.log_redaction import ScrubbedSecrets, install_pynetdicom_redaction
from client_sdk._pynetdicom.negotiation import install_fast_negotiation
from client_sdk._pynetdicom.release_wait import poll_release_finely
from client_sdk._pynetdicom.requestor import SdkAE
from providers import IdentityExchange, IdentityType

# Its 0.4 name: logging configurations (and the tests) name it.
log = logging.getLogger("client_sdk.association")


def open_session(
    settings: ClientSettings,
    sop_classes: Iterable[str] | None,
    transfer_syntaxes: Iterable[str] = (),
    *,
    retrieve: bool = False,
    memory: ContextMemory | None = None,
) -> Session:
    # The audit hook: every attempt ends here exactly once, with a Session or an exception, and
    # becomes one audit event (client_sdk._audit). A failing sink is logged, never raised, unless
    # the client requires its audit trail: then a sink that cannot take an event stops the
    # attempt before anything is fetched or sent, and an event that cannot be written aborts
    # the established association before any DIMSE operation (AuditUnavailable).
    attempt = AuditAttempt(
        settings.audit,
        required=settings.audit_required,
        target=settings.target,
        provider=settings.identity,
    )
    try:
        attempt.check_sink()
        # A Client's memory of what this peer accepted (a fresh one: the full list).
        memory = memory if memory is not None else ContextMemory()
        proposal = memory.plan(settings.target, sop_classes, transfer_syntaxes, retrieve)
        session = _open_session(settings, attempt, proposal)
    except BaseException as error:
        attempt.failed(error)
        raise
    try:
        attempt.succeeded(session.outcome)
    except AuditUnavailable as error:
        session.__exit__(type(error), error, error.__traceback__)  # abort, free the threads
        raise
    return session


def _open_session(
    settings: ClientSettings,
    attempt: AuditAttempt,
    proposal: Proposal,
) -> Session:
    install_pynetdicom_redaction()
    install_fast_negotiation()
    contexts, roles = proposal.contexts, proposal.roles
    target = settings.target
    # TLS files are checked, and the context built once per TlsConfig, before anything is fetched.
    tls = settings.peer.tls
    tls_args = (tls.context(), tls.server_hostname or target.host) if tls is not None else None
    policy = settings.policy
    provider = settings.identity
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
        check_budget(exchange, target, user_information_budget(roles))

    faults = PeerFaults()
    ae = SdkAE(settings.calling_ae_title, settings.timeouts, reader=faults.read)
    if exchange is not None and policy.needs_loopback(target, exchange.request.identity_type):
        # A name never proves loopback: the address connected to must, before the RQ is sent.
        kind = exchange.request.identity_type
        ae.trace.peer_check = lambda address: policy.check_connected(target, kind, address)
    # C-GET: the sub-operations arrive as C-STORE requests, handled by the Session's receiver.
    receiver = Receiver() if proposal.retrieve else None
    handlers: list[Any] = [] if receiver is None else [(evt.EVT_C_STORE, receiver.handle_store)]
    handlers += faults.handlers()
    started = time.monotonic()
    # The association's secrets stay registered, scrubbed from every pynetdicom and pydicom
    # record and PDU dump, until the Session releases or aborts it: a peer may quote them in any
    # DIMSE message. Every way out without a Session drops them here.
    scrubbed = ScrubbedSecrets(secrets_of(exchange))
    try:
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
            raise unusable_answer(settings, faults, exc) from None
        wipe_request(assoc)
        if assoc.is_established:
            poll_release_finely(assoc)
            proposal.established(assoc)
        else:
            faults.close()
            elapsed = time.monotonic() - started
            error = not_established(assoc, faults, ae.trace, settings, exchange, elapsed)
            request = exchange.request if exchange is not None else None
            log.info(
                "association peer=%s identity=%s principal=%r outcome=%s",
                target,
                request.identity_type.label if request is not None else "none",
                request.principal if request is not None else "",
                type(error).__name__,
            )
            raise error
        session = accepted_session(assoc, settings, exchange, receiver, attempt, faults)
    except BaseException:
        proposal.failed()
        scrubbed.close()
        raise
    session.keep_scrubbed(scrubbed)
    return session
