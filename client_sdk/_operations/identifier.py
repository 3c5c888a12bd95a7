"""The identifier of a C-FIND, C-GET or C-MOVE, from a Dataset or a mapping of keywords."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydicom import Dataset
from pydicom.datadict import tag_for_keyword

QUERY_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


def query_identifier(query: Dataset | Mapping[str, Any], level: str) -> Dataset:
    level = level.upper()
    if level not in QUERY_LEVELS:
        raise ValueError(f"query level must be one of {', '.join(QUERY_LEVELS)}: {level!r}")
    dataset = as_dataset(query)
    dataset.QueryRetrieveLevel = level
    return dataset


def as_dataset(query: Dataset | Mapping[str, Any]) -> Dataset:
    if isinstance(query, Dataset):
        return Dataset(query)  # a shallow copy: the caller's query is not modified
    from client_sdk._operations.query_keys import closest_keyword

    ds = Dataset()
    for keyword, value in query.items():
        if tag_for_keyword(keyword) is None:  # setattr would keep it as an attribute, unsent
            guess = closest_keyword(keyword)
            hint = f"did you mean {guess}? " if guess else ""
            raise ValueError(
                f"query key {keyword!r} is not a DICOM keyword; {hint}For tags, sequences or "
                "DCMTK's -k forms pass a Dataset (client_sdk.parse_query_keys)"
            )
        try:
            setattr(ds, keyword, value)
        except (AttributeError, ValueError, TypeError) as exc:
            raise ValueError(f"query key {keyword!r}: {exc}") from None
    return ds
