"""Where audit events go: a logging record (the default), or DICOM audit messages in a file."""

from __future__ import annotations

import logging
import os
import resource
import stat
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from client_sdk._audit.event import AuditEvent
from client_sdk._audit.xml import AuditSource, audit_message_line
from client_sdk._errors import AuditUnavailable
from providers._errors import IdentityError

AUDIT_LOGGER = "dicom_identity.audit"
_FILE_MODE = 0o640  # the audit forwarder's group may read it; nobody else
# Less room than this and no audit message fits: the smallest line is about 1040 bytes.
MIN_ROOM = 1024


class AuditWriteError(IdentityError):
    """An audit sink could not record an event. The association flow logs it and goes on."""


@runtime_checkable
class AuditSink(Protocol):
    """Anything that takes one :class:`AuditEvent` per association attempt.

    Called from the thread that opened the association, once the attempt has ended; must be
    thread-safe (a Client may associate from many threads). An exception it raises is logged
    and never breaks the association.
    """

    def record(self, event: AuditEvent) -> None: ...


class LoggingAuditSink:
    """One ``logging`` record per event on the logger ``dicom_identity.audit``, at INFO.

    The record's ``audit`` attribute (``extra``) holds :meth:`AuditEvent.as_dict`, for structured
    formatters; its message is one readable line.
    """

    def __init__(self, logger: str | logging.Logger = AUDIT_LOGGER, level: int = logging.INFO):
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level

    def record(self, event: AuditEvent) -> None:
        self.logger.log(
            self.level,
            "User Authentication (Login) outcome=%d principal=%r peer=%s@%s:%d calling=%s %s",
            int(event.outcome),
            event.principal,
            event.called_ae_title,
            event.peer_host,
            event.peer_port,
            event.calling_ae_title,
            event.description,
            extra={"audit": event.as_dict()},
        )

    def __repr__(self) -> str:
        return f"LoggingAuditSink({self.logger.name!r})"


class XmlFileAuditSink:
    """Appends each event to ``path`` as one DICOM audit message (XML) per line.

    The file is opened in append mode for each message and written with a single ``write`` of
    the whole line, under a lock: threads never interleave lines (nor do processes, through
    O_APPEND, on a local file system), and a rotated file (renamed by logrotate) is picked up
    at the next message.
    ``fsync=True`` flushes each message to disk before the association goes on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: AuditSource | None = None,
        fsync: bool = False,
    ) -> None:
        self.path = Path(path)
        self.source = source if source is not None else AuditSource()
        self.fsync = fsync
        self._lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        data = audit_message_line(event, self.source).encode("utf-8")
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _FILE_MODE)
            except OSError as exc:
                raise AuditWriteError(
                    f"cannot open the audit file {self.path}: {exc.strerror or exc}. Check that "
                    "its folder exists and is writable, or configure another [audit] file"
                ) from None
            try:
                # No room for the whole line: fail before writing part of it (see _check_room).
                _check_room(fd, self.path, len(data))
                written = os.write(fd, data)
                if written != len(data):  # a full disk; a partial line would corrupt the file
                    raise OSError(0, f"short write ({written} of {len(data)} bytes)")
                if self.fsync:
                    os.fsync(fd)
            except OSError as exc:
                raise AuditWriteError(
                    f"cannot write to the audit file {self.path}: {exc.strerror or exc}. "
                    "Check the free space of its file system"
                ) from None
            finally:
                os.close(fd)

    def check(self) -> None:
        """:class:`AuditWriteError` unless a message could be appended now: the file opens for
        appending (created if missing), is a regular file, and neither its file system nor the
        process's file size limit (``ulimit -f``) leaves less room than the smallest message.

        A message that does not fit although this passed fails in :meth:`record`."""
        with self._lock:
            try:
                # O_NONBLOCK: a FIFO put in the file's place must not block the check.
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK
                fd = os.open(self.path, flags, _FILE_MODE)
            except OSError as exc:
                raise AuditWriteError(
                    f"cannot open the audit file {self.path} for appending: "
                    f"{exc.strerror or exc}. Check that it is a file in a writable folder on a "
                    "writable file system, or configure another [audit] file"
                ) from None
            try:
                _check_room(fd, self.path, MIN_ROOM)
            finally:
                os.close(fd)

    def __repr__(self) -> str:
        return f"XmlFileAuditSink({str(self.path)!r}, fsync={self.fsync})"


def _check_room(fd: int, path: Path, need: int) -> None:
    """:class:`AuditWriteError` unless ``fd`` is a regular file with room for ``need`` more
    bytes on its file system and under the process's file size limit.

    Free blocks are counted whole: on a full file system the room left in the file's last block
    is not counted, so a line that might still have fitted there is refused too."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise AuditWriteError(
            f"the audit file {path} is not a regular file; configure the path of a file"
        )
    fs = os.fstatvfs(fd)
    # root may write into the blocks reserved for it (f_bfree); other users only f_bavail.
    free = (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail) * fs.f_frsize
    if free < need:
        raise AuditWriteError(
            f"the file system of the audit file {path} is full ({free} bytes free, an audit "
            f"message needs {need}). Free space there, or configure another [audit] file"
        )
    limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit != resource.RLIM_INFINITY and limit - info.st_size < need:
        raise AuditWriteError(
            f"the audit file {path} is {info.st_size} bytes and this process may write files "
            f"of at most {limit} bytes (ulimit -f), too little for an audit message of {need} "
            "bytes. Rotate the file, or raise the limit"
        )


class AuditSinks:
    """Several sinks: each gets every event, even when one before it failed."""

    def __init__(self, sinks: Iterable[AuditSink]) -> None:
        self.sinks = tuple(sinks)

    def record(self, event: AuditEvent) -> None:
        failures: list[str] = []
        for sink in self.sinks:
            try:
                sink.record(event)
            except Exception as exc:
                failures.append(f"{sink!r}: {type(exc).__name__}: {exc}")
        if failures:
            raise AuditWriteError("; ".join(failures))

    def check(self) -> None:
        """Every sink that can be checked (:func:`check_audit_sink`)."""
        for sink in self.sinks:
            check_audit_sink(sink)

    def __repr__(self) -> str:
        return f"AuditSinks({list(self.sinks)!r})"


# What a Client records to unless told otherwise: stateless, so one instance serves every client.
DEFAULT_AUDIT_SINK = LoggingAuditSink()


def check_audit_sink(sink: AuditSink) -> None:
    """Raise what ``sink.check()`` raises, for a sink that has a ``check()`` method (an
    :class:`XmlFileAuditSink`, an :class:`AuditSinks`, or your own); others pass."""
    check = getattr(sink, "check", None)
    if callable(check):
        check()


def reports_failures(sink: AuditSink) -> bool:
    """False for a sink that cannot tell that an event was not written: a logging record
    (logging's handlers report their own errors to stderr and go on), or only such sinks."""
    if isinstance(sink, LoggingAuditSink):
        return False
    if isinstance(sink, AuditSinks):
        return any(reports_failures(member) for member in sink.sinks)
    return True


def audit_unavailable(
    sink: AuditSink, error: BaseException, *, established: bool
) -> AuditUnavailable:
    """The error of a required audit trail that cannot take an event (``error`` says why)."""
    done = (
        "the association was aborted before any DIMSE operation"
        if established
        else "no association was requested and no credential was fetched"
    )
    return AuditUnavailable(
        "the audit trail is required (audit_required, [audit] required = true, "
        f"--audit-required) and cannot record the association: {error}. So {done}",
        sink=sink,
    )
