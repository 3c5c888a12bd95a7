"""What the client does when the peer does not confirm the identity, and where it may send one."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from client_sdk._errors import InsecureTransport
from client_sdk._outcome import Decision, IdentityOutcome
from providers import IdentityType, ResponseStatus, Target
from providers._base import is_loopback_address

_REPLAY = "anyone on the path could capture and replay it."
_TRANSPORT_FIX = (
    "Configure TLS for the peer (Peer(..., tls=TlsConfig(ca_file=...))), or set "
    "Policy(allow_insecure_transport=True) if the network is otherwise protected"
)


class MissingResponse(enum.Enum):
    """What to do when a requested positive response did not come back."""

    ABORT = "abort"  # send A-ABORT, raise ServerResponseMissing
    RELEASE = "release"  # release gracefully, then raise ServerResponseMissing
    WARN = "warn"  # log a WARNING and proceed
    PROCEED = "proceed"  # proceed silently

    @property
    def decision(self) -> Decision:
        return Decision(self.value)


Rule = MissingResponse | Callable[[IdentityOutcome], MissingResponse]


@dataclass(frozen=True)
class Policy:
    """Fail-closed by default: a requested response that is missing aborts the association.

    ``per_type`` overrides the rule by identity type, because many conformant servers never answer
    types 1 and 2. A rule may be a callable that takes the :class:`IdentityOutcome` and returns a
    :class:`MissingResponse`. ``echo_is_missing``: a "response" that is our own token sent back
    (dcm4che's default acceptor) proves nothing and counts as missing.
    """

    missing_response: Rule = MissingResponse.ABORT
    per_type: Mapping[IdentityType, Rule] = field(default_factory=dict)
    allow_insecure_transport: bool = False
    echo_is_missing: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_type", dict(self.per_type or {}))
        for rule in (self.missing_response, *self.per_type.values()):
            if not isinstance(rule, MissingResponse) and not callable(rule):
                raise TypeError(f"a policy rule must be a MissingResponse or a callable: {rule!r}")

    def needs_loopback(self, target: Target, identity_type: IdentityType) -> bool:
        """A bearer credential over plain TCP may only go to loopback (unless allowed)."""
        return identity_type.is_bearer and not target.tls and not self.allow_insecure_transport

    def check_transport(self, target: Target, identity_type: IdentityType) -> None:
        """Refuse a bearer credential over plain TCP to a host that cannot be loopback, before
        anything is fetched. A name may resolve anywhere: for a ``localhost`` name the connected
        address decides (:meth:`check_connected`, before the A-ASSOCIATE-RQ is sent)."""
        if self.needs_loopback(target, identity_type) and not target.may_be_loopback:
            raise InsecureTransport(
                f"refusing to send a {identity_type.label} identity to {target} over plain TCP: "
                f"{_REPLAY} {_TRANSPORT_FIX}"
            )

    def check_connected(self, target: Target, identity_type: IdentityType, address: str) -> None:
        """Refuse when the address actually connected to (``getpeername()``) is not loopback."""
        if self.needs_loopback(target, identity_type) and not is_loopback_address(address):
            raise InsecureTransport(
                f"refusing to send a {identity_type.label} identity to {target} over plain TCP: "
                f"{target.host!r} resolved to {address}, which is not a loopback address (a "
                "name proves nothing: the resolver may ask DNS, as it does for 'localhost.'); "
                "the connection was closed before the A-ASSOCIATE-RQ, so nothing was sent; "
                f"over that path {_REPLAY} {_TRANSPORT_FIX}"
            )

    def decide(self, outcome: IdentityOutcome) -> Decision:
        """The decision for an accepted association, given what came back."""
        if outcome.identity_type is None:
            return Decision.NO_IDENTITY
        if not outcome.response_requested:
            return Decision.NOT_REQUESTED
        if not self.counts_as_missing(outcome):
            return Decision.CONFIRMED
        rule = self.per_type.get(outcome.identity_type, self.missing_response)
        if isinstance(rule, MissingResponse):
            return rule.decision
        choice = rule(dataclasses.replace(outcome, decision=Decision.PENDING))
        if not isinstance(choice, MissingResponse):
            raise TypeError(
                f"the policy callable {rule!r} returned {choice!r}, not a MissingResponse"
            )
        return choice.decision

    def counts_as_missing(self, outcome: IdentityOutcome) -> bool:
        """A requested response that does not count: none came, or only our own token.

        An empty response counts: PS3.7 D.3.3.7.2 makes it the answer for types 1 and 2, and
        for the other types the provider checks the content (Kerberos verifies its AP-REP).
        """
        if outcome.status is ResponseStatus.MISSING:
            return True
        return outcome.status is ResponseStatus.ECHOED and self.echo_is_missing
