"""The loaded configuration, and what it makes: clients, effective settings, keyring targets."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from client_sdk._client_settings import ClientSettings
from client_sdk._config.address import peer_from_address
from client_sdk._config.audit import AuditConfig
from client_sdk._config.build import build_settings
from client_sdk._config.client_class import make_client
from client_sdk._config.effective import effective_settings
from client_sdk._config.problems import InvalidConfig
from client_sdk._config.schema import (
    ChainIdentity,
    DefaultsConfig,
    IdentityConfig,
    PeerConfig,
    PolicyConfig,
)
from client_sdk._config.settings import SOURCE_DEFAULT, Overrides, Resolved, Setting, resolve
from client_sdk._config.values import dotted, show
from client_sdk._errors import ConfigError
from client_sdk._identity_types.registry import entry_of
from providers._misplaced_secret import masked

if TYPE_CHECKING:
    from client_sdk._client import Client
    from client_sdk._web.client import DicomWebClient


@dataclass(frozen=True)
class KeyringEntry:
    """Where an identity reads its secret from the keyring; ``what`` names the secret ("password"
    or "client secret") and ``identity`` the configured identity, for prompts and messages."""

    service: str
    username: str
    what: str
    identity: str


@dataclass(frozen=True)
class Config:
    """A configuration, as :func:`load_config` read it; empty when there is no file.

    ``path`` is the file read (None: none); ``path_source`` how it was chosen ("argument",
    "environment: DICOM_IDENTITY_CONFIG" or "default"); ``environment`` the variables of the
    precedence table that were set when it was loaded.
    """

    path: Path | None = None
    path_source: str = SOURCE_DEFAULT
    defaults: DefaultsConfig = field(default_factory=DefaultsConfig)
    peers: Mapping[str, PeerConfig] = field(default_factory=dict)
    identities: Mapping[str, IdentityConfig] = field(default_factory=dict)
    policies: Mapping[str, PolicyConfig] = field(default_factory=dict)
    audit: AuditConfig = field(default_factory=AuditConfig)
    environment: Mapping[str, str] = field(default_factory=dict)

    def client(self, peer: str, *, overrides: Overrides | None = None) -> Client:
        """A client for the configured ``peer``. Its providers read nothing until it associates."""
        return make_client(self.client_settings(peer, overrides=overrides))

    def web_client(self, peer: str, *, overrides: Overrides | None = None) -> DicomWebClient:
        """A :class:`~client_sdk.DicomWebClient` for the configured DICOMweb ``peer`` (``url =``),
        with its identity, policy, TLS, network timeout, proxy and audit settings."""
        if self._peer_config(peer).url is None:
            raise ConfigError(
                f"peer {peer!r} is a DIMSE application entity (host, port, ae_title), not a "
                f"DICOMweb peer (url = ...): use Config.client({peer!r})"
            )
        from client_sdk._config.web_client import web_client  # deferred: loads requests

        return web_client(self, peer, overrides)

    def client_settings(self, peer: str, *, overrides: Overrides | None = None) -> ClientSettings:
        """What :meth:`client` makes a client of."""
        config = self._peer_config(peer)
        resolved = self._resolve(peer, overrides)
        return build_settings(
            config.to_peer(resolved["tls"].value), resolved, self.identities, self.policies
        )

    def client_for_address(
        self, address: str, *, ae_title: str, overrides: Overrides | None = None
    ) -> Client:
        """A client for a peer not in the file (``HOST:PORT``): the defaults apply, and the
        identity and TLS come from ``overrides`` only."""
        resolved = self._resolve(None, overrides)
        peer = peer_from_address(address, ae_title=ae_title, tls=resolved["tls"].value)
        return make_client(build_settings(peer, resolved, self.identities, self.policies))

    def effective(self, peer: str, *, overrides: Overrides | None = None) -> list[Setting]:
        """Every effective setting of ``peer`` and where it comes from."""
        config = self._peer_config(peer)
        return effective_settings(self, config, self._resolve(peer, overrides))

    def keyring_target(self, peer: str) -> tuple[str, str]:
        """(service, username) of the keyring entry that ``peer``'s identity reads; see
        :meth:`keyring_entry`."""
        entry = self.keyring_entry(peer)
        return entry.service, entry.username

    def keyring_entry(self, peer: str) -> KeyringEntry:
        """The keyring entry that ``peer``'s identity reads (a chain: its first member that reads
        one), for ``dicom-identity keyring set PEER``: the password of a keyring-password
        identity, or the client secret of a token-endpoint identity with client_secret_keyring."""
        config = self._peer_config(peer)
        key = f"{self.where}: {dotted(('peers', peer, 'identity'))}"
        if config.identity is None:
            raise InvalidConfig(
                [f'{key}: the peer has no identity; give it one of type = "keyring-password"']
            )
        found = self._first_keyring_entry(config.identity, set())
        if found is None:
            kind = self.identities[config.identity].type_name
            raise InvalidConfig(
                [
                    f"{key}: the identity {show(config.identity)} ({kind}) reads no secret from "
                    'the keyring; only an identity of type = "keyring-password", or "token-'
                    'endpoint" with client_secret_keyring (or a chain holding one) does'
                ]
            )
        return found

    @property
    def where(self) -> str:
        """The file, for messages."""
        return str(self.path) if self.path is not None else "no configuration file"

    def file_source(self, parts: tuple[str, ...]) -> str:
        return f"file: {self.path}:{dotted(parts)}"

    def _peer_config(self, name: str) -> PeerConfig:
        if name in self.peers:
            return self.peers[name]
        known = ", ".join(sorted(self.peers))
        listed = f"configured peers: {known}" if known else "no peers are configured"
        # The name may be an address with a password typed in it (alice:pw@host:104): masked.
        shown = dotted(("peers", masked(name, address=True)))
        raise InvalidConfig([f"{self.where}: {shown}: no such peer; {listed}"])

    def resolved(self, peer: str, *, overrides: Overrides | None = None) -> dict[str, Resolved]:
        """Package-internal (client_sdk._config.web_client): every setting of ``peer`` resolved
        with its precedence (argument, environment, file, default), keyed by dotted name."""
        return self._resolve(peer, overrides)

    def _resolve(self, peer: str | None, overrides: Overrides | None) -> dict[str, Resolved]:
        return resolve(overrides or Overrides(), self.environment, self._file_value, peer)

    def _file_value(self, parts: tuple[str, ...]) -> Resolved | None:
        node: Any = self
        for part in parts:
            if isinstance(node, Mapping):
                node = node.get(part)
            elif dataclasses.is_dataclass(node) and part in _field_names(node):
                node = getattr(node, part)
            else:
                return None
            if node is None:
                return None
        return Resolved(node, self.file_source(parts))

    def _first_keyring_entry(self, name: str, seen: set[str]) -> KeyringEntry | None:
        identity = self.identities.get(name)
        if identity is None:
            return None
        secret_location = entry_of(identity).secret_location
        location = secret_location(identity) if secret_location is not None else None
        if location is not None:
            service, username, what = location
            return KeyringEntry(service, username, what, name)
        if isinstance(identity, ChainIdentity) and name not in seen:
            seen.add(name)
            for member in identity.identities:
                found = self._first_keyring_entry(member, seen)
                if found is not None:
                    return found
        return None


def _field_names(node: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(node)}
