"""An embedded PACS for tests and examples: a pynetdicom SCP that verifies user identities.

``EmbeddedPacs`` accepts Verification, storage and Study Root C-FIND, C-GET and C-MOVE on
127.0.0.1, verifies usernames, passwords and JWTs, answers the identity item per a response mode,
and records each association as an ``AssociationRecord``. Fixtures live in
``client_sdk.testing.pytest_plugin``; ``python -m client_sdk.testing`` runs it from a shell.
``ct_dataset`` makes a small CT image (needs numpy: ``pip install 'dicom-identity[test]'``);
``throwaway_realm`` a Kerberos realm in a temporary folder (needs k5test and the MIT tools).
"""

from client_sdk.testing._datasets import CT_IMAGE_STORAGE, ct_dataset
from client_sdk.testing._kerberos_realm import (
    KerberosRealm,
    kerberos_tools_missing,
    throwaway_realm,
)
from client_sdk.testing._pacs import EmbeddedPacs
from client_sdk.testing._records import AssociationRecord
from client_sdk.testing._response_modes import RESPONSE_MODES, ResponseMode

__all__ = [
    "CT_IMAGE_STORAGE",
    "RESPONSE_MODES",
    "AssociationRecord",
    "EmbeddedPacs",
    "KerberosRealm",
    "ResponseMode",
    "ct_dataset",
    "kerberos_tools_missing",
    "throwaway_realm",
]
