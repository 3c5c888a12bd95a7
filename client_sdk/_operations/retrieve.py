"""The requestor's side of C-GET: taking the C-STORE sub-operations the peer sends back; and
what a C-GET or C-MOVE returns.

pynetdicom calls the ``EVT_C_STORE`` handler bound on the requestor's association for every
sub-operation (from the thread that iterates ``send_c_get``). A :class:`Receiver` lives as long as
the association; each ``Session.get()`` opens a :class:`Batch` on it that keeps the datasets in
memory or writes them as ``<SOPInstanceUID>.dcm`` files.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from pydicom import Dataset
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event

from client_sdk._peer_text import PeerText

# Its 0.4 name: logging configurations may name it.
log = logging.getLogger("client_sdk.retrieve")

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_SUCCESS = 0x0000
_OUT_OF_RESOURCES = 0xA700
_CANNOT_UNDERSTAND = 0xC000


class UnsafeFileName(ValueError):
    """A SOP Instance UID that cannot be used as a file name (it is not a well-formed UID)."""


def write_instance(directory: Path, sop_instance_uid: str, encoded: bytes) -> Path:
    """Write ``encoded`` (DICOM File Format bytes) as ``directory/<SOPInstanceUID>.dcm``.

    The UID must be a well-formed UID (digits and dots, at most 64 characters), so it can never
    name a path outside ``directory``; raises :class:`UnsafeFileName` otherwise. Written to a
    temporary file and renamed, so a reader never sees half a file.
    """
    if len(sop_instance_uid) > 64 or not _UID.fullmatch(sop_instance_uid):
        raise UnsafeFileName(f"SOP Instance UID {sop_instance_uid[:80]!r} is not a UID")
    target = directory / f"{sop_instance_uid}.dcm"
    fd, temporary = tempfile.mkstemp(dir=directory, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


class Batch:
    """What one C-GET received: datasets (no ``directory``) or written paths, and local errors.

    ``peer_text`` shows what the peer sent (a UID, the text of an error that quotes its data) in
    the errors and the log: scrubbed of the association's secrets, one line, cut. It lives as
    long as the C-GET, not as long as the association."""

    def __init__(self, directory: Path | None, peer_text: PeerText | None = None) -> None:
        self.directory = directory
        self.peer_text = peer_text if peer_text is not None else PeerText()
        self.datasets: list[Dataset] = []
        self.paths: list[Path] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def take(self, event: Event) -> int:
        """Keep or write one sub-operation's dataset; returns the C-STORE status to send."""
        uid = str(cast(C_STORE, event.request).AffectedSOPInstanceUID or "")
        try:
            if self.directory is None:
                dataset = event.dataset
                dataset.file_meta = event.file_meta
                with self._lock:
                    self.datasets.append(dataset)
            else:
                path = write_instance(self.directory, uid, event.encoded_dataset())
                with self._lock:
                    self.paths.append(path)
        except UnsafeFileName:
            return self._fail(uid, "refused: it is not a UID", _CANNOT_UNDERSTAND)
        except OSError as exc:
            return self._fail(uid, f"cannot write to {self.directory}: {exc}", _OUT_OF_RESOURCES)
        except Exception as exc:  # a dataset pydicom cannot decode; the peer gets a failure
            # pydicom's message may quote the peer's bytes.
            told = self.peer_text.shown(str(exc), "ST")
            return self._fail(
                uid, f"cannot decode: {type(exc).__name__}: {told}", _CANNOT_UNDERSTAND
            )
        return _SUCCESS

    def _fail(self, uid: str, why: str, status: int) -> int:
        message = f"instance {self.peer_text.shown(uid, 'UI')!r} {why}"
        log.warning("C-GET sub-operation failed: %s", message)
        with self._lock:
            self.errors.append(message)
        return status


class Receiver:
    """The ``EVT_C_STORE`` handler of a retrieve association; one C-GET at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch: Batch | None = None

    @contextmanager
    def collect(self, directory: Path | None, peer_text: PeerText | None = None) -> Iterator[Batch]:
        batch = Batch(directory, peer_text)
        with self._lock:
            if self._batch is not None:
                raise RuntimeError("a C-GET is already running on this association")
            self._batch = batch
        try:
            yield batch
        finally:
            with self._lock:
                self._batch = None

    def handle_store(self, event: Event) -> int:
        with self._lock:
            batch = self._batch
        if batch is None:
            log.warning("refused a C-STORE request that arrived outside a C-GET")
            return _CANNOT_UNDERSTAND
        return batch.take(event)


@dataclass(frozen=True)
class RetrieveResult:
    """The outcome of a C-GET or C-MOVE that did not fail.

    ``status`` is the final DIMSE status (0x0000, or a warning such as 0xB000 when some
    sub-operations failed); ``completed``, ``failed`` and ``warning`` are the peer's final counts
    of C-STORE sub-operations; ``failed_instances`` the SOP Instance UIDs it listed as failed.
    C-GET only: ``datasets`` holds the received datasets (each with ``file_meta``) when no
    ``output_dir`` was given, else ``paths`` the written files (the datasets are not kept, so a
    large study does not have to fit in memory). Both are empty for C-MOVE: the instances went
    to the destination.
    """

    status: int
    completed: int
    failed: int
    warning: int
    failed_instances: tuple[str, ...] = ()
    datasets: tuple[Dataset, ...] = field(default=(), repr=False)
    paths: tuple[Path, ...] = field(default=(), repr=False)
