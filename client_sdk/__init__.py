"""dicom-identity client: associations that carry a DICOM user identity, under a policy.

Everything public is exported here, and listed in docs/api.md; every other module of
``client_sdk`` (a name with a leading underscore) is internal. ``client_sdk.testing`` is the
embedded PACS for tests. The identity providers are in the ``providers`` package.
"""

import logging

from client_sdk import _deprecated
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
from providers import IdentityError  # the root error's 0.4 name: DicomIdentityError

_deprecated.install()  # the 0.4 module paths still import, each with a DeprecationWarning
logging.getLogger(__name__).addHandler(logging.NullHandler())

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
    "DimseFailure",
    "EventOutcome",
    "HostnameMismatch",
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
