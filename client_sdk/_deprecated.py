"""The module paths of 0.4 keep working for one minor version (until 0.6), with a warning.

``MOVED`` is the one table: each module path that 0.4.1 shipped, with the module that holds its
content now and the import to write instead. :func:`install` puts a finder first on
``sys.meta_path`` that answers for exactly those names: importing one imports the new module and
hands back that same object (a class imported either way is the same class), with one
``DeprecationWarning`` per path and process that names the import to use. Every other import
passes through untouched.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

_PUBLIC = "import what you use from client_sdk (from client_sdk import NAME)"
_TESTING = "import what you use from client_sdk.testing (from client_sdk.testing import NAME)"
_INTERNAL = "it is internal: what docs/api.md lists is exported by client_sdk"

# old module path: (where its content lives now, what to import instead)
MOVED: dict[str, tuple[str, str]] = {
    "client_sdk.association": ("client_sdk._association.flow", _INTERNAL),
    "client_sdk.audit": ("client_sdk._audit", _PUBLIC),
    "client_sdk.audit.attempt": ("client_sdk._audit.attempt", _INTERNAL),
    "client_sdk.audit.event": ("client_sdk._audit.event", _PUBLIC),
    "client_sdk.audit.sinks": ("client_sdk._audit.sinks", _PUBLIC),
    "client_sdk.audit.xml": ("client_sdk._audit.xml", _PUBLIC),
    "client_sdk.bulk": ("client_sdk._operations.bulk", _PUBLIC),
    "client_sdk.cli": ("client_sdk._cli.app", "run the dicom-identity command instead"),
    "client_sdk.cli_identity": ("client_sdk._cli.identity", _INTERNAL),
    "client_sdk.cli_report": ("client_sdk._cli.report", _INTERNAL),
    "client_sdk.cli_store": ("client_sdk._cli.store", _INTERNAL),
    "client_sdk.client": ("client_sdk._client", _PUBLIC),
    "client_sdk.config": ("client_sdk._config", _PUBLIC),
    "client_sdk.config.address": ("client_sdk._config.address", _INTERNAL),
    "client_sdk.config.audit": ("client_sdk._config.audit", _INTERNAL),
    "client_sdk.config.build": ("client_sdk._config.build", _INTERNAL),
    "client_sdk.config.effective": ("client_sdk._config.effective", _INTERNAL),
    "client_sdk.config.load": ("client_sdk._config.load", _PUBLIC),
    "client_sdk.config.model": ("client_sdk._config.model", _PUBLIC),
    "client_sdk.config.parse": ("client_sdk._config.parse", _INTERNAL),
    "client_sdk.config.problems": ("client_sdk._config.problems", _PUBLIC),
    "client_sdk.config.references": ("client_sdk._config.references", _INTERNAL),
    "client_sdk.config.schema": ("client_sdk._config.schema", _INTERNAL),
    "client_sdk.config.secret_keys": ("client_sdk._config.secret_keys", _INTERNAL),
    "client_sdk.config.settings": ("client_sdk._config.settings", _PUBLIC),
    "client_sdk.config.values": ("client_sdk._config.values", _INTERNAL),
    "client_sdk.connection": ("client_sdk._pynetdicom.requestor", _PUBLIC),
    "client_sdk.errors": ("client_sdk._errors", _PUBLIC),
    "client_sdk.outcome": ("client_sdk._outcome", _PUBLIC),
    "client_sdk.pdu_check": ("client_sdk._wire.pdu_check", _INTERNAL),
    "client_sdk.peer_faults": ("client_sdk._association.peer_faults", _INTERNAL),
    "client_sdk.policy": ("client_sdk._policy", _PUBLIC),
    "client_sdk.reactor_race": ("client_sdk._pynetdicom.reactor_race", _INTERNAL),
    "client_sdk.redaction": ("client_sdk._pynetdicom.log_redaction", _INTERNAL),
    "client_sdk.retrieve": ("client_sdk._operations.retrieve", _INTERNAL),
    "client_sdk.session": ("client_sdk._operations.session", _PUBLIC),
    "client_sdk.sop": ("client_sdk._sop", _PUBLIC),
    "client_sdk.testing.acse": ("client_sdk._pynetdicom.testing_acse", _TESTING),
    "client_sdk.testing.contexts": ("client_sdk.testing._contexts", _INTERNAL),
    "client_sdk.testing.datasets": ("client_sdk.testing._datasets", _TESTING),
    "client_sdk.testing.handshake": ("client_sdk._pynetdicom.testing_handshake", _INTERNAL),
    "client_sdk.testing.identity_check": ("client_sdk.testing._identity_check", _INTERNAL),
    "client_sdk.testing.kerberos_acceptor": ("client_sdk.testing._kerberos_acceptor", _INTERNAL),
    "client_sdk.testing.kerberos_realm": ("client_sdk.testing._kerberos_realm", _TESTING),
    "client_sdk.testing.matching": ("client_sdk.testing._matching", _INTERNAL),
    "client_sdk.testing.pacs": ("client_sdk.testing._pacs", _TESTING),
    "client_sdk.testing.records": ("client_sdk.testing._records", _TESTING),
    "client_sdk.testing.shutdown": ("client_sdk._pynetdicom.testing_shutdown", _INTERNAL),
    "client_sdk.testing.storage": ("client_sdk.testing._storage", _INTERNAL),
    "client_sdk.tls": ("client_sdk._tls", _PUBLIC),
    "client_sdk.tls_failures": ("client_sdk._association.tls_failures", _INTERNAL),
}


def message(old: str) -> str:
    """The warning for an import of ``old``: what to import instead."""
    _, instead = MOVED[old]
    return f"{old} is deprecated since dicom-identity 0.5 and goes in 0.6: {instead}"


class _Alias(importlib.abc.Loader):
    """Loads an old path as the module it moved to (that very object)."""

    def __init__(self, old: str, new: str) -> None:
        self.old = old
        self.new = new
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        # stacklevel 2: the import machinery's own frames are skipped, so the warning points
        # at the line that imported the old path.
        warnings.warn(message(self.old), DeprecationWarning, stacklevel=2)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system set the alias's spec on the module: give the module its own back.
        module.__spec__ = self.spec


class _MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        moved = MOVED.get(fullname)
        if moved is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(fullname, moved[0]))


_FINDER = _MovedModules()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent): before the path finder, which
    could otherwise take a stale folder of an old package for a namespace package."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
