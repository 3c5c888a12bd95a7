"""dicom-identity client: associations that carry a DICOM user identity, under a policy."""

import logging

from client_sdk import _deprecated
from client_sdk._client import Client, Peer
from client_sdk._config import load_config
from client_sdk._operations.bulk import StoreManyReport, StoreResult
from client_sdk._operations.session import RetrieveResult, Session
from client_sdk._outcome import Decision, IdentityOutcome
from client_sdk._policy import MissingResponse, Policy
from client_sdk._pynetdicom.requestor import Timeouts
from client_sdk._tls import TlsConfig

_deprecated.install()  # the 0.4 module paths still import, each with a DeprecationWarning
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Client",
    "Decision",
    "IdentityOutcome",
    "MissingResponse",
    "Peer",
    "Policy",
    "RetrieveResult",
    "Session",
    "StoreManyReport",
    "StoreResult",
    "Timeouts",
    "TlsConfig",
    "load_config",
]
