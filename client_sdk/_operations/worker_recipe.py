"""What a worker process of ``store_many(processes=N)`` is given to build its client: no secret.

The parent's :class:`~client_sdk._client_settings.ClientSettings` cannot cross as they are: the
provider may hold its secret (and a keyring backend, an HTTP session), the TLS settings hold their
cached SSL context, the audit sink a lock and an open file. A :class:`WorkerRecipe` holds the
peer's address and TLS file names, the provider's :class:`~providers.ProviderRecipe`, the policy,
the timeouts and the store's settings; the worker builds its own provider and fetches its secret
there. Its audit events go back to the parent's sink (``process_worker``).
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass

from client_sdk._audit.sinks import AuditSink
from client_sdk._client_settings import ClientSettings
from client_sdk._errors import ConfigError
from client_sdk._peer import Peer
from client_sdk._policy import Policy
from client_sdk._timeouts import Timeouts
from client_sdk._tls import TlsConfig
from providers._recipe import ProviderRecipe, recipe_of

# The loggers whose levels a worker copies from the parent: their records come back to it.
FORWARDED_LOGGERS = ("", "client_sdk", "providers", "pynetdicom", "dicom_identity")


@dataclass(frozen=True)
class TlsFiles:
    """A :class:`~client_sdk.TlsConfig` by its fields (its SSL context is built in the worker)."""

    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    server_hostname: str | None

    @classmethod
    def of(cls, tls: TlsConfig) -> TlsFiles:
        def name(path: str | os.PathLike[str] | None) -> str | None:
            return None if path is None else os.fspath(path)

        return cls(name(tls.ca_file), name(tls.cert_file), name(tls.key_file), tls.server_hostname)

    def config(self) -> TlsConfig:
        return TlsConfig(self.ca_file, self.cert_file, self.key_file, self.server_hostname)


@dataclass(frozen=True)
class WorkerRecipe:
    """Everything a worker process needs, none of it secret (see the module docstring)."""

    host: str
    port: int
    ae_title: str
    tls: TlsFiles | None
    identity: ProviderRecipe | None
    policy: Policy
    calling_ae_title: str
    timeouts: Timeouts
    audited: bool  # the parent has an audit sink: the worker's events go to it
    audit_required: bool
    workers: int  # associations per process
    sop_classes: tuple[str, ...]
    transfer_syntaxes: tuple[str, ...]
    log_levels: tuple[tuple[str, int], ...]

    @classmethod
    def of(
        cls,
        settings: ClientSettings,
        *,
        workers: int,
        sop_classes: tuple[str, ...],
        transfer_syntaxes: tuple[str, ...],
    ) -> WorkerRecipe:
        """The recipe of ``settings``. Raises :class:`~providers.ProviderNotRebuildable` for a
        provider that cannot be rebuilt, :class:`ConfigError` for a policy that cannot cross."""
        identity = settings.identity
        recipe = cls(
            host=settings.peer.host,
            port=settings.peer.port,
            ae_title=settings.peer.ae_title,
            tls=None if settings.peer.tls is None else TlsFiles.of(settings.peer.tls),
            identity=None if identity is None else recipe_of(identity),
            policy=settings.policy,
            calling_ae_title=settings.calling_ae_title,
            timeouts=settings.timeouts,
            audited=settings.audit is not None,
            audit_required=settings.audit_required,
            workers=workers,
            sop_classes=sop_classes,
            transfer_syntaxes=transfer_syntaxes,
            log_levels=tuple(
                (name, logging.getLogger(name).getEffectiveLevel()) for name in FORWARDED_LOGGERS
            ),
        )
        try:
            pickle.dumps(recipe.policy)
        except Exception as exc:
            raise ConfigError(
                f"the policy {settings.policy!r} cannot be sent to a worker process ({exc}): "
                "its rules must be MissingResponse values or functions defined at module level. "
                "Or store with threads (processes=1)"
            ) from None
        return recipe

    def settings(self, audit: AuditSink | None) -> ClientSettings:
        """The client settings of the worker: its own provider, built from the recipe here."""
        tls = None if self.tls is None else self.tls.config()
        return ClientSettings(
            Peer(self.host, self.port, self.ae_title, tls),
            identity=None if self.identity is None else self.identity.build(),
            policy=self.policy,
            calling_ae_title=self.calling_ae_title,
            timeouts=self.timeouts,
            audit=audit if self.audited else None,
            audit_required=self.audit_required,
        )
