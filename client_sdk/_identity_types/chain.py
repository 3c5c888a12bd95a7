"""``type = "chain"``: other configured identities, tried in order (no flag makes one)."""

from __future__ import annotations

from dataclasses import dataclass

from client_sdk._config import values as v
from client_sdk._identity_types.entry import BuildMember, IdentityConfig, IdentityTypeEntry
from providers import IdentityProvider, ProviderChain


@dataclass(frozen=True)
class ChainIdentity(IdentityConfig):
    """``type = "chain"``: :class:`providers.ProviderChain` of other identities, in order."""

    type_name = "chain"
    identities: tuple[str, ...]


def _build(identity: ChainIdentity, member: BuildMember) -> IdentityProvider:
    return ProviderChain(member(name) for name in identity.identities)


CHAIN = IdentityTypeEntry(
    config=ChainIdentity,
    provider=lambda: ProviderChain,
    key_checks={"identities": v.names},
    build=_build,
)
