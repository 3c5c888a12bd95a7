"""The error tree shared by providers and the client.

``DicomIdentityError`` is the root of every error the SDK raises (``IdentityError``, its 0.4 name,
is the same class). Credential sources raise one of two
kinds, as azure-identity does: ``CredentialUnavailable`` ("not configured here": a chain moves on)
and ``CredentialError`` ("configured but broken": a chain stops, so a broken credential never
silently becomes a different identity). No message ever holds a secret.
"""

from __future__ import annotations

from collections.abc import Sequence


class DicomIdentityError(Exception):
    """Root of every dicom-identity error."""


# The 0.4 name: the same class, kept for code that catches or subclasses it.
IdentityError = DicomIdentityError


class CredentialUnavailable(IdentityError):
    """The source holds no credential here (no entry, no file); a ``ProviderChain`` moves on."""


class CredentialError(IdentityError):
    """The source is configured but its credential is unusable; a ``ProviderChain`` stops."""


class CredentialExpired(CredentialError):
    """The credential exists but is expired or not yet valid; nothing was sent."""


class InvalidIdentity(CredentialError):
    """The identity cannot be sent as it is (not UTF-8, empty, wrong fields for its type)."""


class MutualAuthenticationFailed(IdentityError):
    """The peer's response to the identity did not verify; the association was aborted."""


class NoCredentials(CredentialUnavailable):
    """Every provider of a chain was unavailable; ``attempts`` lists each and why."""

    def __init__(self, attempts: Sequence[tuple[str, str]]) -> None:
        self.attempts = tuple(attempts)
        lines = "".join(f"\n  - {name}: {why}" for name, why in self.attempts)
        super().__init__(
            f"no credentials: every provider of the chain was unavailable:{lines}\n"
            "Configure one of them (see each line), or pass an identity explicitly."
        )
