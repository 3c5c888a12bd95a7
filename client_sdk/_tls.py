"""TLS to the peer: the configuration, and the one verified SSLContext built from it.

The context is built once per :class:`TlsConfig` and reused by every association (building one
loads the CA store: about 9 % of a TLS association on loopback). It is rebuilt only when one of
the files changed on disk (a rotated client certificate), which costs a ``stat`` per file and
association, and which also catches a file that went away, before anything connects.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from typing import NoReturn, cast

from client_sdk._association.trace import make_traceable
from client_sdk._errors import TlsConfigError

log = logging.getLogger(__name__)

MINIMUM_TLS_VERSION = ssl.TLSVersion.TLSv1_2

_FileStamp = tuple[str, int, int, int]  # path, inode, size, mtime (ns)


class _ContextCache:
    """One TlsConfig's built context, with the file stamps it was built from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.built: tuple[tuple[_FileStamp, ...], ssl.SSLContext] | None = None

    def __reduce__(self) -> tuple[type[_ContextCache], tuple[()]]:
        return (_ContextCache, ())  # a copy (copy, deepcopy, pickle) starts empty


class _EncryptedKey(Exception):
    """Raised from the password callback: library code never prompts for a key passphrase."""


def _no_passphrase() -> NoReturn:
    raise _EncryptedKey


@dataclass(frozen=True)
class TlsConfig:
    """Verified TLS to the peer: server certificate checked (a CA file or the system store),
    hostname checked, TLS 1.2 or later, optional client certificate for mutual TLS.

    ``ca_file``: PEM file of the CA(s) that signed the peer's certificate (None: the system
    store). ``cert_file`` / ``key_file``: the client certificate and its unencrypted private key
    for mutual TLS (``key_file`` may be omitted when the key is in ``cert_file``).
    ``server_hostname``: the name to check the peer's certificate against (default: the host).

    The files are checked when the first association is opened (:meth:`context`), before any
    connection; a missing, unreadable or invalid one raises :class:`TlsConfigError` naming it.
    """

    ca_file: str | os.PathLike[str] | None = None
    cert_file: str | os.PathLike[str] | None = None
    key_file: str | os.PathLike[str] | None = None
    server_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.key_file is not None and self.cert_file is None:
            raise TlsConfigError(
                f"TlsConfig(key_file={os.fspath(self.key_file)!r}) needs cert_file too: the "
                "client certificate whose private key this is"
            )
        # Not a dataclass field: the fields are the configuration's keys (config/schema.py).
        object.__setattr__(self, "_cache", _ContextCache())

    @property
    def mutual(self) -> bool:
        """True when a client certificate is configured (mutual TLS)."""
        return self.cert_file is not None

    def context(self) -> ssl.SSLContext:
        """The client SSLContext: built on first use, then shared by every association (and
        rebuilt when a file changed). Raises :class:`TlsConfigError` for a bad file."""
        stamps = self._stamps()
        cache = cast(_ContextCache, self.__dict__["_cache"])
        with cache.lock:
            if cache.built is not None and cache.built[0] == stamps:
                return cache.built[1]
            if cache.built is not None:
                log.info("TLS files changed on disk; reloading %s", self._files_text())
            context = self._build()
            cache.built = (stamps, context)
            return context

    def _files(self) -> list[tuple[str, str]]:
        files = [("ca_file", self.ca_file), ("cert_file", self.cert_file)]
        files.append(("key_file", self.key_file))
        return [(key, os.fspath(path)) for key, path in files if path is not None]

    def _files_text(self) -> str:
        return ", ".join(f"{key}={path}" for key, path in self._files()) or "(system CA store)"

    def _stamps(self) -> tuple[_FileStamp, ...]:
        stamps = []
        for key, path in self._files():
            try:
                info = os.stat(path)
            except FileNotFoundError:
                raise TlsConfigError(
                    f"TLS {key} {path!r} does not exist. Check the path (relative paths in a "
                    "configuration file are relative to that file)"
                ) from None
            except OSError as exc:
                raise TlsConfigError(
                    f"TLS {key} {path!r} cannot be read ({exc.strerror or exc})"
                ) from None
            stamps.append((path, info.st_ino, info.st_size, info.st_mtime_ns))
        return tuple(stamps)

    def _build(self) -> ssl.SSLContext:
        ca_file = os.fspath(self.ca_file) if self.ca_file is not None else None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise TlsConfigError(
                f"TLS ca_file {ca_file!r} holds no usable CA certificate ({_why(exc)}). It must "
                "be a PEM file of the CA certificate(s) that signed the peer's certificate"
            ) from None
        context.minimum_version = MINIMUM_TLS_VERSION
        if self.cert_file is not None:
            cert_file = os.fspath(self.cert_file)
            key_file = os.fspath(self.key_file) if self.key_file is not None else None
            pair = f"cert_file {cert_file!r}" + (f", key_file {key_file!r}" if key_file else "")
            try:
                context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
            except _EncryptedKey:
                raise TlsConfigError(
                    f"TLS {pair}: the private key is encrypted, and the SDK never prompts. "
                    "Store it unencrypted in a file only you can read (chmod 600)"
                ) from None
            except (ssl.SSLError, OSError) as exc:
                raise TlsConfigError(
                    f"TLS {pair}: not a usable client certificate and key ({_why(exc)}). Both "
                    "must be PEM, and the key must be the certificate's own"
                ) from None
        return make_traceable(context)


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason.lower().replace("_", " ")
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc)
