"""Ending an acceptor's associations without tripping pynetdicom's state machine.

``AE.shutdown()`` aborts every association. An A-ABORT request is not a valid event before the
A-ASSOCIATE-RQ has arrived (PS3.8 9.2, states Sta1 and Sta2: a port probe, or a TLS probe that
connects and leaves), so pynetdicom's DUL thread dies with ``InvalidEventError`` and the
association thread waits out its ACSE timeout. Such a connection has nothing to abort: it is
closed, as the ARTIM timer would close it (action AA-2), without going through the state machine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pynetdicom.association import Association

LOGGER = logging.getLogger(__name__)

# Before Sta3 no A-ASSOCIATE-RQ has been received (Sta1: the DUL has not seen the connection yet).
_NOT_REQUESTED = frozenset({"Sta1", "Sta2"})


def end_associations(associations: Iterable[Association], *, timeout: float) -> None:
    """Abort each established or negotiating association; close the ones that never asked."""
    for assoc in associations:
        if assoc.is_acceptor and assoc.dul.state_machine.current_state in _NOT_REQUESTED:
            _close_unrequested(assoc, timeout=timeout)
        else:
            assoc.abort()


def _close_unrequested(assoc: Association, *, timeout: float) -> None:
    dul = assoc.dul
    dul.kill_dul()  # the reactor leaves at the top of its next loop (about 1 ms)
    if dul.is_alive():
        dul.join(timeout)
    if dul.is_alive():
        # A request arrived meanwhile and the reactor is busy with it: abort as usual.
        assoc.abort()
        return
    if dul.socket is not None:
        dul.socket.close()  # queues Evt17 for a reactor that no longer runs
    # The association thread waits for the A-ASSOCIATE-RQ primitive; None is what it gets when
    # its ACSE timeout passes, and it then ends without answering.
    dul.to_user_queue.put(None)
    LOGGER.debug("closed a connection that sent no A-ASSOCIATE-RQ")
