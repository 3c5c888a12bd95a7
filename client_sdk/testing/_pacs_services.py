"""The DIMSE services of the embedded PACS: C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE, over its
store of datasets, noted in its association records."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import cast

from pydicom.dataset import Dataset
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext

from client_sdk._operations.retrieve import UnsafeFileName
from client_sdk.testing._contexts import move_contexts
from client_sdk.testing._matching import QueryError
from client_sdk.testing._records import LiveRecord, RecordBook
from client_sdk.testing._storage import DatasetStore

# Its 0.4 name (the PACS's): logging configurations may name it.
LOGGER = logging.getLogger("client_sdk.testing.pacs")

# DIMSE statuses (PS3.4 Annex B and C)
_SUCCESS = 0x0000
_PENDING = 0xFF00
_CANCEL = 0xFE00
_OUT_OF_RESOURCES = 0xA700
_IDENTIFIER_MISMATCH = 0xA900
_CANNOT_UNDERSTAND = 0xC000

# What pynetdicom's EVT_C_GET / EVT_C_MOVE handlers yield (see ``on_get`` and ``on_move``).
_Destination = tuple[str | None, int | None] | tuple[str, int, dict[str, list[PresentationContext]]]
_RetrieveYield = int | _Destination | tuple[int | Dataset, Dataset | None]


class PacsServices:
    """The handlers of ``EVT_C_ECHO`` ... ``EVT_C_MOVE``. ``destination`` gives the address of a
    C-MOVE destination's AE title (None: unknown)."""

    def __init__(
        self,
        store: DatasetStore,
        book: RecordBook,
        destination: Callable[[str], tuple[str, int] | None],
    ) -> None:
        self._store = store
        self._book = book
        self._destination = destination

    def _note(self, event: Event, name: str) -> None:
        def note(record: LiveRecord) -> None:
            record.dimse.append(name)

        self._book.update(event.assoc, note)

    def on_echo(self, event: Event) -> int:
        self._note(event, "C-ECHO")
        return _SUCCESS

    def on_store(self, event: Event) -> int:
        self._note(event, "C-STORE")
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        encoded = event.encoded_dataset() if self._store.directory is not None else None
        # The dataset's own UID names the instance; the request's, if the dataset has none.
        request = cast(C_STORE, event.request)
        uid = str(dataset.get("SOPInstanceUID") or request.AffectedSOPInstanceUID or "")
        try:
            self._store.add(dataset, encoded, instance_uid=uid)
        except UnsafeFileName as exc:
            LOGGER.warning("C-STORE refused: %s", exc)
            return _CANNOT_UNDERSTAND
        except OSError as exc:
            LOGGER.error("C-STORE could not write to %s: %s", self._store.directory, exc)
            return _OUT_OF_RESOURCES
        return _SUCCESS

    def on_find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        self._note(event, "C-FIND")
        try:
            matches = self._store.find(event.identifier)
        except QueryError as exc:
            LOGGER.warning("C-FIND refused: %s", exc)
            yield _IDENTIFIER_MISMATCH, None
            return
        for match in matches:
            if event.is_cancelled:
                yield _CANCEL, None
                return
            yield _PENDING, match
        yield _SUCCESS, None

    def on_get(self, event: Event) -> Iterator[_RetrieveYield]:
        # pynetdicom's protocol: the number of sub-operations, then (status, dataset) pairs; each
        # Pending dataset is sent as a C-STORE request over this association.
        self._note(event, "C-GET")
        try:
            instances = self._store.select(event.identifier)
        except QueryError as exc:
            LOGGER.warning("C-GET refused: %s", exc)
            yield 1  # a count of 0 would make pynetdicom answer Success at once
            yield _failure(_IDENTIFIER_MISMATCH, str(exc)), None
            return
        yield len(instances)
        yield from _pending(event, instances)

    def on_move(self, event: Event) -> Iterator[_RetrieveYield]:
        # pynetdicom's protocol: (host, port[, associate() kwargs]) or (None, None) for an unknown
        # destination, then the number of sub-operations, then (status, dataset) pairs; pynetdicom
        # associates with the destination (if there is anything to send) and C-STOREs each one.
        self._note(event, "C-MOVE")
        title = str(event.move_destination or "").strip()
        address = self._destination(title)
        if address is None:
            LOGGER.info("C-MOVE refused: move destination %r unknown", title)
            yield None, None
            return
        try:
            instances = self._store.select(event.identifier)
        except QueryError as exc:
            LOGGER.warning("C-MOVE refused: %s", exc)
            # pynetdicom asks for the destination before a failure can be sent, and associates
            # with it (Verification only; nothing is stored) before the failure goes out.
            yield (*address, {"contexts": move_contexts([])})
            yield 1
            yield _failure(_IDENTIFIER_MISMATCH, str(exc)), None
            return
        yield (*address, {"contexts": move_contexts(instances)})
        yield len(instances)
        yield from _pending(event, instances)


def _failure(status: int, comment: str) -> Dataset:
    response = Dataset()
    response.Status = status
    response.ErrorComment = comment[:64]
    return response


def _pending(event: Event, instances: list[Dataset]) -> Iterator[tuple[int, Dataset | None]]:
    for instance in instances:
        if event.is_cancelled:
            yield _CANCEL, None
            return
        yield _PENDING, instance
