"""Strict checks of the A-ASSOCIATE-AC/RJ a peer sends, before pynetdicom decodes them, and the
words for PDUs, aborts and rejections.

pynetdicom ignores the server response length of the user identity item (59H) and keeps whatever
follows it, takes the first of two such items, fails to decode the legacy 58H item that DCMTK
<= 3.6.1 acceptors sent, and raises in its state machine (killing its thread, then waiting out the
ACSE timeout) on rejection codes it does not know. These checks name the exact fault instead,
and turn a legacy 58H item into the 59H item it means, as DCMTK's requestor does.
"""

from __future__ import annotations

from dataclasses import dataclass

from client_sdk._wire.constants import (
    ABORT_REASONS,
    ABORT_SOURCES,
    ASSOCIATE_FIXED,
    ITEM_HEADER,
    MAXIMUM_LENGTH,
    PDU_HEADER,
    PDU_NAMES,
    PRESENTATION_CONTEXT_AC,
    REJECTION_REASONS,
    REJECTION_RESULTS,
    REJECTION_SOURCES,
    TRANSFER_SYNTAX,
    USER_IDENTITY_AC,
    USER_IDENTITY_ITEMS,
    USER_IDENTITY_RQ,
    USER_INFORMATION,
)
from client_sdk._wire.items import MalformedPdu, item_name, walk_items


@dataclass(frozen=True)
class AcceptCheck:
    """A checked A-ASSOCIATE-AC: the bytes to decode and what was found in them."""

    pdu: bytes  # as received, except a legacy 58H identity item retyped 59H
    identity_items: int
    legacy_identity_item: bool


def pdu_name(kind: int) -> str:
    """The PDU's name with its article: "an A-ASSOCIATE-AC", "a P-DATA-TF"."""
    name = PDU_NAMES.get(kind, f"PDU of unknown type {kind:02X}H")
    return f"{'an' if name.startswith('A-') else 'a'} {name}"


def abort_text(source: int, reason: int) -> str:
    """``"A-ABORT (source 2, service-provider: unexpected PDU)"``."""
    who = ABORT_SOURCES.get(source, "undefined")
    why = ABORT_REASONS.get(reason, "undefined reason") if source == 2 else ""
    return f"A-ABORT (source {source}, {who}{': ' + why if why else ''})"


def check_associate_ac(pdu: bytes) -> AcceptCheck:
    """Walk the items of an A-ASSOCIATE-AC; raise :class:`MalformedPdu` on any length that does
    not fit, on two user identity items, or on one whose server response length disagrees with
    its item length (PS3.7 D.3.3.7: item length = 2 + server response length)."""
    if len(pdu) < PDU_HEADER + ASSOCIATE_FIXED:
        raise MalformedPdu(
            f"the A-ASSOCIATE-AC is {len(pdu)} bytes, shorter than its fixed fields "
            f"({PDU_HEADER + ASSOCIATE_FIXED} bytes)"
        )
    out = bytearray(pdu)
    found = 0
    legacy = False
    user_information = 0
    first = PDU_HEADER + ASSOCIATE_FIXED
    for kind, start, end in walk_items(pdu, first, len(pdu), "the A-ASSOCIATE-AC"):
        if kind == PRESENTATION_CONTEXT_AC:
            _check_context_result(pdu, start, end)
        if kind != USER_INFORMATION:
            continue
        user_information += 1
        max_length = False
        for sub, s_start, s_end in walk_items(pdu, start, end, "the User Information item (50H)"):
            if sub == MAXIMUM_LENGTH:
                if s_end - s_start != 4:
                    raise MalformedPdu(f"the {item_name(sub)} holds {s_end - s_start} bytes, not 4")
                max_length = True
            if sub not in USER_IDENTITY_ITEMS:
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
                    f"the {item_name(sub)} is {room} byte(s) long, too short for its 2-byte "
                    "server response length"
                )
            declared = int.from_bytes(pdu[s_start : s_start + 2], "big")
            if declared != room - 2:
                where = "past the end of the item" if declared > room - 2 else "short of its end"
                raise MalformedPdu(
                    f"the {item_name(sub)} declares a {declared}-byte server response but holds "
                    f"{room - 2} bytes ({where})"
                )
            if sub == USER_IDENTITY_RQ:
                out[s_start - ITEM_HEADER] = USER_IDENTITY_AC
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
    name = item_name(PRESENTATION_CONTEXT_AC)
    if end - start < 4:
        raise MalformedPdu(f"a {name} is {end - start} bytes, too short for its fields")
    context_id, result = pdu[start], pdu[start + 2]
    where = f"the {name} of context {context_id}"
    syntaxes = [
        s_end - s_start
        for sub, s_start, s_end in walk_items(pdu, start + 4, end, where)
        if sub == TRANSFER_SYNTAX
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
    return result in REJECTION_RESULTS and reason in REJECTION_REASONS.get(source, {})


def rejection_text(triple: tuple[int, int, int]) -> str:
    """``"(result 1, source 2, reason 1: Rejected Permanent, ...)"``; undefined codes say so."""
    result, source, reason = triple
    if is_defined_rejection(triple):
        words = (
            f"{REJECTION_RESULTS[result]}, {REJECTION_SOURCES[source]}, "
            f"{REJECTION_REASONS[source][reason]}"
        )
    else:
        words = "codes not defined by PS3.8 Table 9-21"
    return f"(result {result}, source {source}, reason {reason}: {words})"
