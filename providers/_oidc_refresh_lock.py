"""One refresh at a time across processes: an ``fcntl`` lock on a file per login.

A provider that rotates refresh tokens (oidc-provider, Keycloak with "revoke refresh token",
Okta, Auth0 with rotation) takes the second use of a refresh token as theft and revokes the
whole grant. Two processes of the same user that refresh with the token they both read would do
exactly that. So a refresh holds this lock from reading the token in the keyring to writing the
new one there.

The lock file lives in the user's runtime directory (``$XDG_RUNTIME_DIR/dicom-identity``) or,
without one, the user's cache directory (``platformdirs``): never a folder other users can write
to, which is checked (owner, no group or other write). ``flock`` locks end with the process that
held them, so a crashed process leaves none behind. The wait is bounded: the lock is tried
without blocking, again and again with short pauses, until the deadline.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from providers._errors import CredentialError
from providers._safe_errors import total_repr
from providers._token_errors import TokenEndpointUnreachable

APP_NAME = "dicom-identity"
_FIRST_PAUSE = 0.01  # seconds between attempts, doubling up to _LONGEST_PAUSE
_LONGEST_PAUSE = 0.2


def default_lock_dir() -> Path:
    """``$XDG_RUNTIME_DIR/dicom-identity`` if the session has a runtime directory, else the
    user's cache directory (platformdirs' runtime fallback is a shared ``/tmp`` path)."""
    import platformdirs

    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(platformdirs.user_runtime_dir(APP_NAME)) / "locks"
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "locks"


class ProcessLock:
    """The lock of the login named ``key`` (issuer and client id), in ``directory``."""

    def __init__(self, key: str, *, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.name = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32] + ".lock"

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"ProcessLock({str(self.path)!r})")

    @property
    def path(self) -> Path:
        return (self.directory or default_lock_dir()) / self.name

    @contextlib.contextmanager
    def held(self, timeout: float, *, what: str) -> Iterator[None]:
        """Hold the lock for the block; wait at most ``timeout`` seconds for another process
        (``what`` it does, for the message: "the token refresh of ISSUER")."""
        path = self.path
        _private_directory(path.parent)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise CredentialError(
                f"cannot open the lock file {path} ({exc.strerror or type(exc).__name__}) that "
                f"keeps {what} to one process at a time; check that folder's permissions"
            ) from None
        try:
            _acquire(fd, timeout, path, what)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _acquire(fd: int, timeout: float, path: Path, what: str) -> None:
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    pauser = threading.Event()  # never set: its wait is a bounded pause
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise CredentialError(
                    f"cannot lock {path} ({exc.strerror or type(exc).__name__}), which keeps "
                    f"{what} to one process at a time"
                ) from None
        left = deadline - time.monotonic()
        if left <= 0:
            raise TokenEndpointUnreachable(
                f"another process held {what} for more than {timeout:g} s (lock file {path}); "
                "check that the OpenID Provider answers, and try again"
            )
        pauser.wait(min(pause, left))
        pause = min(pause * 2, _LONGEST_PAUSE)


def _private_directory(directory: Path) -> None:
    """Create ``directory`` (0700) or check that only this user can write to it."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.lstat()
    except OSError as exc:
        raise CredentialError(
            f"cannot create the folder {directory} for lock files "
            f"({exc.strerror or type(exc).__name__}); check its permissions"
        ) from None
    unsafe = (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )
    if unsafe:
        raise CredentialError(
            f"the folder {directory} for lock files is not a directory that only this user "
            "can write to (owner, mode); remove it, or give lock_dir"
        )
