"""The module paths of 0.4 keep working for one minor version (until 0.6), with a warning.

``MOVED`` is the one table: each module path that 0.4.1 shipped, the modules that hold its names
now, and the import to write instead. :func:`install` puts a finder first on ``sys.meta_path``
that answers for exactly those paths: importing one gives a module that looks each name up in
its new homes (so a class imported either way is the same class), after one
``DeprecationWarning`` per path and process that names the import to use. An old package
(``client_sdk.config``) also finds its old submodules. Every other import passes through
untouched. The machinery is ``providers._module_aliases``, shared with ``providers._deprecated``.
"""

from __future__ import annotations

from providers._module_aliases import ModuleAliases

_ROOT = "import what you use from client_sdk (from client_sdk import NAME)"
_TESTING = "import what you use from client_sdk.testing (from client_sdk.testing import NAME)"
_INTERNAL = "it is internal now: use what client_sdk exports (docs/api.md)"
_CLI = "run the dicom-identity command (its entry point is client_sdk._cli:main)"

# old module path: (the modules that hold its names now, first match wins; what to do instead)
MOVED: dict[str, tuple[tuple[str, ...], str]] = {
    "client_sdk.association": (
        ("client_sdk._association.flow", "client_sdk._association.contexts"),
        _INTERNAL,
    ),
    "client_sdk.audit": (
        (
            "client_sdk._audit",
            "client_sdk._audit.attempt",
            "client_sdk._audit.event",
            "client_sdk._audit.sinks",
            "client_sdk._audit.xml",
        ),
        _ROOT,
    ),
    "client_sdk.audit.attempt": (("client_sdk._audit.attempt",), _INTERNAL),
    "client_sdk.audit.event": (("client_sdk._audit.event",), _ROOT),
    "client_sdk.audit.sinks": (("client_sdk._audit.sinks",), _ROOT),
    "client_sdk.audit.xml": (("client_sdk._audit.xml",), _ROOT),
    "client_sdk.bulk": (
        ("client_sdk._operations.bulk", "client_sdk._operations.bulk_results"),
        _ROOT,
    ),
    "client_sdk.cli": (
        ("client_sdk._cli.app", "client_sdk._cli.exit_codes", "client_sdk._cli.parser"),
        _CLI,
    ),
    "client_sdk.cli_identity": (("client_sdk._cli.identity",), _CLI),
    "client_sdk.cli_report": (("client_sdk._cli.report",), _CLI),
    "client_sdk.cli_store": (("client_sdk._cli.store",), _CLI),
    "client_sdk.client": (("client_sdk._client", "client_sdk._peer", "client_sdk._tls"), _ROOT),
    "client_sdk.config": (
        (
            "client_sdk._config",
            "client_sdk._config.load",
            "client_sdk._config.model",
            "client_sdk._config.problems",
            "client_sdk._config.schema",
            "client_sdk._config.settings",
            "client_sdk._config.address",
            "client_sdk._config.audit",
        ),
        _ROOT,
    ),
    "client_sdk.config.address": (("client_sdk._config.address",), _INTERNAL),
    "client_sdk.config.audit": (("client_sdk._config.audit",), _INTERNAL),
    "client_sdk.config.build": (("client_sdk._config.build",), _INTERNAL),
    "client_sdk.config.effective": (("client_sdk._config.effective",), _INTERNAL),
    "client_sdk.config.load": (("client_sdk._config.load",), _ROOT),
    "client_sdk.config.model": (("client_sdk._config.model",), _ROOT),
    "client_sdk.config.parse": (("client_sdk._config.parse",), _INTERNAL),
    "client_sdk.config.problems": (("client_sdk._config.problems",), _ROOT),
    "client_sdk.config.references": (("client_sdk._config.references",), _INTERNAL),
    "client_sdk.config.schema": (("client_sdk._config.schema",), _INTERNAL),
    "client_sdk.config.secret_keys": (("client_sdk._config.secret_keys",), _INTERNAL),
    "client_sdk.config.settings": (("client_sdk._config.settings",), _ROOT),
    "client_sdk.config.values": (("client_sdk._config.values",), _INTERNAL),
    "client_sdk.connection": (
        (
            "client_sdk._timeouts",
            "client_sdk._association.trace",
            "client_sdk._pynetdicom.requestor",
        ),
        _ROOT,
    ),
    "client_sdk.errors": (("client_sdk._errors",), _ROOT),
    "client_sdk.outcome": (("client_sdk._outcome",), _ROOT),
    "client_sdk.pdu_check": (
        ("client_sdk._wire.pdu_check", "client_sdk._wire.items", "client_sdk._wire.constants"),
        _INTERNAL,
    ),
    "client_sdk.peer_faults": (
        ("client_sdk._association.peer_faults", "client_sdk._wire.pdu_check"),
        _INTERNAL,
    ),
    "client_sdk.policy": (("client_sdk._policy",), _ROOT),
    "client_sdk.reactor_race": (("client_sdk._pynetdicom.reactor_race",), _INTERNAL),
    "client_sdk.redaction": (
        (
            "client_sdk._pynetdicom.log_redaction",
            "client_sdk._association.wipe",
            "client_sdk._wire.items",
        ),
        _INTERNAL,
    ),
    "client_sdk.retrieve": (("client_sdk._operations.retrieve",), _INTERNAL),
    "client_sdk.session": (
        (
            "client_sdk._operations.session",
            "client_sdk._operations.retrieve",
            "client_sdk._operations.dicom_file_check",
        ),
        _ROOT,
    ),
    "client_sdk.sop": (("client_sdk._sop",), _ROOT),
    "client_sdk.testing.acse": (
        (
            "client_sdk.testing._response_modes",
            "client_sdk._pynetdicom.testing_acse",
            "client_sdk._wire.constants",
        ),
        _TESTING,
    ),
    "client_sdk.testing.contexts": (
        ("client_sdk.testing._contexts", "client_sdk._pynetdicom.testing_contexts"),
        _INTERNAL,
    ),
    "client_sdk.testing.datasets": (("client_sdk.testing._datasets",), _TESTING),
    "client_sdk.testing.handshake": (("client_sdk._pynetdicom.testing_handshake",), _INTERNAL),
    "client_sdk.testing.identity_check": (("client_sdk.testing._identity_check",), _INTERNAL),
    "client_sdk.testing.kerberos_acceptor": (
        ("client_sdk.testing._kerberos_acceptor",),
        _INTERNAL,
    ),
    "client_sdk.testing.kerberos_realm": (("client_sdk.testing._kerberos_realm",), _TESTING),
    "client_sdk.testing.matching": (("client_sdk.testing._matching",), _INTERNAL),
    "client_sdk.testing.pacs": (("client_sdk.testing._pacs",), _TESTING),
    "client_sdk.testing.records": (("client_sdk.testing._records",), _TESTING),
    "client_sdk.testing.shutdown": (("client_sdk._pynetdicom.testing_shutdown",), _INTERNAL),
    "client_sdk.testing.storage": (
        ("client_sdk.testing._storage", "client_sdk._operations.retrieve"),
        _INTERNAL,
    ),
    "client_sdk.tls": (("client_sdk._tls",), _ROOT),
    "client_sdk.tls_failures": (("client_sdk._association.tls_failures",), _INTERNAL),
}
# 0.4's names that moved out of every module listed for their old path
_RENAMED = {
    ("client_sdk.association", "_contexts"): "proposed_contexts",
    ("client_sdk.session", "_identifier"): "query_identifier",
    ("client_sdk.testing.acse", "CONFORMANT_REJECTION"): "CONFORMANT_IDENTITY_REJECTION",
    ("client_sdk.testing.acse", "STOCK_REJECTION"): "STOCK_IDENTITY_REJECTION",
}


_ALIASES = ModuleAliases("0.5", MOVED, renamed=_RENAMED)
message = _ALIASES.message
install = _ALIASES.install
