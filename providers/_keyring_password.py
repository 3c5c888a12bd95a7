"""Type 2 with the password read from the OS keyring at every association."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from providers._base import IdentityExchange, IdentityType, Target
from providers._errors import CredentialError, CredentialUnavailable, InvalidIdentity
from providers._keyring_access import (
    BACKEND_ENV,
    HEADLESS_HINT,
    KeyringEntryMissing,
    backend_name,
    default_backend,
    describe_backend_error,
)
from providers._password import check_password, password_request
from providers._recipe import KeyringBackendRecipe, ProviderRecipe
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._username import encode_username, refuse_password_in_username

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

# keyring is imported when a password is first read, not with the package: it costs about 50 ms
# of start-up that a process not using the keyring should not pay (benchmarks/startup.py).

log = logging.getLogger("providers.keyring_password")


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
        if not isinstance(service, str) or not service.strip():
            raise InvalidIdentity(
                f"the keyring service is {service!r}; give the service name the password is "
                "stored under (keyring set SERVICE USERNAME)"
            )
        encode_username(username)  # refuse what could never be sent, now
        refuse_password_in_username(username)  # the password is the keyring's, not the name's
        self.service = service
        self.username = username
        self.positive_response = positive_response
        self._backend = backend

    @property
    def backend(self) -> KeyringBackend:
        if self._backend is None:
            self._backend = default_backend()
        return self._backend

    @secret_safe  # the password read, and a failing backend's frames, must not ride on an error
    def negotiate(self, target: Target) -> IdentityExchange:
        import keyring.errors

        backend = self.backend
        where = (
            f"keyring service {self.service!r}, user {self.username!r} ({backend_name(backend)})"
        )
        set_it = f"keyring set {self.service} {self.username}"
        try:
            password = backend.get_password(self.service, self.username)
        except keyring.errors.NoKeyringError:
            raise CredentialUnavailable(
                f"no usable keyring backend for {where}. Install one and select it with "
                f"{BACKEND_ENV} ({HEADLESS_HINT}); keyring --list-backends lists them"
            ) from None
        except keyring.errors.KeyringLocked:
            raise CredentialError(
                f"the keyring is locked: cannot read {where}. Unlock it (log in to the desktop "
                "session, or unlock the collection), then try again"
            ) from None
        except Exception as exc:  # a backend may raise anything (D-Bus down, corrupt file)
            raise CredentialError(
                f"the keyring backend failed reading {where}: {describe_backend_error(exc)}. "
                "Check that the keyring is unlocked and readable (keyring diagnose shows its files)"
            ) from None
        if password is None:
            raise KeyringEntryMissing(self.service, self.username, backend=backend_name(backend))
        if not isinstance(password, str):  # keyring's API returns str or None; a backend may not
            raise CredentialError(
                f"the keyring backend returned a value of type {type(password).__name__}, not "
                f"text, for {where}. Set the password again with: {set_it}"
            )
        try:
            secret = Secret(password)
        except InvalidIdentity:
            raise InvalidIdentity(
                f"the password in {where} is not valid text. Set it again with: {set_it}"
            ) from None
        check_password(secret, f"the password in {where}", f"set it again with: {set_it}")
        request = password_request(
            self.username,
            secret,
            positive_response=self.positive_response,
            source=f"keyring {backend_name(backend)} service={self.service!r}",
        )
        return IdentityExchange(request)

    def recipe(self) -> ProviderRecipe:
        """How a worker process builds this provider again: the entry and the backend, never
        the password (read from the keyring there)."""
        return ProviderRecipe.of(
            self,
            service=self.service,
            username=self.username,
            positive_response=self.positive_response,
            backend=KeyringBackendRecipe.of(self._backend),
        )

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: (
                f"KeyringPasswordProvider(service={self.service!r}, username={self.username!r})"
            ),
        )
