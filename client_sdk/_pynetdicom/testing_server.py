"""What the embedded PACS reaches of pynetdicom's server side besides its events: the type of
its server, an accepted connection's socket, and the type of a received PDU."""

from __future__ import annotations

import socket

from pynetdicom.association import Association
from pynetdicom.transport import ThreadedAssociationServer

# What ``AE.start_server(..., block=False)`` returns.
Server = ThreadedAssociationServer


def set_nodelay(assoc: Association) -> None:
    """TCP_NODELAY on an accepted connection: pynetdicom sets neither it nor anything like it
    (about 40 ms per TLS association otherwise; see ``requestor``)."""
    association_socket = assoc.dul.socket
    raw = association_socket.socket if association_socket is not None else None
    if raw is not None:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def pdu_type(pdu: object) -> int | None:
    """The PDU type of what ``EVT_PDU_RECV`` carries (a ``pynetdicom.pdu`` object)."""
    kind = getattr(pdu, "pdu_type", None)
    return kind if isinstance(kind, int) else None
