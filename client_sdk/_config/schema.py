"""What a configuration file holds, as frozen dataclasses, and the keys each table accepts.

The identities' tables are declared by their types' entries in :mod:`client_sdk._identity_types`
(their dataclasses are re-exported here).

Field names are the TOML keys and the keyword arguments of the SDK's constructors. Optional keys
of peers, defaults and policies are ``None`` when the file does not set them (their effective
value comes from the precedence table in :mod:`client_sdk._config.settings`); the keys of an
identity carry the provider constructor's own defaults, and ``from_file`` says which the file set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from client_sdk._config import values as v
from client_sdk._errors import ConfigError
from client_sdk._identity_types.chain import ChainIdentity as ChainIdentity
from client_sdk._identity_types.entry import IdentityConfig as IdentityConfig
from client_sdk._identity_types.kerberos import KerberosIdentity as KerberosIdentity
from client_sdk._identity_types.keyring_password import (
    KeyringPasswordIdentity as KeyringPasswordIdentity,
)
from client_sdk._identity_types.registry import BY_TYPE_NAME
from client_sdk._identity_types.token_endpoint import TokenEndpointIdentity as TokenEndpointIdentity
from client_sdk._identity_types.token_files import JwtFileIdentity as JwtFileIdentity
from client_sdk._identity_types.token_files import SamlFileIdentity as SamlFileIdentity
from client_sdk._identity_types.token_files import TokenFileIdentity as TokenFileIdentity
from client_sdk._identity_types.username import UsernameIdentity as UsernameIdentity
from client_sdk._peer import Peer
from client_sdk._policy import MissingResponse
from client_sdk._timeouts import Timeouts
from client_sdk._tls import TlsConfig
from providers import IdentityType

# A table's keys: a check for a value, or the schema of a sub-table.
Schema = Mapping[str, "v.Check | Schema"]

MISSING_RESPONSES = tuple(rule.value for rule in MissingResponse)
TIMEOUT_KEYS: Schema = {f.name: v.seconds for f in dataclasses.fields(Timeouts)}
TLS_KEYS: Schema = {f.name: v.text for f in dataclasses.fields(TlsConfig)}
DEFAULTS_KEYS: Schema = {"calling_ae_title": v.ae_title, "policy": v.text, "timeouts": TIMEOUT_KEYS}
PEER_KEYS: Schema = {
    "url": v.text,  # a DICOMweb peer (issue 18): its root, instead of host, port and ae_title
    "proxy": v.text,  # a DICOMweb peer's proxy (none is taken from the environment)
    "host": v.host,
    "port": v.port,
    "ae_title": v.ae_title,
    "identity": v.text,
    "policy": v.text,
    "calling_ae_title": v.ae_title,
    "timeouts": TIMEOUT_KEYS,
    "tls": TLS_KEYS,
}
PEER_REQUIRED_KEYS = ("host", "port", "ae_title")
POLICY_KEYS: Schema = {
    "missing_response": v.one_of(*MISSING_RESPONSES),
    "allow_insecure_transport": v.flag,
    "echo_is_missing": v.flag,
    "per_type": {t.label: v.one_of(*MISSING_RESPONSES) for t in IdentityType},
}
# The top-level tables; "defaults" and "audit" are one table each, the others hold one per name.
TABLES = ("defaults", "peers", "identities", "policies", "audit")


@dataclass(frozen=True)
class DefaultsConfig:
    """``[defaults]``: what every peer gets unless it, the environment or an argument says else."""

    calling_ae_title: str | None = None
    policy: str | None = None
    timeouts: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PeerConfig:
    """``[peers.NAME]``: a PACS, and the identity and policy to use with it. A DICOMweb peer
    has ``url`` (its root) instead of ``host``, ``port`` and ``ae_title``, and may have a
    ``proxy``."""

    name: str
    host: str = ""
    port: int = 0
    ae_title: str = ""
    url: str | None = None
    proxy: str | None = None
    identity: str | None = None
    policy: str | None = None
    calling_ae_title: str | None = None
    timeouts: Mapping[str, float] = field(default_factory=dict)
    tls: TlsConfig | None = None

    def to_peer(self, tls: TlsConfig | None) -> Peer:
        if self.url is not None:
            raise ConfigError(
                f"peer {self.name!r} is a DICOMweb peer (url = {self.url!r}), not a DIMSE "
                f"application entity: use Config.web_client({self.name!r}), or a command that "
                "DICOMweb offers (echo, find, get, store)"
            )
        return Peer(self.host, self.port, self.ae_title, tls=tls)


@dataclass(frozen=True)
class PolicyConfig:
    """``[policies.NAME]``: the arguments of :class:`client_sdk.Policy`, by label."""

    name: str
    missing_response: str | None = None
    allow_insecure_transport: bool | None = None
    echo_is_missing: bool | None = None
    per_type: Mapping[str, str] = field(default_factory=dict)


IDENTITY_TYPES: Mapping[str, type[IdentityConfig]] = {
    name: entry.config for name, entry in BY_TYPE_NAME.items()
}
REQUIRED = object()  # marks an identity key without a default
_NOT_KEYS = ("name", "from_file")


def identity_keys(cls: type[IdentityConfig]) -> dict[str, Any]:
    """The file keys of an identity type (besides ``type``) and their defaults (or REQUIRED)."""
    return {
        f.name: REQUIRED if f.default is dataclasses.MISSING else f.default
        for f in dataclasses.fields(cls)
        if f.name not in _NOT_KEYS
    }
