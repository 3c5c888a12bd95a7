"""What happened to the identity of one association."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from providers import IdentityType, ResponseStatus

__all__ = ["Decision", "IdentityOutcome"]


class Decision(enum.Enum):
    """What the client did after the A-ASSOCIATE-AC."""

    PENDING = "pending"  # not decided yet (what a policy callable sees)
    NO_IDENTITY = "no-identity"  # no identity was sent
    NOT_REQUESTED = "not-requested"  # no positive response was asked for
    CONFIRMED = "confirmed"  # the requested response came back (verified or not)
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
    response_received: bool
    response_length: int | None
    status: ResponseStatus | None  # None when no identity was sent
    echoed: bool
    decision: Decision = Decision.PENDING
    detail: str = ""

    @property
    def type_label(self) -> str:
        return self.identity_type.label if self.identity_type is not None else "none"

    def summary(self) -> str:
        """One line for logs and the demo: peer, type, principal, response, decision."""
        if self.response_received:
            response = f"{self.response_length}-byte response"
            if self.echoed:
                response += " (echo of our own token)"
            if self.status is ResponseStatus.VERIFIED:
                response += " (verified)"
        elif self.response_requested:
            response = "no response"
        else:
            response = "no response requested"
        principal = self.principal or "-"
        return (
            f"peer={self.peer} identity={self.type_label} principal={principal!r} "
            f"response={response!r} decision={self.decision.value}"
        )
