"""The association flow's side of auditing: what one attempt learned, recorded once at its end."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

from client_sdk._audit.event import AuditEvent, outcome_for
from client_sdk._audit.sinks import AuditSink, audit_unavailable, check_audit_sink
from client_sdk._errors import AssociationRejected, AuditUnavailable
from client_sdk._outcome import Decision, IdentityOutcome
from providers import IdentityExchange, IdentityProvider, IdentityType, ResponseStatus, Target

# Its 0.4 name, which docs/audit.md gives: logging configurations name it.
log = logging.getLogger("client_sdk.audit.attempt")


class AuditAttempt:
    """Filled in by the association flow as it goes (``exchange`` once the provider gave one,
    ``outcome`` once the policy decided), then :meth:`succeeded` or :meth:`failed` hands one
    :class:`AuditEvent` to the client's sink. A sink that fails is logged, never raised, unless
    the client requires its audit trail (``required``): see :meth:`check_sink`. ``target`` is
    where the attempt goes, ``provider`` the client's identity provider (None: no identity)."""

    def __init__(
        self,
        sink: AuditSink | None,
        *,
        required: bool = False,
        target: Target,
        provider: IdentityProvider | None = None,
    ) -> None:
        self.sink = sink
        self.required = required
        self.target = target
        self.provider = provider
        self.exchange: IdentityExchange | None = None
        self.outcome: IdentityOutcome | None = None

    def check_sink(self) -> None:
        """With ``required``: :class:`AuditUnavailable` unless the sink can take an event now
        (``check_audit_sink``), before anything is fetched or sent."""
        sink = self.sink
        if sink is None or not self.required:
            return
        try:
            check_audit_sink(sink)
        except Exception as exc:
            failure = exc
        else:
            return
        raise audit_unavailable(sink, failure, established=False)

    def succeeded(self, outcome: IdentityOutcome) -> None:
        """Record the established association; with ``required``, a sink that
        fails raises :class:`AuditUnavailable` (the caller then aborts the association)."""
        self.outcome = outcome
        self._record(None)

    def failed(self, error: BaseException) -> None:
        if isinstance(error, AuditUnavailable):
            return  # the sink cannot take it: the error itself says why, once
        self._record(error)

    def _record(self, error: BaseException | None) -> None:
        sink = self.sink
        if sink is None:
            return
        failure: Exception | None = None
        try:
            sink.record(self.event(error))
        except Exception as exc:
            failure = exc
        if failure is None:
            return
        if error is None and self.required:
            # Required: an established association whose event is not on record fails closed.
            raise audit_unavailable(sink, failure, established=True)
        # Otherwise the audit trail never breaks an association.
        log.error(
            "audit: %r could not record the attempt to %s (%s: %s); the association goes on",
            sink,
            self.target,
            type(failure).__name__,
            failure,
        )

    def event(self, error: BaseException | None) -> AuditEvent:
        target = self.target
        principal, identity_type, source, response = self._identity()
        decision = self.outcome.decision if self.outcome is not None else None
        return AuditEvent(
            time=datetime.now(UTC),
            outcome=outcome_for(decision, error is not None),
            principal=principal,
            identity_type=identity_type,
            identity_source=source,
            calling_ae_title=target.calling_ae_title,
            called_ae_title=target.called_ae_title,
            peer_host=target.host,
            peer_port=target.port,
            tls=target.tls,
            response=response,
            decision=decision.value if decision not in (None, Decision.PENDING) else "",
            failure=type(error).__name__ if error is not None else "",
            rejection=error.triple if isinstance(error, AssociationRejected) else None,
            requestor_host=socket.gethostname(),
            process_id=os.getpid(),
        )

    def _identity(self) -> tuple[str, str, str, str]:
        """(principal, identity type label, source, response) from the best thing known."""
        outcome = self.outcome
        if outcome is not None:
            return outcome.principal, outcome.type_label, outcome.source, outcome.status.value
        if self.exchange is not None:
            # Sent, then rejected or failed: the response word if it was checked (a response
            # that did not verify raised), else whether one was asked for.
            request = self.exchange.request
            check = self.exchange.result
            response = ""
            if check is not None:
                response = check.status.value
            elif not request.positive_response_requested:
                response = ResponseStatus.NOT_REQUESTED.value
            return request.principal, request.identity_type.label, request.source, response
        # Nothing negotiated (a credential error, an insecure transport): what the provider claims.
        provider = self.provider
        if provider is None:
            return "", "none", "", ResponseStatus.NO_IDENTITY.value
        declared = getattr(provider, "identity_type", None)
        label = declared.label if isinstance(declared, IdentityType) else "unknown"
        claimed = getattr(provider, "username", None) or getattr(provider, "principal", None)
        return (claimed if isinstance(claimed, str) else ""), label, "", ""
