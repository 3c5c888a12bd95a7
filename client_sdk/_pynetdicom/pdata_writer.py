"""A DIMSE message's P-DATA-TF PDUs, written to the association's socket in one go (issue 16).

pynetdicom sends a message as one P-DATA primitive per PDU, queued for its DUL thread, which
turns each into a PDU object, encodes it, sends it and triggers two events: for a 128 KB file,
about nine rounds of that machinery on top of the bytes. Here the PDUs' bytes
(``client_sdk._wire.c_store_request``) are written at once from the calling thread, through
pynetdicom's own ``AssociationSocket.send`` (its error handling: a failed write is Evt17 for the
state machine).

Only where that is safe: the SDK's own association socket (``requestor``), whose ``write_lock``
keeps the DUL thread's writes (an A-ABORT from another thread, say) from landing inside ours; a
plain TCP connection (over TLS the DUL thread may be reading the same OpenSSL connection, which
must not be used from two threads at once); the state machine in Sta6 (established) with
nothing queued for the DUL thread, so the message goes in order. Otherwise the same fragments
go through the DUL thread as pynetdicom's own P-DATA primitives.
"""

from __future__ import annotations

import ssl

from pynetdicom.association import Association
from pynetdicom.pdu_primitives import P_DATA

from client_sdk._wire.c_store_request import fragments, p_data_tf

_ESTABLISHED = "Sta6"


def peer_maximum_pdu_length(assoc: Association) -> int:
    """The longest P-DATA-TF the peer takes (0: no limit), as pynetdicom's DIMSE provider
    reads it for a requestor."""
    return int(assoc.acceptor.maximum_length or 0)


def send_message(assoc: Association, context_id: int, command: bytes, data: memoryview) -> None:
    """Send the DIMSE message ``command`` + ``data`` under ``context_id``, fragmented to the
    peer's maximum PDU length."""
    pdvs = fragments(command, data, peer_maximum_pdu_length(assoc))
    dul = assoc.dul
    sock = dul.socket
    lock = getattr(sock, "write_lock", None)
    if sock is not None and lock is not None and not isinstance(sock.socket, ssl.SSLSocket):
        with lock:
            if dul.state_machine.current_state == _ESTABLISHED and dul.to_provider_queue.empty():
                sock.send(p_data_tf(context_id, pdvs))
                return
    for control, fragment in pdvs:
        primitive = P_DATA()
        primitive.presentation_data_value_list.append((context_id, bytes((control,)) + fragment))
        dul.send_pdu(primitive)
