"""A work-around for a race in pynetdicom 3.0's association reactor that loses DIMSE responses.

``Association.send_c_store()`` (and every other ``send_*``) pauses the reactor thread with
``_reactor_checkpoint.clear()`` and waits for ``_is_paused``, then sends and waits for the
response on the DIMSE queue. But the reactor sets ``_is_paused = True`` just *before* it calls
``_reactor_checkpoint.wait()``: when the clear comes in between, ``wait()`` returns at once, the
reactor runs one more loop, takes the response off the queue with ``dimse.get_msg()`` and hands
it to ``_serve_request()``, which logs "Received unexpected C-STORE service message" and drops
it. The caller then waits for the DIMSE timeout (60 s) and the association is aborted.

Seen in ``benchmarks/bulk_store.py``: about one C-STORE in 150 with 4 parallel
associations on a busy 2-core machine, against DCMTK's storescp and the embedded PACS alike.
The fix: a response that reaches the reactor goes back on the DIMSE queue, where the waiting
``send_*()`` takes it. Requests (C-STORE sub-operations of a C-GET) are served as before.

The same extra loop loses the wake ``(None, None)`` that pynetdicom puts on the queue when the
peer aborts or the connection closes (AA-2/3/4) or that the SDK puts after an abort of its own
(``fault_hooks.wake_dimse_wait``): the reactor's ``get_msg(block=False)`` takes it and drops it,
and the ``send_*()`` waits out the DIMSE timeout against a peer that is gone. Seen with
``dicom-identity store --workers 2`` when the peer was killed: about one run in 35, the command
then hung for the 60 s DIMSE timeout. While a ``send_*()`` waits, the reactor's read now puts a
wake back too; and a wake taken before anyone waited (the connection ended just before the
``send_*()`` paused the reactor) is made up for: the wait checks every ``WAKE_CHECK`` seconds
whether the connection is over.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

from pynetdicom.association import Association

from client_sdk._pynetdicom.fault_hooks import connection_over

log = logging.getLogger(__name__)
WAKE_CHECK = 0.1  # seconds: how often a waiting send_*() looks whether the connection ended


def return_stolen_responses(assoc: Association) -> None:
    """Make ``assoc``'s reactor put DIMSE responses, and wakes, back for the ``send_*()``
    waiting on them.

    Call before the association is established (its reactor serves no DIMSE before that).
    """
    serve = assoc._serve_request
    messages = assoc.dimse.msg_queue
    checkpoint = assoc._reactor_checkpoint

    def serve_requests_only(msg: Any, context_id: int) -> None:
        # Only while a send_*() waits (it cleared the checkpoint to pause the reactor): an
        # unsolicited response at any other time is dropped as before, so it can never be taken
        # later as the answer to another request.
        waiting = not checkpoint.is_set()
        if waiting and not msg.is_valid_request and msg.is_valid_response:
            log.debug("a %s response reached the reactor; handed back to the caller", msg.msg_type)
            messages.put((context_id, msg))
            return
        serve(msg, context_id)

    assoc._serve_request = serve_requests_only  # type: ignore[method-assign]
    dimse = assoc.dimse

    def wait_for_message() -> Any:
        # pynetdicom's get_msg(block=True) (its body is pinned in SEAMS): one wait of the DIMSE
        # timeout. Here in slices, so that a connection that ended before anyone waited (its
        # wake taken by a reactor with no send_*() waiting yet) ends the wait too.
        timeout = dimse.dimse_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = WAKE_CHECK if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                return messages.get(timeout=min(WAKE_CHECK, left))
            except queue.Empty:
                if connection_over(assoc) or left <= WAKE_CHECK:
                    return None, None

    def get_msg_keeping_wakes(block: bool = False) -> Any:
        if block:  # a send_*() waiting for its response
            return wait_for_message()
        try:  # the reactor's read (the only one that does not block)
            item = messages.get(block=False)
        except queue.Empty:
            return None, None
        if item[1] is None and not checkpoint.is_set():
            log.debug("a wake reached the reactor; handed back to the waiting send_*()")
            messages.put(item)
            return None, None
        return item

    assoc.dimse.get_msg = get_msg_keeping_wakes  # type: ignore[method-assign]
