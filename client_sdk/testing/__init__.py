"""An embedded PACS for tests and examples: a pynetdicom SCP that verifies user identities.

``EmbeddedPacs`` accepts Verification, storage and Study Root C-FIND, C-GET and C-MOVE on
127.0.0.1, verifies usernames, passwords and JWTs, answers the identity item per a response mode,
and records each association as an ``AssociationRecord``. Fixtures live in
``client_sdk.testing.pytest_plugin``; ``python -m client_sdk.testing`` runs it from a shell.
"""

from client_sdk._pynetdicom.testing_acse import ResponseMode
from client_sdk.testing._pacs import EmbeddedPacs
from client_sdk.testing._records import AssociationRecord

__all__ = ["AssociationRecord", "EmbeddedPacs", "ResponseMode"]
