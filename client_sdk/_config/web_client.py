"""A :class:`DicomWebClient` for a configured DICOMweb peer (``[peers.NAME] url = ...``): the
same identity, policy, TLS, timeouts and audit settings, resolved with the same precedence
(argument, environment, file, default) as for a DIMSE peer. :meth:`Config.web_client` is its
public face; it imports this module when called (``client_sdk._web`` is not needed to load a
configuration)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from client_sdk._config.audit import build_audit
from client_sdk._config.build import build_identity, build_policy
from client_sdk._config.settings import SOURCE_ARGUMENT, Overrides
from client_sdk._web.client import DicomWebClient

if TYPE_CHECKING:
    from client_sdk._config.model import Config

__all__ = ["web_client"]


def web_client(config: Config, name: str, overrides: Overrides | None = None) -> DicomWebClient:
    """The client of DICOMweb peer ``name``. Its one deadline per request is the peer's network
    timeout (``timeouts.network``, ``--network-timeout``); its proxy the peer's ``proxy`` (none
    from the environment)."""
    peer = config.peers[name]
    assert peer.url is not None  # the caller checked that it is a DICOMweb peer
    resolved = config.resolved(name, overrides=overrides)
    identity = resolved["identity"]
    if identity.source == SOURCE_ARGUMENT or identity.value is None:
        provider = identity.value
    else:
        provider = build_identity(identity.value, config.identities)
    return DicomWebClient(
        peer.url,
        provider,
        policy=build_policy(resolved, config.policies),
        tls=resolved["tls"].value,
        timeout=resolved["timeouts.network"].value,
        proxy=peer.proxy,
        audit=build_audit(resolved),
        audit_required=resolved["audit.required"].value,
    )
