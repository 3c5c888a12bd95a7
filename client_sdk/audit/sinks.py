"""Where audit events go: a logging record (the default), or DICOM audit messages in a file."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from client_sdk.audit.event import AuditEvent
from client_sdk.audit.xml import AuditSource, audit_message_line
from providers.errors import IdentityError

__all__ = [
    "AUDIT_LOGGER",
    "DEFAULT_AUDIT_SINK",
    "AuditSink",
    "AuditSinks",
    "AuditWriteError",
    "LoggingAuditSink",
    "XmlFileAuditSink",
]

AUDIT_LOGGER = "dicom_identity.audit"
_FILE_MODE = 0o640  # the audit forwarder's group may read it; nobody else


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

    def __repr__(self) -> str:
        return f"XmlFileAuditSink({str(self.path)!r}, fsync={self.fsync})"


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

    def __repr__(self) -> str:
        return f"AuditSinks({list(self.sinks)!r})"


# What a Client records to unless told otherwise: stateless, so one instance serves every client.
DEFAULT_AUDIT_SINK = LoggingAuditSink()
