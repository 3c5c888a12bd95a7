"""C-STORE of a checked file's data set as it was read, when the peer accepted its transfer
syntax (issue 16).

``Association.send_c_store(dataset)`` encodes the dataset element by element for every file,
although a file read from disk is already encoded: when an accepted presentation context
carries the file's own transfer syntax, its bytes after the File Meta Information are the data
set to send. pynetdicom can do that only through ``_config.STORE_SEND_CHUNKED_DATASET``, one
switch for the whole process that also changes ``send_c_store(path)`` for other code; this is
the same request, per association and per file. The command set is packed directly and the
PDUs written in one go (``pdata_writer``), unless pynetdicom must see the message: its logger
would log it (INFO), or a handler other than its own logging ones is bound to the events of a
sent message. The rest mirrors the end of pynetdicom 3.0's ``send_c_store`` (pinned in SEAMS):
pause the reactor, send, wait for the response, resume. Responses are received and decoded by
pynetdicom as before.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, cast

from pydicom import Dataset
from pynetdicom import evt
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_sent_handler,
)
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.presentation import PresentationContext

from client_sdk._pynetdicom.pdata_writer import peer_maximum_pdu_length, send_message
from client_sdk._wire.c_store_request import (
    MAX_MESSAGE_ID,
    PDV_OVERHEAD,
    PRIORITY_LOW,
    command_set,
    valid_uid,
)

_PAUSE_POLL = 0.0001  # pynetdicom's own
# The logger of pynetdicom's standard handlers of a sent or received message ("Sending Store
# Request", "Received Store Response").
_MESSAGE_LOG = logging.getLogger("pynetdicom._handlers")
_SENT_EVENTS = (evt.EVT_DIMSE_SENT, evt.EVT_PDU_SENT)
# Bound to those events by pynetdicom itself; they only log (see _MESSAGE_LOG).
_STANDARD_HANDLERS = (standard_dimse_sent_handler, standard_pdu_sent_handler)


@dataclass(frozen=True, slots=True)
class EncodedDataset:
    """A checked file as read: its data set starts at ``start`` (after the File Meta
    Information). ``decode`` gives the dataset pydicom reads from ``file``, for an association
    that accepted only another transfer syntax (pynetdicom then converts it)."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    file: bytes = field(repr=False)  # (a repr would hold the whole file)
    start: int
    decode: Callable[[], Dataset] = field(repr=False)

    @property
    def data(self) -> memoryview:
        """The data set's bytes, as they are in the file (no copy)."""
        return memoryview(self.file)[self.start :]


# The next Message ID of each association: 1, 2, ... 65535, then 1 again.
_message_ids: weakref.WeakKeyDictionary[Association, int] = weakref.WeakKeyDictionary()
_message_ids_lock = threading.Lock()


def next_message_id(assoc: Association) -> int:
    with _message_ids_lock:
        message_id = _message_ids.get(assoc, 1)
        _message_ids[assoc] = message_id % MAX_MESSAGE_ID + 1
    return message_id


def exact_context(assoc: Association, encoded: EncodedDataset) -> PresentationContext | None:
    """The accepted context for this SOP class whose transfer syntax is the file's own."""
    for context in assoc.accepted_contexts:
        if (
            context.abstract_syntax == encoded.sop_class
            and context.transfer_syntax[0] == encoded.transfer_syntax
            and context.as_scu
        ):
            return context
    return None


def send_encoded_c_store(assoc: Association, encoded: EncodedDataset) -> Dataset:
    """C-STORE ``encoded``: as it was read when an accepted context carries its transfer
    syntax; else decoded and handed to pynetdicom's ``send_c_store``, which converts it to an
    accepted syntax or raises ValueError when no accepted context fits. Returns the response's
    status dataset, empty when none came (the association is aborted, as pynetdicom does)."""
    message_id = next_message_id(assoc)
    context = exact_context(assoc, encoded)
    if context is None or context.context_id is None:
        status: Dataset = assoc.send_c_store(encoded.decode(), msg_id=message_id)
        return status
    if not assoc.is_established:
        raise RuntimeError("The association with a peer SCP must be established before C-STORE")
    _log_responses_only_when_shown(assoc)
    send = _sender(assoc, context.context_id, encoded, message_id)
    # The reactor must not read the response meant for us (pynetdicom's pause handshake), with
    # one bound: the DIMSE timeout, as the wait for the response itself.
    deadline = time.monotonic() + float(assoc.dimse_timeout or 60)
    assoc._reactor_checkpoint.clear()
    try:
        while not assoc._is_paused:
            if time.monotonic() > deadline or not assoc.is_alive():
                raise RuntimeError("pynetdicom's association reactor did not pause for C-STORE")
            time.sleep(_PAUSE_POLL)
        send()
        _, rsp = assoc.dimse.get_msg(block=True)
    finally:
        assoc._reactor_checkpoint.set()
    if rsp is None:
        assoc._handle_no_response()
        return Dataset()
    status = assoc._check_received_status(rsp)
    return status


def _log_responses_only_when_shown(assoc: Association) -> None:
    """pynetdicom's standard handler of a received DIMSE message only logs what its logger
    would show at INFO and DEBUG, but reads the response's command set to do so whatever the
    level: about a third of its DUL thread's work per C-STORE. Unbound from this association
    while that log is off; bound again when it is on."""
    # A notification event: a list of (handler, arguments).
    bound = cast("list[tuple[Callable[..., Any], Any]]", assoc.get_handlers(evt.EVT_DIMSE_RECV))
    logging_it = any(handler is standard_dimse_recv_handler for handler, _ in bound)
    if _MESSAGE_LOG.isEnabledFor(logging.INFO) != logging_it:
        if logging_it:
            assoc.unbind(evt.EVT_DIMSE_RECV, standard_dimse_recv_handler)
        else:
            assoc.bind(evt.EVT_DIMSE_RECV, standard_dimse_recv_handler)


def _sender(
    assoc: Association, context_id: int, encoded: EncodedDataset, message_id: int
) -> Callable[[], None]:
    """How this message goes: packed here, or through pynetdicom's DIMSE provider."""
    if not _pynetdicom_must_see(assoc, encoded):
        command = command_set(encoded.sop_class, encoded.sop_instance, message_id)
        return lambda: send_message(assoc, context_id, command, encoded.data)
    req = C_STORE()
    req.MessageID = message_id
    req.Priority = PRIORITY_LOW
    req.AffectedSOPClassUID = encoded.sop_class
    req.AffectedSOPInstanceUID = encoded.sop_instance
    req.DataSet = BytesIO(encoded.data)
    return lambda: assoc.dimse.send_msg(req, context_id)


def _pynetdicom_must_see(assoc: Association, encoded: EncodedDataset) -> bool:
    """pynetdicom's own path, as before: its log or a handler bound to a sent message would
    miss the message, or pynetdicom would refuse it (a UID it does not accept, a maximum PDU
    length too short for any data: its errors, as before)."""
    if _MESSAGE_LOG.isEnabledFor(logging.INFO):
        return True
    for event in _SENT_EVENTS:
        # A notification event: a list of (handler, arguments).
        bound = cast("list[tuple[Callable[..., Any], Any]]", assoc.get_handlers(event))
        if any(handler not in _STANDARD_HANDLERS for handler, _ in bound):
            return True
    limit = peer_maximum_pdu_length(assoc)
    return (
        not (valid_uid(encoded.sop_class) and valid_uid(encoded.sop_instance))
        or 0 < limit <= PDV_OVERHEAD
    )
