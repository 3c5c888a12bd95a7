"""Type 2 with the password read from the OS keyring at every association."""

from __future__ import annotations

import logging

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from providers.base import IdentityExchange, IdentityType, Target
from providers.errors import CredentialError, CredentialUnavailable
from providers.password import password_request
from providers.secret import Secret

__all__ = ["KeyringPasswordProvider"]

log = logging.getLogger(__name__)


class KeyringPasswordProvider:
    """Reads ``(service, username)`` from a keyring backend; never prompts, never caches it.

    The backend is resolved once (``PYTHON_KEYRING_BACKEND``, keyring's config file, or the
    highest-priority usable backend), unless one is passed in.
    """

    identity_type = IdentityType.USERNAME_PASSCODE

    def __init__(
        self,
        service: str,
        username: str,
        *,
        positive_response: bool = False,
        backend: KeyringBackend | None = None,
    ) -> None:
        self.service = service
        self.username = username
        self.positive_response = positive_response
        self._backend = backend

    @property
    def backend(self) -> KeyringBackend:
        if self._backend is None:
            self._backend = keyring.get_keyring()
        return self._backend

    def negotiate(self, target: Target) -> IdentityExchange:
        backend = self.backend
        where = (
            f"keyring service {self.service!r}, user {self.username!r} ({_backend_name(backend)})"
        )
        try:
            password = backend.get_password(self.service, self.username)
        except keyring.errors.NoKeyringError:
            raise CredentialUnavailable(
                f"no usable keyring backend for {where}. Install one (for a headless server: "
                "pip install keyrings.alt) and select it with PYTHON_KEYRING_BACKEND, "
                "e.g. PYTHON_KEYRING_BACKEND=keyrings.alt.file.EncryptedKeyring"
            ) from None
        except Exception as exc:  # a backend may raise anything (locked, D-Bus down, corrupt file)
            raise CredentialError(
                f"the keyring backend failed reading {where}: {type(exc).__name__}: {exc}. "
                "Check that the keyring is unlocked and readable (keyring diagnose)"
            ) from None
        if password is None:
            raise CredentialUnavailable(
                f"no password in {where}. Add it with: keyring set {self.service} {self.username}"
            )
        request = password_request(
            self.username,
            Secret(password),
            positive_response=self.positive_response,
            source=f"keyring {_backend_name(backend)} service={self.service!r}",
        )
        return IdentityExchange(request)

    def __repr__(self) -> str:
        return f"KeyringPasswordProvider(service={self.service!r}, username={self.username!r})"


def _backend_name(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"
