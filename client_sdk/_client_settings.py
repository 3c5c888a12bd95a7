"""What a client is made of, as one value: built by the configuration, taken by the association
flow, so that neither needs the :class:`~client_sdk.Client` itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from client_sdk._audit.sinks import DEFAULT_AUDIT_SINK, AuditSink
from client_sdk._peer import DEFAULT_CALLING_AE_TITLE, Peer
from client_sdk._policy import Policy
from client_sdk._timeouts import Timeouts
from providers import IdentityProvider, Target


@dataclass(frozen=True)
class ClientSettings:
    """A peer, an identity, a policy, bounded timeouts and an audit sink (``Client``'s
    constructor arguments, checked by it)."""

    peer: Peer
    identity: IdentityProvider | None = None
    policy: Policy = field(default_factory=Policy)
    calling_ae_title: str = DEFAULT_CALLING_AE_TITLE
    timeouts: Timeouts = field(default_factory=Timeouts)
    audit: AuditSink | None = DEFAULT_AUDIT_SINK
    audit_required: bool = False

    @property
    def target(self) -> Target:
        return Target(
            host=self.peer.host,
            port=self.peer.port,
            called_ae_title=self.peer.ae_title,
            calling_ae_title=self.calling_ae_title,
            tls=self.peer.tls is not None,
        )
