"""The command line's exit codes: one per kind of failure, most specific first."""

from __future__ import annotations

from client_sdk._errors import (
    AssociationAborted,
    AssociationRejected,
    AuditUnavailable,
    AuthenticationRejected,
    ConfigError,
    DimseFailure,
    IdentityTooLarge,
    InsecureTransport,
    PeerUnreachable,
    ServerResponseMissing,
)
from providers import CredentialError, CredentialUnavailable, MutualAuthenticationFailed

# Exit codes, most specific first (an AuthenticationRejected is also an AssociationRejected).
EXIT_CODES: list[tuple[type[BaseException], int, str]] = [
    (ConfigError, 3, "configuration or command-line error"),
    (CredentialUnavailable, 4, "credential unavailable or unusable; nothing was sent"),
    (CredentialError, 4, "credential unavailable or unusable; nothing was sent"),
    (InsecureTransport, 4, "credential unavailable or unusable; nothing was sent"),
    (IdentityTooLarge, 4, "credential unavailable or unusable; nothing was sent"),
    (PeerUnreachable, 5, "peer unreachable"),
    (AuthenticationRejected, 6, "authentication rejected, or mutual authentication failed"),
    (MutualAuthenticationFailed, 6, "authentication rejected, or mutual authentication failed"),
    (ServerResponseMissing, 7, "positive response missing, and the policy stopped"),
    (AssociationRejected, 8, "association rejected or aborted (not for the identity)"),
    (AssociationAborted, 8, "association rejected or aborted (not for the identity)"),
    (DimseFailure, 9, "DIMSE operation failed (including 0x0124 not authorized)"),
    (AuditUnavailable, 10, "audit required and its event could not be written; no DIMSE operation"),
]
EXIT_OTHER = 1


def exit_code(error: BaseException) -> int:
    for kind, code, _ in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_OTHER
