"""A peer's effective settings, shown with their sources (``dicom-identity config show``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from client_sdk._config.schema import ChainIdentity, PeerConfig, identity_keys
from client_sdk._config.settings import SETTINGS, SOURCE_ARGUMENT, SOURCE_DEFAULT, Resolved, Setting
from client_sdk._tls import TlsConfig

if TYPE_CHECKING:
    from client_sdk._config.model import Config

_PEER_KEYS = ("host", "port", "ae_title")
_TLS_KEYS = ("ca_file", "cert_file", "key_file", "server_hostname")


def shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, tuple):
        return ", ".join(shown(item) for item in value)
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, os.PathLike):
        return str(os.fspath(value))
    return repr(value)


def effective_settings(
    config: Config, peer: PeerConfig, resolved: Mapping[str, Resolved]
) -> list[Setting]:
    """The file, the peer's address, then each row of the precedence table, in order."""
    settings = [Setting("config_file", shown(config.path), config.path_source)]
    web_keys = ("url", "proxy") if peer.proxy else ("url",)
    for key in _PEER_KEYS if peer.url is None else web_keys:  # a DICOMweb peer: its url
        source = config.file_source(("peers", peer.name, key))
        settings.append(Setting(key, shown(getattr(peer, key)), source))
    for row in SETTINGS:
        found = resolved[row.key]
        if row.key == "tls":
            settings += _tls(found)
        elif row.key == "identity":
            settings += _identity(config, found)
        else:
            settings.append(Setting(row.key, shown(found.value), found.source))
        if row.key == "policy.missing_response":  # the per-type rules apply whatever its source
            settings += _per_type(config, resolved["policy"].value)
    return settings


def _tls(found: Resolved) -> list[Setting]:
    tls = found.value
    if not isinstance(tls, TlsConfig):
        return [Setting("tls", "off", found.source)]
    settings = [Setting("tls", "on", found.source)]
    for key in _TLS_KEYS:
        value = getattr(tls, key)
        if value is not None:
            source = found.source if found.source == SOURCE_ARGUMENT else f"{found.source}.{key}"
            settings.append(Setting(f"tls.{key}", shown(str(value)), source))
    return settings


def _identity(config: Config, found: Resolved) -> list[Setting]:
    if found.source == SOURCE_ARGUMENT:
        return [Setting("identity", repr(found.value), found.source)]
    settings = [Setting("identity", shown(found.value), found.source)]
    if found.value is not None:
        settings += _identity_keys(config, found.value, "identity")
    return settings


def _identity_keys(config: Config, name: str, prefix: str) -> list[Setting]:
    identity = config.identities[name]
    table = ("identities", name)
    settings = [Setting(f"{prefix}.type", identity.type_name, config.file_source((*table, "type")))]
    for key in identity_keys(type(identity)):
        source = config.file_source((*table, key)) if key in identity.from_file else SOURCE_DEFAULT
        settings.append(Setting(f"{prefix}.{key}", shown(getattr(identity, key)), source))
    if isinstance(identity, ChainIdentity):
        for member in identity.identities:
            settings += _identity_keys(config, member, f"{prefix}.{member}")
    return settings


def _per_type(config: Config, policy: str | None) -> list[Setting]:
    if policy is None:
        return []
    return [
        Setting(
            f"policy.per_type.{label}",
            rule,
            config.file_source(("policies", policy, "per_type", label)),
        )
        for label, rule in config.policies[policy].per_type.items()
    ]
