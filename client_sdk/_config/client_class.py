"""How a configuration makes a :class:`~client_sdk.Client` without importing it.

``Client.from_config`` reads configurations (``client_sdk._client`` imports this package), so
this package cannot import the client back without an import cycle. ``client_sdk._client``
registers its class here when it is imported, which ``import client_sdk`` does before any
configuration can be loaded; everything else a client is made of is a
:class:`~client_sdk._client_settings.ClientSettings`, built here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from client_sdk._client_settings import ClientSettings

if TYPE_CHECKING:
    from client_sdk._client import Client

_registered: list[Callable[[ClientSettings], Client]] = []


def register_client_class(make: Callable[[ClientSettings], Client]) -> None:
    """Called once, by ``client_sdk._client``, with ``Client.from_settings``."""
    _registered[:] = [make]


def make_client(settings: ClientSettings) -> Client:
    if not _registered:  # only if client_sdk._config were imported without client_sdk
        raise RuntimeError("client_sdk._client registers the Client class: import client_sdk")
    return _registered[0](settings)
