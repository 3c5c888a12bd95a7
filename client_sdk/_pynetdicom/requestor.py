"""The pynetdicom AE the client associates through: timeouts always set, no Nagle or delayed-ACK
stalls (TCP_NODELAY, TCP_QUICKACK), and a trace of what happened on the wire.

pynetdicom swallows the ``OSError`` of a failed connect or TLS handshake and only logs it; the
client needs it to say "refused", "timed out", "untrusted certificate". ``AE._create_socket`` and
``AssociationSocket._create_socket`` are pynetdicom's own seams for choosing the socket; the
sockets record their errors, and the first bytes the peer sent, in a :class:`ConnectionTrace`.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.transport import T_CONNECT, AddressInformation, AssociationSocket

from client_sdk._pynetdicom.reactor_race import return_stolen_responses

__all__ = [
    "ConnectedAddressRefused",
    "ConnectionTrace",
    "SdkAE",
    "Timeouts",
    "make_traceable",
]

# Nagle and delayed ACKs cost a TLS association about 40 ms on loopback, and pynetdicom sets
# neither option below. TCP_NODELAY: our small PDUs (A-ASSOCIATE-RQ, C-ECHO, A-RELEASE) and the
# last handshake flight leave at once instead of waiting for the peer's delayed ACK. TCP_QUICKACK
# (Linux; reset by the kernel, so set before every read): we ACK at once what the peer sent, so
# a peer without TCP_NODELAY (a stock pynetdicom SCP, whose A-ASSOCIATE-AC follows its TLS 1.3
# session tickets) does not wait 40 ms for our ACK either. Private switches for
# benchmarks/tcp_nodelay.py only, which measures the difference: never turn them off elsewhere.
_TCP_NODELAY = True
_TCP_QUICKACK = hasattr(socket, "TCP_QUICKACK")

_RECEIVED_KEPT = 8  # bytes of the peer's first answer kept in the trace (a PDU or TLS header)


@dataclass(frozen=True)
class Timeouts:
    """Every network wait of an association is bounded (seconds).

    pynetdicom leaves the connection timeout unset by default: a peer that accepts TCP and never
    answers would block forever.
    """

    connect: float = 10.0
    acse: float = 30.0
    dimse: float = 60.0
    network: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "acse", "dimse", "network"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Timeouts.{name} must be a positive number of seconds: {value!r}")


@dataclass
class ConnectionTrace:
    """What happened at the TCP and TLS level of one association attempt."""

    error: OSError | None = None  # why the connect (TCP, then the TLS handshake) failed
    tcp_connected: bool = False  # TCP came up (so an ``error`` over TLS is the handshake's)
    connected: bool = False  # ready for PDUs: TCP up, and the TLS handshake done over TLS
    local_port: int | None = field(default=None)
    received: bytes = b""  # the first bytes the peer sent once connected
    read_error: OSError | None = None  # the first failed read once connected (a TLS alert)
    peer_closed: bool = False  # a read found the connection closed by the peer
    probed: bool = False  # tls_failures made a diagnostic TLS handshake to the port afterwards
    # Called with the connected address (getpeername) once TCP is up, before any PDU is sent;
    # what it raises closes the connection and is kept in ``refused`` (policy.check_connected).
    peer_check: Callable[[str], None] | None = field(default=None, repr=False)
    peer_address: str | None = None  # the address actually connected to (when checked)
    refused: Exception | None = None


class _RecordingSocket(socket.socket):
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


class _TracedSSLSocket(ssl.SSLSocket):
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
    context.sslsocket_class = _TracedSSLSocket
    return context


class _TracedAssociationSocket(AssociationSocket):
    def __init__(self, assoc: Association, address: AddressInformation, trace: ConnectionTrace):
        self._trace = trace
        super().__init__(assoc, address=address)

    def _create_socket(self, address: AddressInformation) -> socket.socket:
        # Same set-up as pynetdicom's own, with a socket that records its connect error, and
        # TCP_NODELAY from the start (the TLS handshake included; a TLS socket keeps it).
        family = socket.AF_INET if address.is_ipv4 else socket.AF_INET6
        sock = _RecordingSocket(family, socket.SOCK_STREAM)
        sock.trace = self._trace
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if _TCP_NODELAY:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.assoc.network_timeout is not None:
            sock.settimeout(self.assoc.network_timeout)
        sock.bind(address.as_tuple)
        self._is_connected = False
        return sock

    def connect(self, primitive: T_CONNECT) -> None:
        if self.tls_args is not None and self.socket is not None:
            # Wrap here rather than in pynetdicom's connect(), so that the TLS socket carries the
            # trace before it connects; pynetdicom then connects it like a plain one.
            # (Should wrapping fail, pynetdicom's connect() meets the same error and reports it.)
            context, server_hostname = self.tls_args
            with contextlib.suppress(OSError):
                tls_socket = context.wrap_socket(
                    self.socket, server_side=False, server_hostname=server_hostname
                )
                if isinstance(tls_socket, _TracedSSLSocket):
                    tls_socket.trace = self._trace
                self.socket, self.tls_args = tls_socket, None
        super().connect(primitive)
        sock = self.socket
        if self._is_connected and sock is not None:
            # pynetdicom clears the socket timeout once connected (transport.py:421): a peer that
            # stalls mid-PDU, or a TLS record that makes the socket look readable, would then
            # block recv() forever. Keep the network timeout on every read.
            sock.settimeout(self.assoc.network_timeout)
            self._trace.connected = True  # also over TLS, where the raw socket was replaced

    # ACK at once what has arrived (see _TCP_QUICKACK): the kernel leaves quick-ACK mode on its
    # own, so it is set again when data is ready, before each read and after it. A peer that
    # writes a PDU in two pieces without TCP_NODELAY (DCMTK's storescp, plain or TLS) holds the
    # second piece back until the first is acknowledged: about 40 ms per response otherwise.
    @property
    def ready(self) -> bool:
        ready = bool(super().ready)
        if ready:
            self._quick_ack()
        return ready

    def recv(self, nr_bytes: int) -> bytearray:
        # Keep the first bytes of the peer's answer, and why reading failed, for the error
        # message (a TLS alert where a PDU was expected; a reset after our plain A-ASSOCIATE-RQ).
        trace = self._trace
        self._quick_ack()
        try:
            data = super().recv(nr_bytes)
        except OSError as exc:
            if trace.read_error is None:
                trace.read_error = exc
            raise
        self._quick_ack()
        if len(trace.received) < _RECEIVED_KEPT:
            trace.received += bytes(data[: _RECEIVED_KEPT - len(trace.received)])
        if len(data) < nr_bytes:
            trace.peer_closed = True  # pynetdicom's recv() returns short only at EOF
        return data

    def _quick_ack(self) -> None:
        sock = self.socket
        if _TCP_QUICKACK and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def _shutdown_socket(self) -> None:
        # pynetdicom skips close() when shutdown() raises, as it does on a socket that never
        # connected (ENOTCONN): every refused or timed-out connect would leak a descriptor.
        sock = self.socket
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class SdkAE(AE):
    """An AE for one association attempt, with bounded timeouts and a connection trace."""

    def __init__(self, ae_title: str, timeouts: Timeouts) -> None:
        super().__init__(ae_title=ae_title)
        self.connection_timeout = timeouts.connect
        self.acse_timeout = timeouts.acse
        self.dimse_timeout = timeouts.dimse
        self.network_timeout = timeouts.network
        self.trace = ConnectionTrace()

    def _create_socket(
        self,
        assoc: Association,
        address: AddressInformation,
        tls_args: tuple[ssl.SSLContext, str] | None,
    ) -> AssociationSocket:
        return_stolen_responses(assoc)  # called before the association exists: the right time
        sock = _TracedAssociationSocket(assoc, address, self.trace)
        sock.tls_args = tls_args
        return sock
