"""Walk the element structure of DICOM bytes: every declared length must fit, every undefined
length must reach its delimiter, and the walk must end exactly where the data ends.

pydicom reads a truncated file without a word: ``fp.read(length)`` simply returns fewer bytes,
and fewer than 8 bytes left for an element header end the dataset quietly. So a file cut at 600
bytes reads as a short, plausible dataset. This walk reads only the element headers (tag, VR,
length), skips the values, and says where the structure breaks, in the terms of the standard
(PS3.5 7.1 data elements, 7.5 nesting of data sets, A.4 encapsulated pixel data).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
# Explicit VRs with 2 reserved bytes and a 32-bit length (PS3.5 Table 7.1-1); the others have 16.
LONG_VRS = frozenset(
    (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV")
)
# The VRs that may have an undefined length: sequences, UN (a sequence of unknown VR, PS3.5
# 6.2.2) and OB/OW (encapsulated pixel data).
UNDEFINED_LENGTH_VRS = frozenset((b"SQ", b"UN", b"OB", b"OW"))

Read = Callable[[int, int], bytes]  # (offset, count) -> at most count bytes from offset


class StructureError(Exception):
    """Where the structure breaks. ``truncated`` when the data ends before the structure does."""

    def __init__(self, message: str, *, truncated: bool) -> None:
        super().__init__(message)
        self.truncated = truncated


@dataclass
class _Frame:
    """A data set (elements) or the items of a sequence or of encapsulated pixel data."""

    items: bool
    end: int | None  # where it ends, or None: at its delimiter (undefined length)
    implicit: bool
    owner: str  # what holds it, for messages
    fragments: bool = False  # encapsulated pixel data: items are byte fragments, not data sets


def _tag(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _looks_implicit(head: bytes) -> bool:
    """pydicom's test (``filereader._is_implicit_vr``): bytes 4-5 of the first element are an
    explicit VR only if both are upper-case letters."""
    return len(head) >= 6 and not (0x40 < head[4] < 0x5B and 0x40 < head[5] < 0x5B)


def walk_elements(
    read: Read,
    size: int,
    start: int,
    *,
    little_endian: bool,
    implicit: bool,
    only_group: int | None = None,
    values: dict[int, bytes | None] | None = None,
    present: dict[int, bool] | None = None,
) -> int:
    """Walk the data set that starts at ``start`` and must end at ``size``; return where it ends.

    With ``only_group`` (2 for the File Meta Information) the walk stops before the first
    top-level element of another group and returns its offset. Top-level elements whose tag is a
    key of ``values`` get their value bytes put there (a few short ones: UIDs); those whose tag
    is a key of ``present`` get True there (their value is not read: pixel data). Raises
    :class:`StructureError` naming the element and the byte offset where the structure breaks.
    Values are skipped by their length, never read: the cost is per element, not per byte.
    """
    order = "<" if little_endian else ">"
    tag_length = struct.Struct(order + "HHI")
    short_length = struct.Struct(order + "H")
    long_length = struct.Struct(order + "I")
    first = read(start, 6)
    top = _Frame(False, size, implicit if len(first) < 6 else _looks_implicit(first), "the file")
    stack = [top]
    pos = start
    while stack:
        frame = stack[-1]
        limit = size if frame.end is None else frame.end
        if frame.end is not None and pos == frame.end:
            stack.pop()
            continue
        head = read(pos, 8)
        if len(head) < 8 or pos + 8 > limit:
            if pos + len(head) >= size:
                raise StructureError(
                    f"the data ends at byte {size} inside the header of the element at byte "
                    f"{pos} (in {frame.owner}): truncated",
                    truncated=True,
                )
            raise StructureError(
                f"the element header at byte {pos} runs past the end of {frame.owner} at byte "
                f"{limit}",
                truncated=False,
            )
        group, element, length = tag_length.unpack(head)
        tag = group << 16 | element
        if only_group is not None and frame is top and group != only_group:
            return pos
        if frame.items:
            pos = _item(read, frame, stack, tag, length, pos, size, limit)
            continue
        if tag == ITEM_END and frame.end is None and frame is not top:
            stack.pop()
            pos += 8
            continue
        if tag >> 16 == 0xFFFE:
            raise StructureError(
                f"unexpected {_tag(tag)} at byte {pos} among the elements of {frame.owner}",
                truncated=False,
            )
        vr = b""
        header = 8
        if not frame.implicit:
            vr = head[4:6]
            if vr in LONG_VRS:
                extra = read(pos + 8, 4)
                if len(extra) < 4:
                    raise StructureError(
                        f"the data ends at byte {size} inside the header of element {_tag(tag)} "
                        f"at byte {pos}: truncated",
                        truncated=True,
                    )
                (length,) = long_length.unpack(extra)
                header = 12
            else:
                (length,) = short_length.unpack(head[6:8])
        value = pos + header
        if present is not None and frame is top and tag in present:
            present[tag] = True
        if length == UNDEFINED:
            name = f"element {_tag(tag)} at byte {pos}"
            if not frame.implicit and vr not in UNDEFINED_LENGTH_VRS:
                raise StructureError(
                    f"{name} has an undefined length, which VR {vr.decode('latin-1')!r} "
                    "cannot have",
                    truncated=False,
                )
            fragments = vr in (b"OB", b"OW")
            # Items of UN of undefined length are implicit VR little endian (PS3.5 6.2.2).
            inner = frame.implicit or vr == b"UN"
            stack.append(_Frame(True, None, inner, name, fragments))
            pos = value
            continue
        if value + length > limit:  # (the element's name only for the message)
            _fits(f"element {_tag(tag)} at byte {pos}", value, length, size, limit, frame)
        if values is not None and frame is top and tag in values:
            values[tag] = read(value, length)
        if vr == b"SQ" and length:
            name = f"element {_tag(tag)} at byte {pos}"
            stack.append(_Frame(True, value + length, frame.implicit, name))
            pos = value
            continue
        pos = value + length
    return pos


def _item(
    read: Read,
    frame: _Frame,
    stack: list[_Frame],
    tag: int,
    length: int,
    pos: int,
    size: int,
    limit: int,
) -> int:
    """One item of ``frame`` (a sequence, or encapsulated pixel data); returns where to go on."""
    if tag == SEQUENCE_END and frame.end is None:
        stack.pop()
        return pos + 8
    if tag != ITEM:
        raise StructureError(
            f"expected an item (FFFE,E000) at byte {pos} in {frame.owner}, found {_tag(tag)}",
            truncated=False,
        )
    if frame.fragments:
        if length == UNDEFINED or pos + 8 + length > limit:
            name = f"the item at byte {pos} of {frame.owner}"
            if length == UNDEFINED:
                raise StructureError(f"{name} has an undefined length", truncated=False)
            _fits(name, pos + 8, length, size, limit, frame)
        return pos + 8 + length
    name = f"the item at byte {pos} of {frame.owner}"
    # An item's data set may be implicit VR in an explicit VR file; pydicom reads that (its
    # _is_implicit_vr), so the walk does too.
    implicit = frame.implicit or _looks_implicit(read(pos + 8, 6))
    if length == UNDEFINED:
        stack.append(_Frame(False, None, implicit, name))
    elif length:
        _fits(name, pos + 8, length, size, limit, frame)
        stack.append(_Frame(False, pos + 8 + length, implicit, name))
    return pos + 8


def _fits(name: str, value: int, length: int, size: int, limit: int, frame: _Frame) -> None:
    if value + length > size:
        raise StructureError(
            f"{name} declares {length} bytes of value; the data ends {value + length - size} "
            f"bytes short of that (at byte {size}): truncated",
            truncated=True,
        )
    if value + length > limit:
        raise StructureError(
            f"{name} declares {length} bytes of value, past the end of {frame.owner} at byte "
            f"{limit}",
            truncated=False,
        )
