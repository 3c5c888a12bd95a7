"""One audit event per association attempt, shaped after PS3.15 A.5.3.12 "User Authentication".

An :class:`AuditEvent` holds names, addresses and decisions, never a secret: the principal is the
provider's ``IdentityRequest.principal`` (a username, ``user@REALM``, a JWT ``sub``), which names
who authenticates and proves nothing by itself.

EventOutcomeIndicator (:class:`EventOutcome`), decided by whether a session was handed back:

* 0 success: the association was accepted and the identity got what was asked: a requested
  positive response came back (decision ``confirmed``), none was requested (``not-requested``),
  or no identity was sent (``no-identity``);
* 4 minor failure: the association went on without the requested confirmation, because the policy
  said so (decision ``warn`` or ``proceed`` for a missing or echoed response);
* 8 serious failure: no session: rejected (``AuthenticationRejected`` or any other rejection),
  aborted, the peer unreachable, the response missing and the policy stopped (``abort`` /
  ``release``), mutual authentication failed, or nothing was sent at all (credential unavailable
  or expired, insecure transport, identity too large). ``failure`` names the exception class.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import asdict, dataclass
from datetime import datetime

from client_sdk._outcome import Decision


class EventOutcome(enum.IntEnum):
    """EventOutcomeIndicator (PS3.15 A.5.1)."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12  # "reporting application now unavailable": never reported by the SDK


_SUCCESS_DECISIONS = (Decision.CONFIRMED, Decision.NOT_REQUESTED, Decision.NO_IDENTITY)


def outcome_for(decision: Decision | None, failed: bool) -> EventOutcome:
    """The outcome of an attempt (see the module's docstring for the mapping)."""
    if failed:
        return EventOutcome.SERIOUS_FAILURE
    if decision in _SUCCESS_DECISIONS:
        return EventOutcome.SUCCESS
    return EventOutcome.MINOR_FAILURE


@dataclass(frozen=True)
class AuditEvent:
    """A User Authentication (Login) event: one association attempt, from the requestor's side.

    ``identity_type`` is the type's label ("username", "jwt" ...), "none" when no identity was
    configured; ``principal`` is "" when unknown (a JWT without ``sub``, a credential that could
    not be read); ``response`` is the :class:`~providers.ResponseStatus` word (the README's
    "What came back" table: "no-identity", "not-requested", "missing", "empty", "echoed",
    "present-unverified", "verified"), or "" when an identity was to be sent and the attempt
    ended before its answer was checked; ``decision`` is the policy's
    :class:`~client_sdk.Decision` value, "" when it never decided; ``failure`` the exception's
    class name, "" on success; ``rejection`` the A-ASSOCIATE-RJ (result, source, reason) of a
    rejection.
    """

    time: datetime
    outcome: EventOutcome
    principal: str
    identity_type: str
    identity_source: str
    calling_ae_title: str
    called_ae_title: str
    peer_host: str
    peer_port: int
    tls: bool
    response: str
    decision: str
    failure: str
    rejection: tuple[int, int, int] | None
    requestor_host: str
    process_id: int

    @property
    def description(self) -> str:
        """One line of ``key=value`` words: the identity type, the response, the decision."""
        words = [f"identity={self.identity_type}"]
        if self.identity_source:
            words.append(f"source={self.identity_source!r}")
        words.append(f"response={self.response or '-'}")
        words.append(f"decision={self.decision or '-'}")
        words.append(f"tls={'on' if self.tls else 'off'}")
        if self.failure:
            words.append(f"failure={self.failure}")
        if self.rejection is not None:
            words.append("rejected=({}, {}, {})".format(*self.rejection))
        return " ".join(words)

    def as_dict(self) -> dict[str, object]:
        """The fields as JSON-ready values (the time in ISO 8601, the outcome as its number)."""
        fields = asdict(self)
        fields["time"] = self.time.isoformat()
        fields["outcome"] = int(self.outcome)
        fields["rejection"] = list(self.rejection) if self.rejection is not None else None
        return fields


def is_ip_address(host: str) -> bool:
    """For NetworkAccessPointTypeCode: 2 (IP address) or 1 (machine name)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
