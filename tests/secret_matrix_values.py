"""The secret matrix's canary values and the secrets a JWT carries, shared by the matrix modules."""

from __future__ import annotations

PASSWORD = "Tr0ub4dor&3-matrix-canary"


WRONG_PASSWORD = "wr0ng-matrix-canary-pw"


OTHER_KEY = "not-the-key-the-pacs-trusts-0123456789"


IDENTITY_DUMP_WITHHELD = "withheld: it may carry a user identity"


def jwt_secrets(token: str) -> list[bytes]:
    """The token, and its signature alone (with it, header and claims are easy to rebuild)."""
    return [token.encode(), token.rsplit(".", 1)[1].encode()]
