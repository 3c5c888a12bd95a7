"""The embedded PACS's store: received datasets in memory, optionally also written to disk."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pydicom.dataset import Dataset

from client_sdk._operations.retrieve import write_instance
from client_sdk.testing._matching import find, select


class DatasetStore:
    """Thread-safe datasets (each with its file meta), one per SOP Instance UID, plus Study Root
    C-FIND, C-GET and C-MOVE matching over them.

    Storing an instance again replaces the stored copy, as a PACS does: a study sent twice is
    still found, retrieved and moved once.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._lock = threading.Lock()
        # Keyed by SOP Instance UID; insertion order is the order instances were last stored.
        self._datasets: dict[str, Dataset] = {}

    def prepare(self) -> None:
        """Create the storage directory, if any."""
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def add(
        self, dataset: Dataset, encoded: bytes | None = None, *, instance_uid: str | None = None
    ) -> Path | None:
        """Keep ``dataset`` under ``instance_uid`` (default: its SOPInstanceUID), replacing an
        earlier copy; with a directory, write ``encoded`` (DICOM File Format bytes) as
        ``<SOPInstanceUID>.dcm`` first (replacing that file too) and return its path.

        Raises :class:`UnsafeFileName` or :class:`OSError` if the file cannot be written; then
        nothing is kept (an earlier copy stays).
        """
        uid = str(dataset.get("SOPInstanceUID", "")) if instance_uid is None else instance_uid
        path = None
        if self.directory is not None and encoded is not None:
            path = self._write(uid, encoded)
        with self._lock:
            self._datasets.pop(uid, None)  # a new copy goes to the end: the latest stored
            self._datasets[uid] = dataset
        return path

    def _write(self, sop_instance_uid: str, encoded: bytes) -> Path:
        assert self.directory is not None
        return write_instance(self.directory, sop_instance_uid, encoded)

    def snapshot(self) -> list[Dataset]:
        with self._lock:
            return list(self._datasets.values())

    def clear(self) -> None:
        with self._lock:
            self._datasets.clear()

    def find(self, identifier: Dataset) -> list[Dataset]:
        """Study Root C-FIND response identifiers; raises ``matching.QueryError``."""
        return find(identifier, self.snapshot())

    def select(self, identifier: Dataset) -> list[Dataset]:
        """The instances a C-GET/C-MOVE identifier selects; raises ``matching.QueryError``."""
        return select(identifier, self.snapshot())
