"""What happened to the identity of one association.

Two words describe it, each with one meaning (README, "What came back"): ``status``, a
:class:`~providers.ResponseStatus`, says what the peer sent back; ``decision``, a
:class:`Decision`, says what the client did about it. Everything else here is derived from them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from providers import IdentityType, ResponseStatus


class Decision(enum.Enum):
    """What the client did after the A-ASSOCIATE-AC."""

    PENDING = "pending"  # not decided yet (what a policy callable sees)
    NO_IDENTITY = "no-identity"  # no identity was sent
    NOT_REQUESTED = "not-requested"  # no positive response was asked for (whatever came back)
    # The requested response came back and counts under the policy: empty, present-unverified
    # or verified (an echo only with echo_is_missing=False). Not a claim that it was verified.
    CONFIRMED = "confirmed"
    # The requested response is missing or does not count (an echo); the policy's rule:
    ABORT = "abort"
    RELEASE = "release"
    WARN = "warn"
    PROCEED = "proceed"

    @property
    def proceeds(self) -> bool:
        return self not in (Decision.ABORT, Decision.RELEASE, Decision.PENDING)


@dataclass(frozen=True)
class IdentityOutcome:
    """The identity side of one association. Holds no secret."""

    peer: str
    identity_type: IdentityType | None
    principal: str
    source: str
    response_requested: bool
    response_length: int | None  # bytes of the server response; None when no 59H item came
    status: ResponseStatus
    decision: Decision = Decision.PENDING
    detail: str = ""

    @property
    def type_label(self) -> str:
        return self.identity_type.label if self.identity_type is not None else "none"

    @property
    def response_received(self) -> bool:
        """A 59H item came back, whatever it held."""
        return self.status.received

    @property
    def echoed(self) -> bool:
        """What came back is our own token (``status`` is ``echoed``)."""
        return self.status is ResponseStatus.ECHOED

    @property
    def verified(self) -> bool:
        """The response was checked cryptographically (``status`` is ``verified``)."""
        return self.status is ResponseStatus.VERIFIED

    def summary(self) -> str:
        """One line for logs and the command line: peer, type, principal, response, decision.

        ``response=`` is the status word; ``response_length=`` follows when the response has
        content (present-unverified, echoed, verified).
        """
        principal = self.principal or "-"
        response = self.status.value
        if self.response_length:
            response += f" response_length={self.response_length}"
        return (
            f"peer={self.peer} identity={self.type_label} principal={principal!r} "
            f"response={response} decision={self.decision.value}"
        )
