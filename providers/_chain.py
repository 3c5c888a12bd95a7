"""Try providers in order; only "unavailable" moves on, never a broken credential."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from providers._base import IdentityExchange, IdentityProvider, Target
from providers._errors import CredentialUnavailable, NoCredentials
from providers._recipe import ProviderRecipe, recipe_of
from providers._safe_errors import total_repr

log = logging.getLogger("providers.chain")


class ProviderChain:
    """The first provider that has a credential wins.

    ``CredentialUnavailable`` from a provider moves on to the next; any other error stops the chain,
    so a broken credential never silently becomes a different identity. When every provider is
    unavailable, :class:`NoCredentials` lists each one and why.
    """

    def __init__(self, providers: Iterable[IdentityProvider]) -> None:
        self.providers = tuple(providers)
        if not self.providers:
            raise ValueError("ProviderChain needs at least one provider")

    def negotiate(self, target: Target) -> IdentityExchange:
        attempts: list[tuple[str, str]] = []
        for provider in self.providers:
            try:
                exchange = provider.negotiate(target)
            except CredentialUnavailable as exc:
                attempts.append((repr(provider), str(exc)))
                continue
            log.info(
                "identity for %s from %r (%s, principal %r)",
                target,
                provider,
                exchange.request.identity_type.label,
                exchange.request.principal,
            )
            return exchange
        raise NoCredentials(attempts)

    def recipe(self) -> ProviderRecipe:
        """Every member's recipe: a chain is rebuilt when each of its providers is."""
        return ProviderRecipe.of(self, providers=tuple(recipe_of(p) for p in self.providers))

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"ProviderChain([{', '.join(repr(p) for p in self.providers)}])"
        )
