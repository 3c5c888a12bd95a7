"""What a configuration file holds, as frozen dataclasses, and the keys each table accepts.

Field names are the TOML keys and the keyword arguments of the SDK's constructors. Optional keys
of peers, defaults and policies are ``None`` when the file does not set them (their effective
value comes from the precedence table in :mod:`client_sdk._config.settings`); the keys of an
identity carry the provider constructor's own defaults, and ``from_file`` says which the file set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, get_args

from client_sdk._config import values as v
from client_sdk._peer import Peer
from client_sdk._policy import MissingResponse
from client_sdk._timeouts import Timeouts
from client_sdk._tls import TlsConfig
from providers import IdentityType
from providers.kerberos import MutualAuth, TokenFormat
from providers.token_endpoint import DEFAULT_TIMEOUT, TokenEndpointAuth

# A table's keys: a check for a value, or the schema of a sub-table.
Schema = Mapping[str, "v.Check | Schema"]

MISSING_RESPONSES = tuple(rule.value for rule in MissingResponse)
TIMEOUT_KEYS: Schema = {f.name: v.seconds for f in dataclasses.fields(Timeouts)}
TLS_KEYS: Schema = {f.name: v.text for f in dataclasses.fields(TlsConfig)}
DEFAULTS_KEYS: Schema = {"calling_ae_title": v.ae_title, "policy": v.text, "timeouts": TIMEOUT_KEYS}
PEER_KEYS: Schema = {
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
    """``[peers.NAME]``: a PACS, and the identity and policy to use with it."""

    name: str
    host: str
    port: int
    ae_title: str
    identity: str | None = None
    policy: str | None = None
    calling_ae_title: str | None = None
    timeouts: Mapping[str, float] = field(default_factory=dict)
    tls: TlsConfig | None = None

    def to_peer(self, tls: TlsConfig | None) -> Peer:
        return Peer(self.host, self.port, self.ae_title, tls=tls)


@dataclass(frozen=True)
class PolicyConfig:
    """``[policies.NAME]``: the arguments of :class:`client_sdk.Policy`, by label."""

    name: str
    missing_response: str | None = None
    allow_insecure_transport: bool | None = None
    echo_is_missing: bool | None = None
    per_type: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UsernameIdentity:
    """``type = "username"``: :class:`providers.UsernameProvider`."""

    type_name: ClassVar[str] = "username"
    name: str
    username: str
    positive_response: bool = False
    from_file: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class KeyringPasswordIdentity:
    """``type = "keyring-password"``: :class:`providers.KeyringPasswordProvider`."""

    type_name: ClassVar[str] = "keyring-password"
    name: str
    service: str
    username: str
    positive_response: bool = False
    from_file: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class TokenFileIdentity:
    """What the identities read from a file an agent rotates have in common (a JWT, a SAML
    assertion): the path (relative to the configuration file), the audience to check before
    sending, the clock leeway."""

    name: str
    path: str
    audience: str | None = None
    leeway: float = 30
    positive_response: bool = False
    from_file: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class JwtFileIdentity(TokenFileIdentity):
    """``type = "jwt-file"``: :class:`providers.JwtFileProvider`."""

    type_name: ClassVar[str] = "jwt-file"


@dataclass(frozen=True)
class KerberosIdentity:
    """``type = "kerberos"``: :class:`providers.KerberosProvider`."""

    type_name: ClassVar[str] = "kerberos"
    name: str
    service: str = "dicom"
    hostname: str | None = None
    principal: str | None = None
    ccache: str | None = None
    keytab: str | None = None
    mutual_auth: MutualAuth = "required"
    token_format: TokenFormat = "gssapi"
    positive_response: bool = True
    from_file: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class SamlFileIdentity(TokenFileIdentity):
    """``type = "saml-file"``: :class:`providers.SamlFileProvider`."""

    type_name: ClassVar[str] = "saml-file"


@dataclass(frozen=True)
class TokenEndpointIdentity:
    """``type = "token-endpoint"``: :class:`providers.TokenEndpointProvider`. The client secret
    stays in the keyring: ``client_secret_keyring = ["SERVICE", "USER"]`` says where."""

    type_name: ClassVar[str] = "token-endpoint"
    name: str
    token_url: str
    client_id: str
    client_secret_keyring: tuple[str, str] | None = None
    scope: str | None = None
    audience: str | None = None
    auth: TokenEndpointAuth = "client-secret"
    ca_file: str | None = None
    kerberos_hostname: str | None = None
    positive_response: bool = False
    timeout: float = DEFAULT_TIMEOUT
    proxy: str | None = None  # http://HOST:PORT, for an https:// token_url only
    from_file: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class ChainIdentity:
    """``type = "chain"``: :class:`providers.ProviderChain` of other identities, in order."""

    type_name: ClassVar[str] = "chain"
    name: str
    identities: tuple[str, ...]
    from_file: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


IdentityConfig = (
    UsernameIdentity
    | KeyringPasswordIdentity
    | JwtFileIdentity
    | KerberosIdentity
    | SamlFileIdentity
    | TokenEndpointIdentity
    | ChainIdentity
)
IDENTITY_TYPES: Mapping[str, type[IdentityConfig]] = {
    cls.type_name: cls
    for cls in (
        UsernameIdentity,
        KeyringPasswordIdentity,
        JwtFileIdentity,
        KerberosIdentity,
        SamlFileIdentity,
        TokenEndpointIdentity,
        ChainIdentity,
    )
}
IDENTITY_KEY_CHECKS: Mapping[str, v.Check] = {
    "username": v.username,
    "service": v.text,
    "path": v.text,
    "audience": v.text,
    "leeway": v.leeway,
    "hostname": v.text,
    "principal": v.text,
    "ccache": v.text,
    "keytab": v.text,
    "mutual_auth": v.one_of(*get_args(MutualAuth)),
    "token_format": v.one_of(*get_args(TokenFormat)),
    "positive_response": v.flag,
    "identities": v.names,
    "token_url": v.text,
    "client_id": v.text,
    "client_secret_keyring": v.keyring_entry,
    "scope": v.text,
    "auth": v.one_of(*get_args(TokenEndpointAuth)),
    "ca_file": v.text,
    "kerberos_hostname": v.text,
    "timeout": v.seconds,
    "proxy": v.text,
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
