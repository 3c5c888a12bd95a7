"""Strict checks of the A-ASSOCIATE-AC/RJ a peer sends, before pynetdicom decodes them.

pynetdicom ignores the server response length of the user identity item (59H) and keeps whatever
follows it, takes the first of two such items, fails to decode the legacy 58H item that DCMTK
<= 3.6.1 acceptors sent, and raises in its state machine (killing its thread, then waiting out the
ACSE timeout) on rejection codes it does not know. These checks name the exact fault instead,
and turn a legacy 58H item into the 59H item it means, as DCMTK's requestor does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "AcceptCheck",
    "MalformedPdu",
    "check_associate_ac",
    "is_defined_rejection",
    "rejection_codes",
    "rejection_text",
]

AC_FIXED = 68  # protocol version, reserved, called/calling AE titles, reserved (PS3.8 9.3.3)
PDU_HEADER = 6
ITEM_HEADER = 4

_ITEM_NAMES = {
    0x10: "Application Context",
    0x21: "Presentation Context",
    0x40: "Transfer Syntax",
    0x50: "User Information",
    0x51: "Maximum Length",
    0x52: "Implementation Class UID",
    0x53: "Asynchronous Operations Window",
    0x54: "SCP/SCU Role Selection",
    0x55: "Implementation Version Name",
    0x56: "SOP Class Extended Negotiation",
    0x57: "SOP Class Common Extended Negotiation",
    0x58: "User Identity (legacy 58H)",
    0x59: "User Identity",
}

# PS3.8 Table 9-21, in pynetdicom's wording (which messages and users already know).
RESULTS = {1: "Rejected Permanent", 2: "Rejected Transient"}
SOURCES = {
    1: "Service User",
    2: "Service Provider (ACSE)",
    3: "Service Provider (Presentation)",
}
REASONS = {
    1: {
        1: "No reason given",
        2: "Application context name not supported",
        3: "Calling AE title not recognised",
        7: "Called AE title not recognised",
    },
    2: {1: "No reason given", 2: "Protocol version not supported"},
    3: {1: "Temporary congestion", 2: "Local limit exceeded"},
}


class MalformedPdu(ValueError):
    """The peer's bytes break PS3.8/PS3.7; the message says where (and never holds the bytes)."""


@dataclass(frozen=True)
class AcceptCheck:
    """A checked A-ASSOCIATE-AC: the bytes to decode and what was found in them."""

    pdu: bytes  # as received, except a legacy 58H identity item retyped 59H
    identity_items: int
    legacy_identity_item: bool


def _name(kind: int) -> str:
    return f"{_ITEM_NAMES.get(kind, 'unknown')} item ({kind:02X}H)"


def _items(data: bytes, start: int, end: int, where: str) -> Iterator[tuple[int, int, int]]:
    """(item type, body start, body end) of each item between ``start`` and ``end``."""
    pos = start
    while pos < end:
        if end - pos < ITEM_HEADER:
            raise MalformedPdu(f"{end - pos} stray byte(s) at the end of {where}")
        kind = data[pos]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        room = end - pos - ITEM_HEADER
        if length > room:
            raise MalformedPdu(
                f"the {_name(kind)} declares {length} bytes but only {room} remain in {where}"
            )
        yield kind, pos + ITEM_HEADER, pos + ITEM_HEADER + length
        pos += ITEM_HEADER + length


def check_associate_ac(pdu: bytes) -> AcceptCheck:
    """Walk the items of an A-ASSOCIATE-AC; raise :class:`MalformedPdu` on any length that does
    not fit, on two user identity items, or on one whose server response length disagrees with
    its item length (PS3.7 D.3.3.7: item length = 2 + server response length)."""
    if len(pdu) < PDU_HEADER + AC_FIXED:
        raise MalformedPdu(
            f"the A-ASSOCIATE-AC is {len(pdu)} bytes, shorter than its fixed fields "
            f"({PDU_HEADER + AC_FIXED} bytes)"
        )
    out = bytearray(pdu)
    found = 0
    legacy = False
    user_information = 0
    for kind, start, end in _items(pdu, PDU_HEADER + AC_FIXED, len(pdu), "the A-ASSOCIATE-AC"):
        if kind == 0x21:
            _check_context_result(pdu, start, end)
        if kind != 0x50:
            continue
        user_information += 1
        max_length = False
        for sub, s_start, s_end in _items(pdu, start, end, "the User Information item (50H)"):
            if sub == 0x51:
                if s_end - s_start != 4:
                    raise MalformedPdu(f"the {_name(sub)} holds {s_end - s_start} bytes, not 4")
                max_length = True
            if sub not in (0x58, 0x59):
                continue
            found += 1
            if found > 1:
                raise MalformedPdu(
                    "it holds two User Identity items; PS3.7 D.3.3.7 allows one, and which "
                    "answer counts would be a guess"
                )
            room = s_end - s_start
            if room < 2:
                raise MalformedPdu(
                    f"the {_name(sub)} is {room} byte(s) long, too short for its 2-byte "
                    "server response length"
                )
            declared = int.from_bytes(pdu[s_start : s_start + 2], "big")
            if declared != room - 2:
                where = "past the end of the item" if declared > room - 2 else "short of its end"
                raise MalformedPdu(
                    f"the {_name(sub)} declares a {declared}-byte server response but holds "
                    f"{room - 2} bytes ({where})"
                )
            if sub == 0x58:
                out[s_start - ITEM_HEADER] = 0x59
                legacy = True
        if not max_length:
            # PS3.8 D.1: mandatory; pynetdicom fails on the first P-DATA without it.
            raise MalformedPdu("its User Information item (50H) has no Maximum Length item (51H)")
    if user_information != 1:
        raise MalformedPdu(f"it holds {user_information} User Information items (50H), not one")
    return AcceptCheck(bytes(out), found, legacy)


def _check_context_result(pdu: bytes, start: int, end: int) -> None:
    """A Presentation Context item (21H) of an AC: ID, reserved, result, reserved, then the
    transfer syntax sub-item, which an acceptance (result 0) must have (PS3.8 9.3.3.2)."""
    if end - start < 4:
        raise MalformedPdu(f"a {_name(0x21)} is {end - start} bytes, too short for its fields")
    context_id, result = pdu[start], pdu[start + 2]
    where = f"the {_name(0x21)} of context {context_id}"
    syntaxes = [
        s_end - s_start for sub, s_start, s_end in _items(pdu, start + 4, end, where) if sub == 0x40
    ]
    if result == 0 and (len(syntaxes) != 1 or not syntaxes[0]):
        raise MalformedPdu(
            f"it accepts presentation context {context_id} with {len(syntaxes)} transfer "
            "syntaxes; an acceptance names exactly one"
        )


def rejection_codes(pdu: bytes) -> tuple[int, int, int]:
    """The raw (result, source, reason) of an A-ASSOCIATE-RJ PDU."""
    if len(pdu) < PDU_HEADER + 4:
        raise MalformedPdu(f"the A-ASSOCIATE-RJ is {len(pdu)} bytes, shorter than its 10")
    return pdu[7], pdu[8], pdu[9]


def is_defined_rejection(triple: tuple[int, int, int]) -> bool:
    result, source, reason = triple
    return result in RESULTS and reason in REASONS.get(source, {})


def rejection_text(triple: tuple[int, int, int]) -> str:
    """``"(result 1, source 2, reason 1: Rejected Permanent, ...)"``; undefined codes say so."""
    result, source, reason = triple
    if is_defined_rejection(triple):
        words = f"{RESULTS[result]}, {SOURCES[source]}, {REASONS[source][reason]}"
    else:
        words = "codes not defined by PS3.8 Table 9-21"
    return f"(result {result}, source {source}, reason {reason}: {words})"
