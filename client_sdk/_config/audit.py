"""``[audit]``: where the audit events of every association go (see docs/audit.md).

    [audit]
    file = "/var/log/dicom-identity/audit.xml"   # DICOM audit messages (XML), one per line
    log = true         # also a logging record on "dicom_identity.audit" (the default)
    fsync = false      # flush each message to disk before the association goes on
    required = false   # true: no association goes on whose event cannot be written
    source_id = "RAD_WS_07"       # AuditSourceID (default: dicom-identity@HOSTNAME)
    site_id = "RADIOLOGY"         # AuditEnterpriseSiteID (default: none)

``--audit-file`` (``Overrides(audit_file=...)``) overrides the file; ``log = false`` without a
file records nothing. ``required = true`` (``--audit-required``, ``Client(audit_required=True)``)
needs the file: an association is not requested when the file cannot take a message (it cannot
be opened for appending, its file system is full, the file size limit is reached), and one whose
event cannot be written is aborted before any DIMSE operation (``AuditUnavailable``, exit 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client_sdk._audit.sinks import AuditSink, AuditSinks, LoggingAuditSink, XmlFileAuditSink
from client_sdk._audit.xml import AuditSource
from client_sdk._config import values as v
from client_sdk._config.problems import InvalidConfig
from client_sdk._config.settings import Resolved

AUDIT_KEYS: Mapping[str, v.Check] = {
    "file": v.text,
    "log": v.flag,
    "fsync": v.flag,
    "required": v.flag,
    "source_id": v.text,
    "site_id": v.text,
}


@dataclass(frozen=True)
class AuditConfig:
    """``[audit]`` as the file gives it; ``None``: not set (the precedence table's default)."""

    file: str | None = None
    log: bool | None = None
    fsync: bool | None = None
    required: bool | None = None
    source_id: str | None = None
    site_id: str | None = None


def audit_config(values: Mapping[str, Any], base_dir: Path) -> AuditConfig:
    """The checked values of ``[audit]``; a relative ``file`` is relative to the file's folder."""
    values = dict(values)
    if "file" in values:
        path = Path(values["file"]).expanduser()
        values["file"] = str(path if path.is_absolute() else base_dir / path)
    return AuditConfig(**values)


def build_audit(resolved: Mapping[str, Resolved]) -> AuditSink | None:
    """The sink(s) of the effective ``audit.*`` settings, or None."""
    sinks: list[AuditSink] = []
    if resolved["audit.log"].value:
        sinks.append(LoggingAuditSink())
    file = resolved["audit.file"]
    if file.value is not None:
        path = Path(file.value).expanduser().absolute()
        _check_writable_place(path, file.source)
        source = AuditSource(site_id=resolved["audit.site_id"].value)
        if resolved["audit.source_id"].value is not None:
            source = AuditSource(resolved["audit.source_id"].value, source.site_id)
        sinks.append(XmlFileAuditSink(path, source=source, fsync=resolved["audit.fsync"].value))
    required = resolved["audit.required"]
    if required.value and file.value is None:
        raise InvalidConfig(
            [
                f"audit.required = true ({required.source}) needs audit.file (or --audit-file): "
                "a logging record cannot tell that it was not written"
            ]
        )
    if not sinks:
        return None
    return sinks[0] if len(sinks) == 1 else AuditSinks(sinks)


def _check_writable_place(path: Path, source: str) -> None:
    """A folder that is missing or a path that is a folder: say so now, not at the first event."""
    if path.is_dir():
        problem = "is a folder; give the path of a file (it is created if missing)"
    elif not path.parent.is_dir():
        problem = f"its folder {path.parent} does not exist; create it or choose another file"
    else:
        return
    raise InvalidConfig([f"audit.file {str(path)!r} ({source}): {problem}"])
