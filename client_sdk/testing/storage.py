"""The embedded PACS's store: received datasets in memory, optionally also written to disk."""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

from pydicom.dataset import Dataset

from client_sdk.testing.matching import find

__all__ = ["DatasetStore", "UnsafeFileName"]

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


class UnsafeFileName(ValueError):
    """A SOP Instance UID that cannot be used as a file name (it is not a well-formed UID)."""


class DatasetStore:
    """Thread-safe list of datasets (each with its file meta) plus Study Root C-FIND over them."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._lock = threading.Lock()
        self._datasets: list[Dataset] = []

    def prepare(self) -> None:
        """Create the storage directory, if any."""
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def add(self, dataset: Dataset, encoded: bytes | None = None) -> Path | None:
        """Keep ``dataset``; with a directory, write ``encoded`` (DICOM File Format bytes) as
        ``<SOPInstanceUID>.dcm`` first and return its path.

        Raises :class:`UnsafeFileName` or :class:`OSError` if the file cannot be written; then
        nothing is kept.
        """
        path = None
        if self.directory is not None and encoded is not None:
            path = self._write(str(dataset.get("SOPInstanceUID", "")), encoded)
        with self._lock:
            self._datasets.append(dataset)
        return path

    def _write(self, sop_instance_uid: str, encoded: bytes) -> Path:
        assert self.directory is not None
        if len(sop_instance_uid) > 64 or not _UID.fullmatch(sop_instance_uid):
            raise UnsafeFileName(f"SOP Instance UID {sop_instance_uid[:80]!r} is not a UID")
        target = self.directory / f"{sop_instance_uid}.dcm"
        # Write then rename, so a reader never sees half a file.
        fd, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(encoded)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def snapshot(self) -> list[Dataset]:
        with self._lock:
            return list(self._datasets)

    def clear(self) -> None:
        with self._lock:
            self._datasets.clear()

    def find(self, identifier: Dataset) -> list[Dataset]:
        """Study Root C-FIND response identifiers; raises ``matching.QueryError``."""
        return find(identifier, self.snapshot())
