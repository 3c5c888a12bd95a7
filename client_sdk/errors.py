"""Errors raised by the client. Every one derives from ``providers.IdentityError``."""

from __future__ import annotations

from providers.errors import IdentityError

__all__ = [
    "AssociationAborted",
    "AssociationRejected",
    "AuthenticationRejected",
    "ConfigError",
    "DimseFailure",
    "IdentityTooLarge",
    "InsecureTransport",
    "NotAuthorized",
    "PeerProtocolError",
    "PeerUnreachable",
    "ServerResponseMissing",
]


class PeerUnreachable(IdentityError):
    """No TCP (or TLS) connection to the peer within the connection timeout."""


class AssociationRejected(IdentityError):
    """The peer sent an A-ASSOCIATE-RJ; ``result``, ``source`` and ``reason`` are the raw codes."""

    def __init__(self, message: str, *, result: int, source: int, reason: int) -> None:
        super().__init__(message)
        self.result = result
        self.source = source
        self.reason = reason

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.result, self.source, self.reason)


class AuthenticationRejected(AssociationRejected):
    """Rejected after an identity was sent, with a code that means "not authenticated".

    Never retried automatically: a retry with the same credential only locks accounts.
    """


class AssociationAborted(IdentityError):
    """The peer (or the network) aborted the association."""


class ServerResponseMissing(IdentityError):
    """A positive response was requested and none came back (or only our own token, echoed)."""


class InsecureTransport(IdentityError):
    """A bearer credential would have crossed plain TCP to a non-loopback host; nothing was sent."""


class IdentityTooLarge(IdentityError):
    """The identity does not fit the 16-bit lengths of the A-ASSOCIATE-RQ; nothing was sent."""


class DimseFailure(IdentityError):
    """A DIMSE operation ended with a failure status (or no response at all)."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class NotAuthorized(DimseFailure):
    """DIMSE status 0124H "Refused: Not authorized"."""


class ConfigError(IdentityError):
    """The configuration is invalid."""


class PeerProtocolError(AssociationAborted):
    """The peer sent bytes that break the DICOM Upper Layer protocol (a malformed or undecodable
    PDU, an A-ASSOCIATE-AC with inconsistent lengths or two user identity items); the SDK aborted.

    An ``AssociationAborted``, since the association is gone; a type of its own because retrying
    cannot help: the peer's implementation is at fault.
    """
