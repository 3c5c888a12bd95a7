"""Reaching the OS keyring: which backend, why none can be used, and a missing entry as data.

Shared by :class:`~providers.KeyringPasswordProvider`, the token endpoint's client secret and
the command line's ``keyring set/check/delete``, so each says the same thing about the same
keyring. keyring itself reports a backend that cannot load as a bare ``RuntimeError`` ("No
recommended backend was available"); the real cause is one level down, in the backend class's
viability check (``priority``), which reads no entry, so its text can be shown.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from providers._errors import CredentialError, CredentialUnavailable
from providers._outside_text import label

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

BACKEND_ENV = "PYTHON_KEYRING_BACKEND"
HEADLESS_HINT = (
    "on a server without a desktop session: GNOME Keyring in a D-Bus session (dbus-run-session, "
    "gnome-keyring-daemon --unlock), or pip install keyrings.alt pycryptodome and "
    f"{BACKEND_ENV}=keyrings.alt.file.EncryptedKeyring (it asks for its own password once per "
    "run); the README's 'A keyring on a headless server' shows both"
)
_SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
_SHOWN = 300  # characters of a backend's message


class KeyringEntryMissing(CredentialUnavailable):
    """No secret stored under ``(service, username)``; nothing was sent.

    Its message advises the keyring package's own command (``keyring set SERVICE USERNAME``); a
    front end with a command of its own re-words it with :meth:`advising` (``dicom-identity``
    says ``dicom-identity keyring set PEER``).
    """

    def __init__(
        self,
        service: str,
        username: str,
        *,
        what: str = "password",
        purpose: str = "",
        backend: str = "",
        advice: str | None = None,
    ) -> None:
        self.service = service
        self.username = username
        self.what = what
        self.purpose = purpose
        self.backend = backend
        self.advice = advice or f"keyring set {service} {username}"
        where = f"keyring service {service!r}, user {username!r}"
        where += f" ({backend})" if backend else ""
        super().__init__(f"no {what}{purpose} in {where}. Add it with: {self.advice}")

    def advising(self, command: str) -> KeyringEntryMissing:
        """The same error, advising ``command`` to add the entry."""
        return KeyringEntryMissing(
            self.service,
            self.username,
            what=self.what,
            purpose=self.purpose,
            backend=self.backend,
            advice=command,
        )


def default_backend() -> KeyringBackend:
    """keyring's choice (``PYTHON_KEYRING_BACKEND``, keyringrc.cfg, or the best usable one).

    Raises :class:`CredentialError` when the named backend cannot load and
    :class:`CredentialUnavailable` when keyring found none at all, each with the real cause
    (pycryptodome missing, ``DBUS_SESSION_BUS_ADDRESS`` unset) and what to do.
    """
    import keyring
    from keyring.backends import fail

    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # ImportError, AttributeError, RuntimeError from keyring's loader
        named = os.environ.get(BACKEND_ENV)
        chosen = f"{BACKEND_ENV}={named!r}" if named else "keyring's configuration (keyringrc.cfg)"
        raise CredentialError(
            f"the keyring backend named by {chosen} cannot be loaded: {_load_failure(exc)}. "
            f"{_fix(exc, named)}"
        ) from None
    if isinstance(backend, fail.Keyring):
        named = os.environ.get(BACKEND_ENV)
        why = (
            f"{BACKEND_ENV}={named!r} selects keyring's placeholder, which holds nothing"
            if named
            else _why_none()
        )
        raise CredentialUnavailable(
            f"no usable keyring backend: {why}. Install or start one and select it with "
            f"{BACKEND_ENV} (keyring --list-backends lists those that load); {HEADLESS_HINT}"
        )
    return backend


def backend_name(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_backend_error(exc: BaseException) -> str:
    """A backend's error, without text that may quote the keyring's contents.

    keyring's own errors and OS errors say what went wrong; other messages (a parser's, for a
    corrupt keyring file) may quote the file's lines, which hold passwords: only their type.
    """
    import keyring.errors

    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{type(exc).__name__}: {label(exc.strerror + where, _SHOWN)}"
    if isinstance(exc, keyring.errors.KeyringError | ImportError | AttributeError) and str(exc):
        return f"{type(exc).__name__}: {label(str(exc), _SHOWN)}"
    return type(exc).__name__


def _load_failure(exc: BaseException) -> str:
    """Why a backend did not load: the viability check's own words (it reads no entry)."""
    text = label(str(exc), _SHOWN)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ImportError) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {label(str(cause), _SHOWN)})"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _fix(exc: BaseException, named: str | None) -> str:
    text = f"{exc} {exc.__cause__ or exc.__context__ or ''}"
    if "pycryptodome" in text or "Crypto" in text:
        return (
            "keyrings.alt's EncryptedKeyring needs pycryptodome: pip install pycryptodome "
            "(in the environment dicom-identity runs from), or name another backend"
        )
    if "DBUS_SESSION_BUS_ADDRESS" in text:
        return _NO_DBUS
    if isinstance(exc, ImportError | AttributeError) and named:
        return (
            f"{named!r} is not an installed backend: keyring --list-backends lists them; "
            f"{HEADLESS_HINT}"
        )
    return f"Name a backend that loads (keyring --list-backends lists them); {HEADLESS_HINT}"


_NO_DBUS = (
    "The Secret Service is reached over a D-Bus session, and this process has none (no desktop "
    "login: ssh, cron); " + HEADLESS_HINT
)


def _why_none() -> str:
    """Why keyring found no backend: on Linux, why the Secret Service is not usable."""
    if not sys.platform.startswith("linux"):
        return "keyring found no backend that loads on this system"
    try:
        from keyring.backends import SecretService

        SecretService.Keyring.priority  # noqa: B018  (the viability check raises the reason)
    except Exception as exc:  # RuntimeError (not viable), ImportError (no SecretStorage)
        why = f"the Secret Service ({_SECRET_SERVICE}) cannot be used: {_load_failure(exc)}"
        if "DBUS_SESSION_BUS_ADDRESS" in str(exc):
            why += " (no D-Bus session: no desktop login, e.g. ssh or cron)"
        return why + _NO_FILE_BACKENDS
    return "keyring found no backend that loads" + _NO_FILE_BACKENDS


_NO_FILE_BACKENDS = "; keyrings.alt (file backends) is not installed"
