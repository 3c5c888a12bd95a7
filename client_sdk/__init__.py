"""dicom-identity client: associations that carry a DICOM user identity, under a policy."""

import logging

from client_sdk.bulk import StoreManyReport, StoreResult
from client_sdk.client import Client, Peer
from client_sdk.config import load_config
from client_sdk.connection import Timeouts
from client_sdk.outcome import Decision, IdentityOutcome
from client_sdk.policy import MissingResponse, Policy
from client_sdk.session import RetrieveResult, Session
from client_sdk.tls import TlsConfig

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
