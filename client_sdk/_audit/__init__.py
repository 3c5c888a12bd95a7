"""The audit trail: one PS3.15 "User Authentication" (Login) event per association attempt.

    client = Client(peer, identity=..., audit=XmlFileAuditSink("/var/log/dicom-identity/audit.xml"))

The default sink is a ``logging`` record on ``dicom_identity.audit``; ``audit=None`` records
nothing. See docs/audit.md for the fields and the EventOutcomeIndicator mapping.
"""

from client_sdk._audit.attempt import AuditAttempt
from client_sdk._audit.event import AuditEvent, EventOutcome, outcome_for
from client_sdk._audit.sinks import (
    AUDIT_LOGGER,
    DEFAULT_AUDIT_SINK,
    AuditSink,
    AuditSinks,
    AuditWriteError,
    LoggingAuditSink,
    XmlFileAuditSink,
)
from client_sdk._audit.xml import AuditSource, audit_message, audit_message_line

__all__ = [
    "AUDIT_LOGGER",
    "DEFAULT_AUDIT_SINK",
    "AuditAttempt",
    "AuditEvent",
    "AuditSink",
    "AuditSinks",
    "AuditSource",
    "AuditWriteError",
    "EventOutcome",
    "LoggingAuditSink",
    "XmlFileAuditSink",
    "audit_message",
    "audit_message_line",
    "outcome_for",
]
