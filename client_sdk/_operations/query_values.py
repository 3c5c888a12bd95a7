"""A query key's value checked against the VR of its attribute, for C-FIND matching (PS3.4 C.2.2.2).

What a query may hold differs from what an instance may: ``*`` and ``?`` are wildcards in the text
VRs (C.2.2.2.4) and nowhere else; DA, TM and DT take ranges ``A-B``, ``A-`` and ``-B`` (C.2.2.2.5);
a backslash separates values, e.g. a list of UIDs any of which matches (C.2.2.2.2). Anything else
is checked with pydicom's own VR rules (``pydicom.valuerep``).
"""

from __future__ import annotations

import calendar
from typing import Any

from pydicom import config
from pydicom.valuerep import validate_value

WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
"""The VRs whose query values may hold ``*`` and ``?`` (PS3.4 C.2.2.2.4)."""

_INTEGER_VRS = frozenset({"SL", "SS", "SV", "UL", "US", "UV"})
_FLOAT_VRS = frozenset({"FD", "FL"})
_ASK_ONLY_VRS = frozenset({"AT", "OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UR", "UT"})  # a backslash is part of the text

_FORMATS = {
    "AE": "up to 16 characters",
    "AS": "three digits and D, W, M or Y, e.g. 045Y",
    "CS": "up to 16 upper-case letters, digits, spaces and underscores",
    "DA": "YYYYMMDD, or a range A-B, A- (from A) or -B (up to B)",
    "DS": "a decimal number of up to 16 characters",
    "DT": "YYYYMMDDHHMMSS.FFFFFF&ZZXX (leading parts), or a range A-B, A- or -B",
    "IS": "an integer of up to 12 characters",
    "LO": "up to 64 characters",
    "LT": "up to 10240 characters",
    "PN": "up to three =-separated groups of ^-separated components, 64 characters each",
    "SH": "up to 16 characters",
    "ST": "up to 1024 characters",
    "TM": "HHMMSS.FFFFFF (leading parts), or a range A-B, A- (from A) or -B (up to B)",
    "UC": "characters without a backslash",
    "UI": "digits and dots, up to 64 characters, no leading zero in a component",
    "UR": "a URI or URL without spaces",
    "UT": "text",
}
_RANGE_EXAMPLES = {"DA": "20240101-20241231", "TM": "080000-120000", "DT": "20240101-20241231"}


def check_value(name: str, vr: str, value: str) -> Any:
    """The element value to send for ``value`` of attribute ``name`` (VR ``vr``): None for an
    empty value (universal matching), a string, a number, or a list of them. Raises
    :class:`ValueError` saying what is wrong and how to write it."""
    if not value:
        return None
    if vr in _ASK_ONLY_VRS:
        raise ValueError(
            f"{name} has VR {vr}: a query can only ask for it (an empty value: {name}=)"
        )
    values = [value] if vr in _SINGLE_TEXT_VRS else value.split("\\")
    if len(values) > 1 and not all(values):
        raise ValueError(
            f"an empty value in the list {_quoted(value)}: separate values with one backslash, no "
            "backslash at either end"
        )
    checked = [_check_one(name, vr, one) for one in values]
    return checked[0] if len(checked) == 1 else checked


def _check_one(name: str, vr: str, value: str) -> Any:
    if vr not in WILDCARD_VRS and ("*" in value or "?" in value):
        raise ValueError(_no_wildcards(name, vr, value))
    if vr in _INTEGER_VRS or vr in _FLOAT_VRS:
        return _number(name, vr, value)
    # A wildcard is a valid character of the value for the length; 'A' fits every text VR's rule.
    plain = value.replace("*", "A").replace("?", "A") if vr in WILDCARD_VRS else value
    try:
        validate_value(vr, plain, config.RAISE)
    except ValueError:
        raise ValueError(_invalid(name, vr, value)) from None
    if vr in ("DA", "TM") and value.count("-") == 1:
        low, high = value.split("-")
        if low and high and _comparable(vr, low) > _comparable(vr, high):
            raise ValueError(
                f"the range {_quoted(value)} starts after it ends: write {name}={high}-{low}"
            )
    return value


def _quoted(value: str, limit: int = 60) -> str:
    return (
        f"'{value}'" if len(value) <= limit else f"'{value[:limit]}...' ({len(value)} characters)"
    )


def _comparable(vr: str, value: str) -> str:
    # TM may be cut after any part (HH, HHMM, ...): pad it so that text order is time order.
    return value.replace(".", "").ljust(12, "0") if vr == "TM" else value


def _number(name: str, vr: str, value: str) -> int | float:
    try:
        number: int | float = int(value) if vr in _INTEGER_VRS else float(value)
    except ValueError:
        kind = "an integer" if vr in _INTEGER_VRS else "a number"
        raise ValueError(f"{_quoted(value)} is not {kind}, as VR {vr} of {name} needs") from None
    try:
        validate_value(vr, number, config.RAISE)
    except ValueError as exc:
        raise ValueError(
            f"{_quoted(value)} does not fit VR {vr} of {name}: {str(exc).rstrip('.')}"
        ) from None
    return number


def _invalid(name: str, vr: str, value: str) -> str:
    text = (
        f"{_quoted(value)} is not a valid {vr} value for {name} ({_FORMATS.get(vr, 'see PS3.5')})"
    )
    if vr in ("DA", "DT") and value.isdigit() and len(value) in (4, 6):
        return f"{text}; a whole year or month is a range: {name}={_range_for(vr, value)}"
    if vr == "CS" and value != value.upper():
        try:
            validate_value(vr, value.upper().replace("*", "A").replace("?", "A"), config.RAISE)
        except ValueError:
            return text
        return f"{text}; CS values are upper case: {name}={value.upper()}"
    return text


def _no_wildcards(name: str, vr: str, value: str) -> str:
    text = (
        f"{_quoted(value)}: VR {vr} of {name} does not take the wildcards * and ? (PS3.4 C.2.2.2.4)"
    )
    if vr in _RANGE_EXAMPLES:
        return f"{text}; a range is written {name}={_range_for(vr, value)} (A- from A, -B up to B)"
    if vr == "UI":
        return (
            f"{text}; give the whole UID, several separated by a backslash (any of them "
            f"matches), or an empty value ({name}=) to ask for it"
        )
    return f"{text}; give the exact value, or an empty value ({name}=) to ask for it"


def _range_for(vr: str, value: str) -> str:
    """The range a date prefix with a wildcard meant (``2024*`` -> the year), else an example."""
    prefix = value.rstrip("*")
    if vr in ("DA", "DT") and prefix.isdigit() and "?" not in value:
        if len(prefix) == 4:
            return f"{prefix}0101-{prefix}1231"
        if len(prefix) == 6 and 1 <= int(prefix[4:]) <= 12:
            last = calendar.monthrange(int(prefix[:4]), int(prefix[4:]))[1]
            return f"{prefix}01-{prefix}{last:02d}"
    return _RANGE_EXAMPLES[vr]
