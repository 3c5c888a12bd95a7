"""The :class:`~providers.ProviderRecipe` of an :class:`~providers.OidcLoginProvider`.

A worker process (``store_many(processes=N)``) builds the provider again from the issuer, the
client and the keyring entry of the refresh token: it reads the token there, and rotates it
under the same lock file as every other process. Not for an interactive login, nor a prompt,
browser opener or clock of this process (none can be sent there).
"""

from __future__ import annotations

import time
import webbrowser
from typing import TYPE_CHECKING

from providers._oidc_prompt import print_prompt
from providers._recipe import KeyringBackendRecipe, ProviderRecipe, not_rebuildable

if TYPE_CHECKING:
    from providers._oidc_login import OidcLoginProvider


def oidc_login_recipe(provider: OidcLoginProvider, *, ca_file: str | None) -> ProviderRecipe:
    if provider.interactive:
        raise not_rebuildable(
            provider, "an interactive login cannot run in a worker process; log in first"
        )
    if provider.prompt is not print_prompt or provider.open_browser is not webbrowser.open:
        raise not_rebuildable(provider, "its prompt or browser opener belongs to this process")
    if provider._clock is not time.time:
        raise not_rebuildable(provider, "its clock is a function of this process")
    lock_dir = provider._process_lock.directory
    return ProviderRecipe.of(
        provider,
        issuer=provider.issuer,
        client_id=provider.client_id,
        scopes=provider.scopes,
        audience=provider.audience,
        resource=provider.resource,
        flow=provider.flow,
        login_command=provider.login_command,
        keyring_entry=provider._store.entry,
        keyring_backend=KeyringBackendRecipe.of(provider._store._backend),
        lock_dir=None if lock_dir is None else str(lock_dir),
        poll_interval=provider.poll_interval,
        login_timeout=provider.login_timeout,
        timeout=provider.timeout,
        ca_file=ca_file,
        positive_response=provider.positive_response,
        advisory_window=provider._cache.advisory_window,
        mandatory_window=provider._cache.mandatory_window,
    )
