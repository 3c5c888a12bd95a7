"""A C-STORE-RQ as the bytes of its P-DATA-TF PDUs, built directly (issue 16).

The command set is a handful of fixed elements in Implicit VR Little Endian (PS3.7 9.3.1.1,
E.1): pynetdicom builds it as a pydicom dataset and encodes it twice per message (once to learn
its group length). Here it is packed once. The command set and the data set are then cut into
fragments of the peer's maximum PDU length, one presentation data value per P-DATA-TF PDU, as
pynetdicom does (PS3.8 9.3.5, E.2): ``tests/test_command_set_encoding.py`` checks the bytes
against pynetdicom's for many lengths.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from client_sdk._wire.constants import P_DATA_TF

C_STORE_RQ = 0x0001  # Command Field (0000,0100)
# Command Data Set Type (0000,0800): any value but 0x0101 says a data set follows (PS3.7
# E.1-1); 0x0001 is what pynetdicom sends.
DATA_SET_PRESENT = 0x0001
PRIORITY_LOW = 0x0002  # Priority (0000,0700): pynetdicom's send_c_store default
MAX_MESSAGE_ID = 0xFFFF
# A PDV item's own bytes besides the fragment: item length (4), context ID, control header.
PDV_OVERHEAD = 6
# Message Control Header bits (PS3.8 E.2): a command fragment (else data set), the last one.
COMMAND_FRAGMENT = 0x01
LAST_FRAGMENT = 0x02
# What pynetdicom accepts as a UID in a DIMSE primitive (pynetdicom.utils.validate_uid).
_VALID_UID = re.compile(r"[0-9.]{1,64}")

_ELEMENT_HEADER = struct.Struct("<HHI")  # group, element, value length (Implicit VR LE)
_US_ELEMENT = struct.Struct("<HHIH")
_UL_ELEMENT = struct.Struct("<HHII")
_PDU_AND_PDV_HEADER = struct.Struct(">BBIIBB")  # PDU type, reserved, PDU length; PDV header


def valid_uid(uid: str) -> bool:
    """True when pynetdicom would put ``uid`` in a request as it is (digits and dots, 1-64)."""
    return _VALID_UID.fullmatch(uid) is not None


def _text(element: int, value: bytes, pad: bytes) -> bytes:
    if len(value) % 2:
        value += pad  # every value has an even length (PS3.5 7.1.1)
    return _ELEMENT_HEADER.pack(0x0000, element, len(value)) + value


def command_set(
    sop_class: str,
    sop_instance: str,
    message_id: int,
    *,
    priority: int = PRIORITY_LOW,
    move_originator: tuple[str, int] | None = None,
) -> bytes:
    """The C-STORE-RQ command set, (0000,0000) Command Group Length first; ``move_originator``
    is the C-MOVE's AE title and message ID when this store is a C-MOVE sub-operation."""
    if not 0 <= message_id <= MAX_MESSAGE_ID:
        raise ValueError(f"a message ID is 0-65535: {message_id}")
    elements = [
        _text(0x0002, sop_class.encode("ascii"), b"\x00"),  # Affected SOP Class UID
        _US_ELEMENT.pack(0x0000, 0x0100, 2, C_STORE_RQ),
        _US_ELEMENT.pack(0x0000, 0x0110, 2, message_id),
        _US_ELEMENT.pack(0x0000, 0x0700, 2, priority),
        _US_ELEMENT.pack(0x0000, 0x0800, 2, DATA_SET_PRESENT),
        _text(0x1000, sop_instance.encode("ascii"), b"\x00"),  # Affected SOP Instance UID
    ]
    if move_originator is not None:
        title, move_id = move_originator
        elements.append(_text(0x1030, title.strip().encode("ascii"), b" "))
        elements.append(_US_ELEMENT.pack(0x0000, 0x1031, 2, move_id))
    body = b"".join(elements)
    return _UL_ELEMENT.pack(0x0000, 0x0000, 4, len(body)) + body


def fragments(
    command: bytes, data: bytes | memoryview, max_pdu_length: int
) -> Iterator[tuple[int, memoryview]]:
    """(Message Control Header, fragment) of each PDV, in order: the command set, then the data
    set (none when empty), each cut so that a PDV fits ``max_pdu_length`` (0: no limit)."""
    if 0 < max_pdu_length <= PDV_OVERHEAD:
        raise ValueError(f"a maximum PDU length of {max_pdu_length} leaves no room for data")
    for part, kind in ((memoryview(command), COMMAND_FRAGMENT), (memoryview(data), 0)):
        if not part and kind != COMMAND_FRAGMENT:
            continue
        size = len(part) if max_pdu_length == 0 else max_pdu_length - PDV_OVERHEAD
        for start in range(0, len(part), size):
            last = start + size >= len(part)
            yield kind | (LAST_FRAGMENT if last else 0), part[start : start + size]


def p_data_tf(context_id: int, pdvs: Iterator[tuple[int, memoryview]]) -> bytes:
    """The P-DATA-TF PDUs carrying ``pdvs``, one presentation data value each, back to back."""
    parts: list[bytes | memoryview] = []
    for control, fragment in pdvs:
        size = len(fragment)
        header = _PDU_AND_PDV_HEADER.pack(P_DATA_TF, 0, size + 6, size + 2, context_id, control)
        parts += (header, fragment)
    return b"".join(parts)
