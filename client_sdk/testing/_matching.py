"""Study Root C-FIND matching over stored datasets (a useful subset of PS3.4 C.2.2.2).

Per key in the identifier: an empty value matches anything (universal matching) and the stored value
is returned; otherwise single value matching, ``*``/``?`` wildcards for text VRs, ``A-B``, ``A-``,
``-B`` ranges for DA, and a backslash-separated list (any of, meant for UIDs). A multi-valued
stored attribute matches if any of its values does. Sequence keys are not matched on, only
returned. One result per entity at the query level, from the first stored instance of it.

C-GET and C-MOVE (:func:`select`) use the same matching to pick instances, at any level and on
any key (more lenient than PS3.4 C.4.2.2.1, which asks for the unique keys only); an identifier
without a single non-empty key is refused rather than selecting everything.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

LEVEL_KEYS: dict[str, str] = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
"""The unique key of each Query/Retrieve level."""

_QUERY_RETRIEVE_LEVEL = Tag(0x0008, 0x0052)
_SPECIFIC_CHARACTER_SET = Tag(0x0008, 0x0005)
_NOT_MATCHED = {_QUERY_RETRIEVE_LEVEL, _SPECIFIC_CHARACTER_SET}
_WILDCARD_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"}


class QueryError(ValueError):
    """The identifier cannot be used for a Study Root query (e.g. bad QueryRetrieveLevel)."""


def _strings(element: DataElement) -> list[str]:
    value = element.value
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _wildcard(pattern: str) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def _match_value(vr: str, pattern: str, value: str) -> bool:
    if vr == "DA" and "-" in pattern:
        low, high = pattern.split("-", 1)
        return (not low or value >= low) and (not high or value <= high)
    if vr in _WILDCARD_VRS and ("*" in pattern or "?" in pattern):
        return _wildcard(pattern).fullmatch(value) is not None
    return pattern == value


def _matches_key(key: DataElement, stored: Dataset) -> bool:
    if key.is_empty or key.VR == "SQ":
        return True
    if key.tag not in stored:
        return False
    element = stored[key.tag]
    if element.is_empty:
        return False
    values = _strings(element)
    return any(_match_value(key.VR, p, v) for p in _strings(key) for v in values)


def _matches(identifier: Dataset, stored: Dataset) -> bool:
    return all(
        _matches_key(key, stored)
        for key in identifier
        if key.tag not in _NOT_MATCHED and key.tag.element != 0
    )


def _response(identifier: Dataset, stored: Dataset, level: str) -> Dataset:
    response = Dataset()
    for key in identifier:
        if key.tag in _NOT_MATCHED:
            continue
        if key.tag in stored:
            response.add(copy.deepcopy(stored[key.tag]))
        else:
            response.add_new(key.tag, key.VR, None)
    if "SpecificCharacterSet" in stored:
        response.SpecificCharacterSet = stored.SpecificCharacterSet
    response.QueryRetrieveLevel = level
    return response


def query_level(identifier: Dataset) -> str:
    """The identifier's QueryRetrieveLevel, upper-cased; raises :class:`QueryError`."""
    level = str(identifier.get("QueryRetrieveLevel", "")).strip().upper()
    if level not in LEVEL_KEYS:
        raise QueryError(f"unsupported QueryRetrieveLevel {level!r}")
    return level


def find(identifier: Dataset, datasets: Iterable[Dataset]) -> list[Dataset]:
    """The response identifiers for ``identifier`` over ``datasets``, one per matching entity."""
    level = query_level(identifier)
    unique_key = LEVEL_KEYS[level]
    seen: set[str] = set()
    results: list[Dataset] = []
    for stored in datasets:
        if not _matches(identifier, stored):
            continue
        entity = str(stored.get(unique_key, ""))
        if entity in seen:
            continue
        seen.add(entity)
        results.append(_response(identifier, stored, level))
    return results


def select(identifier: Dataset, datasets: Iterable[Dataset]) -> list[Dataset]:
    """The stored instances a C-GET or C-MOVE ``identifier`` selects; raises :class:`QueryError`
    if its level is unsupported or it has no non-empty key to match on."""
    level = query_level(identifier)
    keys = [key for key in identifier if key.tag not in _NOT_MATCHED and key.tag.element != 0]
    if all(key.is_empty or key.VR == "SQ" for key in keys):
        raise QueryError(f"a retrieve needs a key to match, e.g. {LEVEL_KEYS[level]}")
    return [stored for stored in datasets if _matches(identifier, stored)]
