"""dicom-identity client: associations that carry a DICOM user identity, under a policy.

Everything public is exported here, and listed in docs/api.md; every other module of
``client_sdk`` (a name with a leading underscore) is internal. ``client_sdk.testing`` is the
embedded PACS for tests. The identity providers are in the ``providers`` package.
"""

from __future__ import annotations

import logging

from client_sdk import _deprecated
from providers._lazy_exports import lazy_exports

# Not typing's: importing typing costs every start-up, --help included (issue 16); type
# checkers read this name as typing.TYPE_CHECKING.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from client_sdk._audit.event import AuditEvent, EventOutcome
    from client_sdk._audit.sinks import (
        AuditSink,
        AuditSinks,
        AuditWriteError,
        LoggingAuditSink,
        XmlFileAuditSink,
    )
    from client_sdk._audit.xml import AuditSource
    from client_sdk._client import Client
    from client_sdk._client_settings import ClientSettings
    from client_sdk._config.load import load_config
    from client_sdk._config.model import Config, KeyringEntry
    from client_sdk._config.problems import InvalidConfig
    from client_sdk._config.settings import Overrides, Setting
    from client_sdk._errors import (
        AssociationAborted,
        AssociationRejected,
        AuditUnavailable,
        AuthenticationRejected,
        ClientCertificateRejected,
        ClientCertificateRequired,
        ConfigError,
        DicomIdentityError,
        DimseFailure,
        HostnameMismatch,
        IdentityTooLarge,
        InsecureTransport,
        InvalidDicomFile,
        NotAuthorized,
        PeerProtocolError,
        PeerUnreachable,
        PlainToTlsPort,
        ResponseAdvice,
        ServerResponseMissing,
        TlsConfigError,
        TlsHandshakeFailed,
        TlsHandshakeTimeout,
        TlsToPlainPort,
        TlsVersionMismatch,
        UntrustedCertificate,
    )
    from client_sdk._operations.bulk_results import (
        AssociationUse,
        StoreManyReport,
        StoreOutcome,
        StoreProgress,
        StoreResult,
    )
    from client_sdk._operations.dicom_file_check import StoreInput
    from client_sdk._operations.query_keys import QueryKeyError, parse_query_keys
    from client_sdk._operations.retrieve import RetrieveResult
    from client_sdk._operations.session import Session
    from client_sdk._outcome import Decision, IdentityOutcome
    from client_sdk._peer import Peer
    from client_sdk._policy import MissingResponse, Policy, Rule
    from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE, VERIFICATION
    from client_sdk._timeouts import Timeouts
    from client_sdk._tls import TlsConfig
    from client_sdk._web.client import DicomWebClient
    from client_sdk._web.failures import HttpAuthenticationRejected
    from providers import IdentityError  # the root error's 0.4 name: DicomIdentityError

_deprecated.install()  # the 0.4 module paths still import, each with a DeprecationWarning
logging.getLogger(__name__).addHandler(logging.NullHandler())

# Public names are imported on first use (issue 16): ``dicom-identity --help`` and ``--version``
# never load pynetdicom or pydicom. The TYPE_CHECKING imports above keep mypy and IDEs exact.
_LAZY: dict[str, str] = {
    "AuditEvent": "client_sdk._audit.event",
    "EventOutcome": "client_sdk._audit.event",
    "AuditSink": "client_sdk._audit.sinks",
    "AuditSinks": "client_sdk._audit.sinks",
    "AuditWriteError": "client_sdk._audit.sinks",
    "LoggingAuditSink": "client_sdk._audit.sinks",
    "XmlFileAuditSink": "client_sdk._audit.sinks",
    "AuditSource": "client_sdk._audit.xml",
    "Client": "client_sdk._client",
    "ClientSettings": "client_sdk._client_settings",
    "load_config": "client_sdk._config.load",
    "Config": "client_sdk._config.model",
    "KeyringEntry": "client_sdk._config.model",
    "InvalidConfig": "client_sdk._config.problems",
    "Overrides": "client_sdk._config.settings",
    "Setting": "client_sdk._config.settings",
    "AssociationAborted": "client_sdk._errors",
    "AssociationRejected": "client_sdk._errors",
    "AuditUnavailable": "client_sdk._errors",
    "AuthenticationRejected": "client_sdk._errors",
    "ClientCertificateRejected": "client_sdk._errors",
    "ClientCertificateRequired": "client_sdk._errors",
    "ConfigError": "client_sdk._errors",
    "DicomIdentityError": "client_sdk._errors",
    "DimseFailure": "client_sdk._errors",
    "HostnameMismatch": "client_sdk._errors",
    "IdentityTooLarge": "client_sdk._errors",
    "InsecureTransport": "client_sdk._errors",
    "InvalidDicomFile": "client_sdk._errors",
    "NotAuthorized": "client_sdk._errors",
    "PeerProtocolError": "client_sdk._errors",
    "PeerUnreachable": "client_sdk._errors",
    "PlainToTlsPort": "client_sdk._errors",
    "ResponseAdvice": "client_sdk._errors",
    "ServerResponseMissing": "client_sdk._errors",
    "TlsConfigError": "client_sdk._errors",
    "TlsHandshakeFailed": "client_sdk._errors",
    "TlsHandshakeTimeout": "client_sdk._errors",
    "TlsToPlainPort": "client_sdk._errors",
    "TlsVersionMismatch": "client_sdk._errors",
    "UntrustedCertificate": "client_sdk._errors",
    "AssociationUse": "client_sdk._operations.bulk_results",
    "StoreManyReport": "client_sdk._operations.bulk_results",
    "StoreOutcome": "client_sdk._operations.bulk_results",
    "StoreProgress": "client_sdk._operations.bulk_results",
    "StoreResult": "client_sdk._operations.bulk_results",
    "StoreInput": "client_sdk._operations.dicom_file_check",
    "QueryKeyError": "client_sdk._operations.query_keys",
    "parse_query_keys": "client_sdk._operations.query_keys",
    "RetrieveResult": "client_sdk._operations.retrieve",
    "Session": "client_sdk._operations.session",
    "Decision": "client_sdk._outcome",
    "IdentityOutcome": "client_sdk._outcome",
    "Peer": "client_sdk._peer",
    "MissingResponse": "client_sdk._policy",
    "Policy": "client_sdk._policy",
    "Rule": "client_sdk._policy",
    "STUDY_ROOT_FIND": "client_sdk._sop",
    "STUDY_ROOT_GET": "client_sdk._sop",
    "STUDY_ROOT_MOVE": "client_sdk._sop",
    "VERIFICATION": "client_sdk._sop",
    "Timeouts": "client_sdk._timeouts",
    "TlsConfig": "client_sdk._tls",
    "DicomWebClient": "client_sdk._web.client",
    "HttpAuthenticationRejected": "client_sdk._web.failures",
    "IdentityError": "providers",
}


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)


__all__ = [
    "STUDY_ROOT_FIND",
    "STUDY_ROOT_GET",
    "STUDY_ROOT_MOVE",
    "VERIFICATION",
    "AssociationAborted",
    "AssociationRejected",
    "AssociationUse",
    "AuditEvent",
    "AuditSink",
    "AuditSinks",
    "AuditSource",
    "AuditUnavailable",
    "AuditWriteError",
    "AuthenticationRejected",
    "Client",
    "ClientCertificateRejected",
    "ClientCertificateRequired",
    "ClientSettings",
    "Config",
    "ConfigError",
    "Decision",
    "DicomIdentityError",
    "DicomWebClient",
    "DimseFailure",
    "EventOutcome",
    "HostnameMismatch",
    "HttpAuthenticationRejected",
    "IdentityError",
    "IdentityOutcome",
    "IdentityTooLarge",
    "InsecureTransport",
    "InvalidConfig",
    "InvalidDicomFile",
    "KeyringEntry",
    "LoggingAuditSink",
    "MissingResponse",
    "NotAuthorized",
    "Overrides",
    "Peer",
    "PeerProtocolError",
    "PeerUnreachable",
    "PlainToTlsPort",
    "Policy",
    "QueryKeyError",
    "ResponseAdvice",
    "RetrieveResult",
    "Rule",
    "ServerResponseMissing",
    "Session",
    "Setting",
    "StoreInput",
    "StoreManyReport",
    "StoreOutcome",
    "StoreProgress",
    "StoreResult",
    "Timeouts",
    "TlsConfig",
    "TlsConfigError",
    "TlsHandshakeFailed",
    "TlsHandshakeTimeout",
    "TlsToPlainPort",
    "TlsVersionMismatch",
    "UntrustedCertificate",
    "XmlFileAuditSink",
    "load_config",
    "parse_query_keys",
]
