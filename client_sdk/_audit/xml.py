"""An :class:`AuditEvent` as a DICOM audit message: XML with the element names of the PS3.15 A.5.1
schema, on one line (for a file that an audit forwarder ships to an Audit Record Repository).

The message, after A.5.3.12 "User Authentication" (no participant objects)::

    <AuditMessage>
      <EventIdentification EventActionCode="E" EventDateTime=".." EventOutcomeIndicator="0">
        <EventID csd-code="110114" codeSystemName="DCM" originalText="User Authentication"/>
        <EventTypeCode csd-code="110122" codeSystemName="DCM" originalText="Login"/>
        <EventOutcomeDescription>identity=jwt ... decision=confirmed</EventOutcomeDescription>
      </EventIdentification>
      <ActiveParticipant UserID="PRINCIPAL" UserIsRequestor="true"
                         NetworkAccessPointID="THIS HOST" NetworkAccessPointTypeCode="1"/>
      <ActiveParticipant UserID="PID" AlternativeUserID="AETITLES=CALLING" UserIsRequestor="true"
                         NetworkAccessPointID="THIS HOST" NetworkAccessPointTypeCode="1">
        <RoleIDCode csd-code="110153" codeSystemName="DCM" originalText="Source Role ID"/>
      </ActiveParticipant>
      <ActiveParticipant UserID="HOST:PORT" AlternativeUserID="AETITLES=CALLED"
                         UserIsRequestor="false" NetworkAccessPointID="PEER HOST"
                         NetworkAccessPointTypeCode="2">
        <RoleIDCode csd-code="110152" codeSystemName="DCM" originalText="Destination Role ID"/>
      </ActiveParticipant>
      <AuditSourceIdentification AuditSourceID="..."><AuditSourceTypeCode csd-code="4"/>
      </AuditSourceIdentification>
    </AuditMessage>

ElementTree escapes every value; control characters (which XML 1.0 cannot carry, and which would
break the one-message-a-line file) are written as ``\\xNN`` first.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from client_sdk._audit.event import AuditEvent, is_ip_address

UNKNOWN_USER = "(unknown)"  # UserID of a person claimed but not named (a JWT without "sub")

EVENT_ID = ("110114", "DCM", "User Authentication")
LOGIN = ("110122", "DCM", "Login")
SOURCE_ROLE = ("110153", "DCM", "Source Role ID")
DESTINATION_ROLE = ("110152", "DCM", "Destination Role ID")
# AuditSourceTypeCode 4: "Application Server process or thread" (the SDK runs in an application).
APPLICATION_SERVER = "4"

# XML 1.0 has no place for C0 controls (but tab), DEL-C1 are legal yet unsafe in logs;
# a line break would split the message over two lines.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _default_source_id() -> str:
    return f"dicom-identity@{socket.gethostname()}"


@dataclass(frozen=True)
class AuditSource:
    """AuditSourceIdentification: who reports. ``source_id`` defaults to
    ``dicom-identity@HOSTNAME``; ``site_id`` is the optional AuditEnterpriseSiteID."""

    source_id: str = field(default_factory=_default_source_id)
    site_id: str | None = None
    type_code: str = APPLICATION_SERVER


def _safe(value: object) -> str:
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _coded(parent: ET.Element, tag: str, code: tuple[str, str, str]) -> ET.Element:
    csd_code, system, meaning = code
    return ET.SubElement(
        parent, tag, {"csd-code": csd_code, "codeSystemName": system, "originalText": meaning}
    )


def _access_point(host: str) -> dict[str, str]:
    return {
        "NetworkAccessPointID": _safe(host),
        "NetworkAccessPointTypeCode": "2" if is_ip_address(host) else "1",
    }


def audit_message(event: AuditEvent, source: AuditSource | None = None) -> ET.Element:
    """The ``AuditMessage`` element of ``event``."""
    source = source if source is not None else AuditSource()
    root = ET.Element("AuditMessage")
    identification = ET.SubElement(
        root,
        "EventIdentification",
        {
            "EventActionCode": "E",
            "EventDateTime": event.time.isoformat(timespec="milliseconds"),
            "EventOutcomeIndicator": str(int(event.outcome)),
        },
    )
    _coded(identification, "EventID", EVENT_ID)
    _coded(identification, "EventTypeCode", LOGIN)
    ET.SubElement(identification, "EventOutcomeDescription").text = _safe(event.description)

    if event.identity_type != "none":  # the person authenticated or claimed
        ET.SubElement(
            root,
            "ActiveParticipant",
            {
                "UserID": _safe(event.principal or UNKNOWN_USER),
                "UserIsRequestor": "true",
                **_access_point(event.requestor_host),
            },
        )
    process = ET.SubElement(
        root,
        "ActiveParticipant",
        {
            "UserID": str(event.process_id),
            "AlternativeUserID": _safe(f"AETITLES={event.calling_ae_title}"),
            "UserIsRequestor": "true",
            **_access_point(event.requestor_host),
        },
    )
    _coded(process, "RoleIDCode", SOURCE_ROLE)
    peer = ET.SubElement(
        root,
        "ActiveParticipant",
        {
            "UserID": _safe(f"{event.peer_host}:{event.peer_port}"),
            "AlternativeUserID": _safe(f"AETITLES={event.called_ae_title}"),
            "UserIsRequestor": "false",
            **_access_point(event.peer_host),
        },
    )
    _coded(peer, "RoleIDCode", DESTINATION_ROLE)

    reporter = {"AuditSourceID": _safe(source.source_id)}
    if source.site_id:
        reporter["AuditEnterpriseSiteID"] = _safe(source.site_id)
    identified = ET.SubElement(root, "AuditSourceIdentification", reporter)
    ET.SubElement(identified, "AuditSourceTypeCode", {"csd-code": source.type_code})
    return root


def audit_message_line(event: AuditEvent, source: AuditSource | None = None) -> str:
    """The message as one line of XML (no declaration, no line break inside), ending in ``\\n``."""
    text = ET.tostring(audit_message(event, source), encoding="unicode")
    return text + "\n"
