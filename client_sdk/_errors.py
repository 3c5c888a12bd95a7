"""Errors raised by the client. Every one derives from :data:`DicomIdentityError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers._base import IdentityType
from providers._errors import IdentityError

# The root of every error the SDK raises, client_sdk's and providers' alike (a DIMSE failure and
# a TLS failure are no identity errors, hence the name). ``IdentityError`` is the same class
# under its 0.4 name, kept. The class is defined in ``providers._errors`` (providers never
# imports client_sdk), where it still carries its old ``__name__``.
DicomIdentityError = IdentityError


class PeerUnreachable(DicomIdentityError):
    """No TCP (or TLS) connection to the peer: refused, timed out, or one of the TLS failures
    below (each its own subclass)."""


# TLS: every transport failure is a PeerUnreachable (CLI exit code 5); these say which one.


class TlsHandshakeFailed(PeerUnreachable):
    """TLS to the peer did not come up. ``reason`` is OpenSSL's reason code when there is one
    (``"WRONG_VERSION_NUMBER"``, ``"TLSV1_ALERT_UNKNOWN_CA"``, ...)."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class UntrustedCertificate(TlsHandshakeFailed):
    """The peer's certificate does not verify against the configured CA file (or the system
    store): unknown issuer, self-signed, expired, not for server authentication."""


class HostnameMismatch(TlsHandshakeFailed):
    """The peer's certificate is trusted but names neither the host nor ``server_hostname``."""


class ClientCertificateRequired(TlsHandshakeFailed):
    """The peer asked for a client certificate (mutual TLS) and none is configured."""


class ClientCertificateRejected(TlsHandshakeFailed):
    """The peer asked for a client certificate and refused the one we sent."""


class TlsVersionMismatch(TlsHandshakeFailed):
    """No TLS version in common: the SDK needs TLS 1.2 or later, the peer offers older ones."""


class TlsHandshakeTimeout(TlsHandshakeFailed):
    """The peer accepted TCP but finished no TLS handshake within the connect timeout."""


class TlsToPlainPort(TlsHandshakeFailed):
    """We spoke TLS; the peer answered with something else (a plain DICOM port)."""


class PlainToTlsPort(PeerUnreachable):
    """We spoke plain DICOM; the peer speaks TLS on that port (it closed on our A-ASSOCIATE-RQ,
    or answered with a TLS alert)."""


class AssociationRejected(DicomIdentityError):
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


class AssociationAborted(DicomIdentityError):
    """The peer (or the network) aborted the association."""


@dataclass(frozen=True)
class ResponseAdvice:
    """What would let an association without its requested response go on, as data: the
    Python API words it in :meth:`in_python`, the command line in its own terms (flags and
    configuration keys, ``client_sdk._cli.advice``)."""

    identity_type: IdentityType
    echoed: bool = False  # only our own token came back
    per_type: bool = False  # the rule that stopped came from Policy.per_type for this type
    required_by: str = ""  # a provider that demands the answer whatever the policy says

    def in_python(self) -> str:
        if self.required_by:
            return (
                f"{self.required_by} requires the answer whatever the policy says (Kerberos "
                "mutual_auth='required'); use mutual_auth='optional' only for a peer that never "
                "answers"
            )
        rule = f"Policy(per_type={{IdentityType.{self.identity_type.name}: MissingResponse.WARN}})"
        if self.echoed:
            return (
                "The peer's acceptor sends every requestor its own token back (dcm4che's default): "
                f"if that is all this peer does, set Policy(echo_is_missing=False) or {rule} for it"
            )
        return f"If this peer never answers {never_answers(self.identity_type)}, set {rule} for it"


def never_answers(identity_type: IdentityType) -> str:
    """Which peers never answer this identity type (PS3.8 D.2 lets them), for advice."""
    label = identity_type.label
    if identity_type in (IdentityType.USERNAME, IdentityType.USERNAME_PASSCODE):
        return (
            f"{label} identities (DCMTK and Orthanc never answer any type, pynetdicom-based peers "
            "never answer types 1 and 2)"
        )
    return f"{label} identities (DCMTK and Orthanc never answer any type)"


class ServerResponseMissing(DicomIdentityError):
    """A positive response was requested and none came back (or only our own token, echoed).

    ``fact`` is what happened, without advice; ``advice`` (None when raised without one) what
    would let the association go on. ``str()`` is the fact and the advice in Python terms.
    """

    def __init__(self, fact: str, *, advice: ResponseAdvice | None = None) -> None:
        super().__init__(f"{fact} {advice.in_python()}" if advice is not None else fact)
        self.fact = fact
        self.advice = advice


class InsecureTransport(DicomIdentityError):
    """A bearer credential would have crossed plain TCP to a non-loopback host; nothing was sent."""


class IdentityTooLarge(DicomIdentityError):
    """The identity does not fit the 16-bit lengths of the A-ASSOCIATE-RQ; nothing was sent."""


class DimseFailure(DicomIdentityError):
    """A DIMSE operation ended with a failure status (or no response at all)."""

    def __init__(self, message: str, *, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class NotAuthorized(DimseFailure):
    """DIMSE status 0124H "Refused: Not authorized"."""


class InvalidDicomFile(DimseFailure):
    """A file failed the check before sending (``Session.store`` and the rest): unreadable, not
    DICOM Part 10, truncated or broken, or its SOP UIDs missing or not those of its meta header.
    Nothing of it was sent. ``check`` names the check that failed; ``path`` the file."""

    def __init__(self, message: str, *, path: str, check: str) -> None:
        super().__init__(message, status=None)
        self.path = path
        self.check = check


class ConfigError(DicomIdentityError):
    """The configuration is invalid."""


class TlsConfigError(ConfigError):
    """A TLS setting cannot be used: a CA, certificate or key file that is missing, unreadable,
    not PEM, encrypted, or a key that is not the certificate's. Raised before any connection."""


class PeerProtocolError(AssociationAborted):
    """The peer sent bytes that break the DICOM Upper Layer protocol (a malformed or undecodable
    PDU, an A-ASSOCIATE-AC with inconsistent lengths or two user identity items); the SDK aborted.

    An ``AssociationAborted``, since the association is gone; a type of its own because retrying
    cannot help: the peer's implementation is at fault.
    """


class AuditUnavailable(DicomIdentityError):
    """The audit trail is required (``Client(audit_required=True)``, ``[audit] required``,
    ``--audit-required``) and its sink cannot record the association: checked before anything
    is fetched or sent, and when the event is written once the association is established (then
    aborted before any DIMSE operation). ``sink`` is the audit sink that failed."""

    def __init__(self, message: str, *, sink: Any = None) -> None:
        super().__init__(message)
        self.sink = sink
