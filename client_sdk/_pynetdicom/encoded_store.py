"""C-STORE of a dataset already encoded in the transfer syntax the peer accepted (issue 16).

``Association.send_c_store(dataset)`` encodes the dataset element by element for every file,
although a file read from disk is already encoded: when an accepted presentation context carries
the file's own transfer syntax, its bytes after the File Meta Information are the data set to
send. pynetdicom can do that only through ``_config.STORE_SEND_CHUNKED_DATASET``, one switch for
the whole process that also changes ``send_c_store(path)`` for other code; this is the same
request, per association and per file. The body mirrors the end of pynetdicom 3.0's
``send_c_store`` (pinned in SEAMS): pause the reactor, send, wait for the response, resume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from io import BytesIO

from pydicom import Dataset
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.presentation import PresentationContext

_PAUSE_POLL = 0.0001  # pynetdicom's own
_DEFAULT_PRIORITY = 2  # low, as send_c_store's default


@dataclass(frozen=True, slots=True)
class EncodedDataset:
    """A checked file's data set as it is on disk (after the File Meta Information)."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    data: bytes


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


def send_encoded_c_store(assoc: Association, encoded: EncodedDataset) -> Dataset | None:
    """C-STORE ``encoded`` as it is; None (nothing sent) when no accepted context carries its
    transfer syntax: the caller then sends the decoded dataset, which pynetdicom may convert.
    Returns the response's status dataset, empty when none came (the association is aborted,
    as pynetdicom does)."""
    context = exact_context(assoc, encoded)
    if context is None or context.context_id is None:
        return None
    if not assoc.is_established:
        raise RuntimeError("The association with a peer SCP must be established before C-STORE")
    req = C_STORE()
    req.MessageID = 1
    req.Priority = _DEFAULT_PRIORITY
    req.AffectedSOPClassUID = encoded.sop_class
    req.AffectedSOPInstanceUID = encoded.sop_instance
    req.DataSet = BytesIO(encoded.data)
    # The reactor must not read the response meant for us (pynetdicom's pause handshake), with
    # one bound: the DIMSE timeout, as the wait for the response itself.
    deadline = time.monotonic() + float(assoc.dimse_timeout or 60)
    assoc._reactor_checkpoint.clear()
    try:
        while not assoc._is_paused:
            if time.monotonic() > deadline or not assoc.is_alive():
                raise RuntimeError("pynetdicom's association reactor did not pause for C-STORE")
            time.sleep(_PAUSE_POLL)
        assoc.dimse.send_msg(req, context.context_id)
        _, rsp = assoc.dimse.get_msg(block=True)
    finally:
        assoc._reactor_checkpoint.set()
    if rsp is None:
        assoc._handle_no_response()
        return Dataset()
    status: Dataset = assoc._check_received_status(rsp)
    return status
