"""An open association and the DIMSE operations that run on it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from pynetdicom.association import Association

from client_sdk.errors import AssociationAborted, DimseFailure, NotAuthorized
from client_sdk.outcome import IdentityOutcome
from client_sdk.sop import STUDY_ROOT_FIND

__all__ = ["Session", "StoreInput", "load_dataset"]

log = logging.getLogger(__name__)

StoreInput = Dataset | str | os.PathLike[str]

SUCCESS = 0x0000
NOT_AUTHORIZED = 0x0124
_PENDING = (0xFF00, 0xFF01)
_WARNING_STATUSES = (0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007)
_QUERY_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


def load_dataset(item: StoreInput) -> Dataset:
    """A dataset as given, or read from a DICOM file (with a clear error for anything else)."""
    if isinstance(item, Dataset):
        return item
    path = Path(item)
    try:
        return dcmread(path)
    except FileNotFoundError:
        raise DimseFailure(f"cannot store {path}: no such file", status=None) from None
    except (InvalidDicomError, OSError) as exc:
        raise DimseFailure(
            f"cannot store {path}: not a readable DICOM file ({exc})", status=None
        ) from None


class Session:
    """One established association. Released on normal exit from ``with``, aborted on an error."""

    def __init__(self, association: Association, identity: IdentityOutcome, peer: str) -> None:
        self.association = association
        self.identity = identity
        self.peer = peer

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.release()
        else:
            self.abort()

    @property
    def is_open(self) -> bool:
        return bool(self.association.is_established)

    def release(self) -> None:
        if self.association.is_established:
            self.association.release()

    def abort(self) -> None:
        if self.association.is_established:
            self.association.abort()

    def echo(self) -> int:
        """C-ECHO. Returns the status (0x0000) or raises."""
        self._require_open("C-ECHO")
        rsp = self.association.send_c_echo()
        return self._check("C-ECHO", rsp)

    def store(self, item: StoreInput) -> int:
        """C-STORE one dataset or DICOM file. Returns the status (success or warning) or raises."""
        self._require_open("C-STORE")
        ds = load_dataset(item)
        try:
            rsp = self.association.send_c_store(ds)
        except ValueError as exc:
            # pynetdicom raises ValueError when no accepted context fits the dataset.
            raise DimseFailure(
                f"C-STORE to {self.peer} impossible: {exc}. Propose this SOP class when "
                "associating (associate(sop_classes=[...]))",
                status=None,
            ) from None
        return self._check("C-STORE", rsp)

    def find(self, query: Dataset | Mapping[str, Any], *, level: str = "STUDY") -> list[Dataset]:
        """Study Root C-FIND at ``level``; returns every matching identifier."""
        self._require_open("C-FIND")
        level = level.upper()
        if level not in _QUERY_LEVELS:
            raise ValueError(f"query level must be one of {', '.join(_QUERY_LEVELS)}: {level!r}")
        identifier = _as_dataset(query)
        identifier.QueryRetrieveLevel = level
        matches: list[Dataset] = []
        for status, found in self.association.send_c_find(identifier, STUDY_ROOT_FIND):
            code = self._check("C-FIND", (status, found), final=False)
            if code in _PENDING:
                if found is not None:
                    matches.append(found)
                continue
        return matches

    def _require_open(self, operation: str) -> None:
        if not self.association.is_established:
            raise AssociationAborted(
                f"{operation} to {self.peer}: the association is no longer open "
                "(released or aborted); open a new one with client.associate()"
            )

    def _check(
        self,
        operation: str,
        rsp: tuple[Dataset | None, Dataset | None] | Dataset | None,
        *,
        final: bool = True,
    ) -> int:
        status_ds = rsp[0] if isinstance(rsp, tuple) else rsp
        if status_ds is None or "Status" not in status_ds:
            if self.association.is_aborted:
                raise AssociationAborted(
                    f"{operation} to {self.peer}: the peer aborted the association"
                )
            raise DimseFailure(
                f"{operation} to {self.peer}: no response within the DIMSE timeout "
                f"({self.association.dimse_timeout} s) or the association was lost",
                status=None,
            )
        status = int(status_ds.Status)
        if status == SUCCESS or status in _WARNING_STATUSES or status in _PENDING:
            if status in _WARNING_STATUSES:
                log.warning("%s to %s: warning status 0x%04X", operation, self.peer, status)
            return status
        comment = str(status_ds.get("ErrorComment", "")).strip()
        detail = f" ({comment})" if comment else ""
        if status == NOT_AUTHORIZED:
            raise NotAuthorized(
                f"{operation} to {self.peer} refused: not authorized (0x0124){detail}. "
                f"The identity {self.identity.principal or self.identity.type_label!r} was "
                "accepted for the association but lacks the right for this operation",
                status=status,
            )
        raise DimseFailure(
            f"{operation} to {self.peer} failed with status 0x{status:04X}{detail}",
            status=status,
        )

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"Session(peer={self.peer}, {state}, identity={self.identity.summary()!r})"


def _as_dataset(query: Dataset | Mapping[str, Any]) -> Dataset:
    if isinstance(query, Dataset):
        return Dataset(query)  # a shallow copy: the caller's query is not modified
    ds = Dataset()
    for keyword, value in query.items():
        try:
            setattr(ds, keyword, value)
        except (AttributeError, ValueError, TypeError) as exc:
            raise ValueError(f"C-FIND query key {keyword!r}: {exc}") from None
    return ds
