"""A credential file that an agent replaces at any time: re-read only when it changed.

Shared by the file-based providers (JWT, SAML assertion). "Changed" means another device, inode,
size or modification time, taken from the open file itself so that the stamp and the bytes read
always belong to the same file, even when the agent renames a new one into place in between.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from providers._errors import CredentialError, CredentialUnavailable
from providers._safe_errors import secret_safe, total_repr

log = logging.getLogger("providers.rotating_file")

# Far above what fits in an association (65,463 bytes); only guards memory against a wrong path.
MAX_FILE_BYTES = 1 << 20

# O_NONBLOCK: opening a FIFO must not wait for a writer. O_NOCTTY: a terminal device named by
# the path must not become this process's controlling terminal.
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

T = TypeVar("T")
_Stamp = tuple[int, int, int, int]  # device, inode, size, mtime_ns


@dataclass(frozen=True)
class _Cached(Generic[T]):
    stamp: _Stamp
    value: T

    def __repr__(self) -> str:  # total: the value is a loaded credential
        return total_repr(self, lambda: f"_Cached(stamp={self.stamp!r}, value={self.value!r})")


class RotatingFile(Generic[T]):
    """``load()`` returns ``parse(bytes)`` of the file, parsed again only when the file changed.

    ``what`` names the file in messages ("JWT file"), ``noun`` what it holds ("token"). Errors:
    a missing file is :class:`CredentialUnavailable` (a chain moves on); a directory, a FIFO or
    device, an unreadable file, or one larger than ``max_bytes`` is :class:`CredentialError`
    (``too_large_hint`` says what to do). A file that
    group or others may access logs a warning each time it is (re-)read.
    """

    def __init__(
        self,
        path: Path,
        parse: Callable[[bytes], T],
        *,
        what: str,
        noun: str,
        max_bytes: int = MAX_FILE_BYTES,
        too_large_hint: str = "",
    ) -> None:
        self.path = path
        self._parse = parse
        self._what = what
        self._noun = noun
        self._max_bytes = max_bytes
        self._too_large_hint = too_large_hint or f"check that the path names the {noun} file"
        self._lock = threading.Lock()
        self._cached: _Cached[T] | None = None

    @property
    def cached(self) -> T | None:
        """The last value parsed, if any (for tests and diagnostics)."""
        cached = self._cached
        return None if cached is None else cached.value

    @secret_safe  # the bytes read are the secret: an error must not keep them in its frames
    def load(self) -> T:
        # Symlinks are followed: Kubernetes projected volumes and mounted Secrets publish the
        # token as a symlink to a file that they swap atomically. What is refused is any target
        # that is not a regular file, checked before the open (opening a device can have effects:
        # a tape rewinds) and again on the opened descriptor, for whatever was renamed over the
        # path in between: a FIFO opened without O_NONBLOCK would block for ever.
        self._refuse_unless_regular(self._stat())
        fd = self._open()
        try:
            st = os.fstat(fd)
            self._refuse_unless_regular(st)
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            with self._lock:
                if self._cached is not None and self._cached.stamp == stamp:
                    return self._cached.value
                self._warn_if_shared(st)
                if st.st_size > self._max_bytes:
                    raise self._too_large(f"is {st.st_size} bytes")
                raw = self._read(fd)
                if len(raw) > self._max_bytes:  # grew while we read it
                    raise self._too_large(f"is more than {self._max_bytes} bytes")
                value = self._parse(raw)
                self._cached = _Cached(stamp, value)
                return value
        finally:
            os.close(fd)

    def _stat(self) -> os.stat_result:
        try:
            return os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing() from None
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _open(self) -> int:
        try:
            return os.open(self.path, _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError):  # renamed away since the stat
            raise self._missing() from None
        except OSError as exc:  # a socket put there since the stat: ENXIO
            raise self._unreadable(exc) from None

    def _read(self, fd: int) -> bytes:
        """At most ``max_bytes + 1`` bytes: one more than allowed tells that the file grew."""
        chunks: list[bytes] = []
        left = self._max_bytes + 1
        try:
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        except OSError as exc:
            raise self._unreadable(exc) from None
        return b"".join(chunks)

    def _refuse_unless_regular(self, st: os.stat_result) -> None:
        where = f"{self._what} {self.path}"
        if stat.S_ISDIR(st.st_mode):
            raise CredentialError(
                f"{where} is a directory; the path must name the {self._noun} file itself"
            )
        if not stat.S_ISREG(st.st_mode):
            # A FIFO or a device could block the read forever: only regular files are read.
            raise CredentialError(
                f"{where} is not a regular file ({_kind(st.st_mode)}); have the agent write the "
                f"{self._noun} to a file (a temp file, then rename it over the path)"
            )

    def _warn_if_shared(self, st: os.stat_result) -> None:
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "%s %s is accessible by group or others (mode %o); restrict it with: chmod 600 %s",
                self._what,
                self.path,
                stat.S_IMODE(st.st_mode),
                self.path,
            )

    def _too_large(self, size: str) -> CredentialError:
        return CredentialError(
            f"{self._what} {self.path} {size}, more than any {self._noun} could be; "
            f"{self._too_large_hint}"
        )

    def _missing(self) -> CredentialUnavailable:
        """The file is not there (yet): a provider chain may try its next identity."""
        return CredentialUnavailable(
            f"{self._what} {self.path} does not exist. Check the path, or that the agent that "
            f"writes the {self._noun} is running"
        )

    def _unreadable(self, exc: OSError) -> CredentialError:
        """The file is there (or its folder is) but cannot be read: configured, yet broken, so a
        provider chain stops here rather than quietly using another identity."""
        where = f"{self._what} {self.path}"
        if isinstance(exc, PermissionError):
            return CredentialError(
                f"{where} cannot be read: permission denied for this process "
                f"(uid {os.geteuid()}). Let the agent write it readable by this user "
                f"(owner, mode 600), and its folder searchable; ls -l {self.path} shows who owns it"
            )
        return CredentialError(
            f"{where} cannot be read: {exc.strerror or type(exc).__name__}. "
            "Check the path and the file system it is on"
        )


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return f"file type {stat.S_IFMT(mode):o}"
