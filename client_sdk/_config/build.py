"""SDK objects from a configuration: providers, policy, timeouts, client.

Nothing here reads a credential: providers fetch theirs at each association.
"""

from __future__ import annotations

from collections.abc import Mapping

from client_sdk._client_settings import ClientSettings
from client_sdk._config.audit import build_audit
from client_sdk._config.schema import IdentityConfig, PolicyConfig
from client_sdk._config.settings import SOURCE_ARGUMENT, Resolved
from client_sdk._identity_types.registry import entry_of
from client_sdk._peer import Peer
from client_sdk._policy import MissingResponse, Policy
from client_sdk._timeouts import Timeouts
from providers import IdentityProvider, IdentityType

IDENTITY_TYPE_BY_LABEL = {t.label: t for t in IdentityType}


def build_identity(name: str, identities: Mapping[str, IdentityConfig]) -> IdentityProvider:
    """The provider of identity ``name``, by its type's registry entry (a chain builds its
    members, in order)."""
    identity = identities[name]
    return entry_of(identity).build(identity, lambda member: build_identity(member, identities))


def build_policy(resolved: Mapping[str, Resolved], policies: Mapping[str, PolicyConfig]) -> Policy:
    name = resolved["policy"].value
    per_type = policies[name].per_type if name is not None else {}
    return Policy(
        missing_response=MissingResponse(resolved["policy.missing_response"].value),
        per_type={
            IDENTITY_TYPE_BY_LABEL[label]: MissingResponse(rule) for label, rule in per_type.items()
        },
        allow_insecure_transport=resolved["policy.allow_insecure_transport"].value,
        echo_is_missing=resolved["policy.echo_is_missing"].value,
    )


def build_timeouts(resolved: Mapping[str, Resolved]) -> Timeouts:
    return Timeouts(
        connect=resolved["timeouts.connect"].value,
        acse=resolved["timeouts.acse"].value,
        dimse=resolved["timeouts.dimse"].value,
        network=resolved["timeouts.network"].value,
    )


def build_settings(
    peer: Peer,
    resolved: Mapping[str, Resolved],
    identities: Mapping[str, IdentityConfig],
    policies: Mapping[str, PolicyConfig],
) -> ClientSettings:
    identity = resolved["identity"]
    if identity.source == SOURCE_ARGUMENT or identity.value is None:
        provider = identity.value
    else:
        provider = build_identity(identity.value, identities)
    return ClientSettings(
        peer,
        identity=provider,
        policy=build_policy(resolved, policies),
        calling_ae_title=resolved["calling_ae_title"].value,
        timeouts=build_timeouts(resolved),
        audit=build_audit(resolved),
        audit_required=resolved["audit.required"].value,
    )
