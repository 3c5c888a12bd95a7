"""The one walker over the items of an A-ASSOCIATE PDU, and what it answers for redaction.

PS3.8 9.3.2-3: after the fixed fields, an A-ASSOCIATE-RQ/AC is a run of items (type, reserved,
2-byte length, body); the User Information item (50H) holds sub-items of the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator

from client_sdk._wire.constants import (
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RQ,
    AC_ITEM_NAMES,
    ASSOCIATE_FIXED,
    ITEM_HEADER,
    PDU_HEADER,
    USER_IDENTITY_ITEMS,
    USER_INFORMATION,
)


class MalformedPdu(ValueError):
    """The peer's bytes break PS3.8/PS3.7; the message says where (and never holds the bytes)."""


def item_name(kind: int) -> str:
    """``"User Information item (50H)"``."""
    return f"{AC_ITEM_NAMES.get(kind, 'unknown')} item ({kind:02X}H)"


def walk_items(data: bytes, start: int, end: int, where: str) -> Iterator[tuple[int, int, int]]:
    """(item type, body start, body end) of each item between ``start`` and ``end``; raises
    :class:`MalformedPdu` on stray bytes or a length past ``end``, naming ``where``."""
    pos = start
    while pos < end:
        if end - pos < ITEM_HEADER:
            raise MalformedPdu(f"{end - pos} stray byte(s) at the end of {where}")
        kind = data[pos]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        room = end - pos - ITEM_HEADER
        if length > room:
            raise MalformedPdu(
                f"the {item_name(kind)} declares {length} bytes but only {room} remain in {where}"
            )
        yield kind, pos + ITEM_HEADER, pos + ITEM_HEADER + length
        pos += ITEM_HEADER + length


def carries_user_identity(pdu: bytes) -> bool:
    """Whether an encoded PDU may hold a user identity item (58H or 59H).

    Only an A-ASSOCIATE-RQ or -AC can; for those, anything that does not parse cleanly counts as
    carrying one (fail closed: a truncated or hostile PDU is not dumped)."""
    if not pdu or pdu[0] not in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC):
        return False
    end = PDU_HEADER + int.from_bytes(pdu[2:6], "big")
    if len(pdu) < PDU_HEADER + ASSOCIATE_FIXED or end != len(pdu):
        return True
    try:
        for kind, start, stop in walk_items(pdu, PDU_HEADER + ASSOCIATE_FIXED, end, "the PDU"):
            if kind != USER_INFORMATION:
                continue
            for sub, _, _ in walk_items(pdu, start, stop, "its User Information item"):
                if sub in USER_IDENTITY_ITEMS:
                    return True
    except MalformedPdu:
        return True
    return False
