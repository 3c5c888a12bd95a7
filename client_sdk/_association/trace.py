"""What happened at the TCP and TLS level of one association attempt, recorded by the sockets
themselves.

pynetdicom swallows the ``OSError`` of a failed connect or TLS handshake and only logs it; the
client needs it to say "refused", "timed out", "untrusted certificate". The plain socket
(:class:`RecordingSocket`) and the TLS socket (:func:`make_traceable`) keep their errors, and
the first bytes the peer sent, in a :class:`ConnectionTrace`; ``client_sdk._pynetdicom.requestor``
hands them to pynetdicom.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

FIRST_BYTES_KEPT = 8  # bytes of the peer's first answer kept in the trace (a PDU or TLS header)


@dataclass
class ConnectionTrace:
    """What happened at the TCP and TLS level of one association attempt."""

    error: OSError | None = None  # why the connect (TCP, then the TLS handshake) failed
    tcp_connected: bool = False  # TCP came up (so an ``error`` over TLS is the handshake's)
    connected: bool = False  # ready for PDUs: TCP up, and the TLS handshake done over TLS
    local_port: int | None = field(default=None)
    first_bytes: bytes = b""  # the first bytes the peer sent once connected
    read_error: OSError | None = None  # the first failed read once connected (a TLS alert)
    peer_closed: bool = False  # a read found the connection closed by the peer
    probed: bool = False  # tls_failures made a diagnostic TLS handshake to the port afterwards
    # Called with the connected address (getpeername) once TCP is up, before any PDU is sent;
    # what it raises closes the connection and is kept in ``refused`` (policy.check_connected).
    peer_check: Callable[[str], None] | None = field(default=None, repr=False)
    peer_address: str | None = None  # the address actually connected to (when checked)
    refused: Exception | None = None

    def keep_first_bytes(self, data: bytes | bytearray) -> None:
        if len(self.first_bytes) < FIRST_BYTES_KEPT:
            self.first_bytes += bytes(data[: FIRST_BYTES_KEPT - len(self.first_bytes)])


class RecordingSocket(socket.socket):
    """A TCP socket that records its connect error in its ``trace``, and checks the address it
    connected to before anything is sent."""

    trace: ConnectionTrace | None = None

    def connect(self, address: object) -> None:
        try:
            super().connect(address)  # type: ignore[arg-type]
        except OSError as exc:
            if self.trace is not None:
                self.trace.error = exc
            raise
        if self.trace is not None:
            self.trace.tcp_connected = self.trace.connected = True
            self.trace.local_port = self.getsockname()[1]
            _check_connected_address(self, self.trace)


class ConnectedAddressRefused(ConnectionError):
    """The address connected to failed the trace's ``peer_check``; nothing was sent."""


def _check_connected_address(sock: socket.socket, trace: ConnectionTrace) -> None:
    # pynetdicom sends the A-ASSOCIATE-RQ only after connect() returns: an OSError raised here
    # makes it report a failed connection (Evt17) and close the socket, so nothing leaves.
    check = trace.peer_check
    if check is None:
        return
    try:
        trace.peer_address = str(sock.getpeername()[0])
    except OSError as exc:  # gone already (reset): a failed connection, and nothing is sent
        trace.error, trace.connected = exc, False
        raise
    try:
        check(trace.peer_address)
    except Exception as exc:
        trace.refused = exc
        trace.connected = False
    if trace.refused is not None:
        raise ConnectedAddressRefused(
            f"the connected address {trace.peer_address} failed the transport check"
        )


class TracedSSLSocket(ssl.SSLSocket):
    """A TLS socket that records in its ``trace`` why the connect or the handshake failed."""

    trace: ConnectionTrace | None = None

    def connect(self, address: object) -> None:
        try:
            super().connect(address)  # type: ignore[arg-type]
        except OSError as exc:
            if self.trace is not None:
                self.trace.error = exc
            raise

    def do_handshake(self, block: bool = False) -> None:
        # Called once TCP is up (ssl.SSLSocket._real_connect): from here on, a failure or a
        # timeout is the TLS handshake's, not the TCP connect's.
        if self.trace is not None:
            self.trace.tcp_connected = True
            self.trace.local_port = self.getsockname()[1]
        super().do_handshake(block)


def make_traceable(context: ssl.SSLContext) -> ssl.SSLContext:
    """Make ``context`` wrap sockets as TLS sockets that can record their failures; done once
    when the context is built (per association it would race: the context is shared)."""
    context.sslsocket_class = TracedSSLSocket
    return context
