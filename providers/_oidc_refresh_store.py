"""The refresh token of a login, in the OS keyring and nowhere else.

One entry per login: by default service ``dicom-identity-oidc:ISSUER``, user ``CLIENT_ID``
(``keyring get`` shows it to its owner; ``dicom-identity logout PEER`` deletes it). The token is
read into a :class:`Secret` at once; a backend's error shows its type and, for keyring's own and
OS errors, their words, never text that may quote the keyring's contents
(:func:`providers._keyring_access.describe_backend_error`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers._errors import CredentialError, CredentialUnavailable, IdentityError
from providers._keyring_access import HEADLESS_HINT, default_backend, describe_backend_error
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE_PREFIX = "dicom-identity-oidc:"


def default_entry(issuer: str, client_id: str) -> tuple[str, str]:
    return f"{SERVICE_PREFIX}{issuer}", client_id


class RefreshTokenStore:
    """The keyring entry ``entry`` (SERVICE, USER) of one login's refresh token."""

    def __init__(self, entry: tuple[str, str], backend: KeyringBackend | None = None) -> None:
        if len(entry) != 2 or not all(isinstance(part, str) and part for part in entry):
            raise ValueError("keyring_entry must be (SERVICE, USER), both non-empty")
        self.entry = entry
        self._backend = backend

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"RefreshTokenStore({self.entry!r})")

    @property
    def where(self) -> str:
        return f"keyring service {self.entry[0]!r}, user {self.entry[1]!r}"

    def backend(self) -> KeyringBackend:
        return self._backend or default_backend()

    @secret_safe  # the backend's frames hold the token it read
    def read(self) -> Secret | None:
        """The stored refresh token, or None."""
        failure: IdentityError | None = None
        backend = self.backend()
        try:
            value = backend.get_password(*self.entry)
        except Exception as exc:  # a backend may raise anything (locked, D-Bus down, corrupt)
            failure = self._failed("reading", exc)
        if failure is not None:
            raise failure  # outside the handler: no context that holds the backend's frames
        if not value:
            return None
        try:
            return Secret(value)
        finally:
            del value

    @secret_safe
    def write(self, token: Secret) -> None:
        failure: IdentityError | None = None
        backend = self.backend()
        try:
            backend.set_password(*self.entry, token.reveal().decode("utf-8"))
        except Exception as exc:
            failure = self._failed("storing", exc)
        if failure is not None:
            raise failure

    def delete(self) -> bool:
        """Delete the entry; False if there was none."""
        import keyring.errors

        failure: IdentityError | None = None
        backend = self.backend()
        try:
            backend.delete_password(*self.entry)
        except keyring.errors.PasswordDeleteError:
            return False
        except Exception as exc:
            failure = self._failed("deleting", exc)
        if failure is not None:
            raise failure
        return True

    def _failed(self, doing: str, exc: BaseException) -> IdentityError:
        import keyring.errors

        if isinstance(exc, keyring.errors.NoKeyringError):
            return CredentialUnavailable(
                f"no usable keyring backend for the refresh token ({self.where}): {HEADLESS_HINT}"
            )
        return CredentialError(
            f"the keyring backend failed {doing} the refresh token ({self.where}): "
            f"{describe_backend_error(exc)}. Check that the keyring is unlocked (keyring "
            "diagnose)"
        )
