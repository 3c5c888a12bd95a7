"""The pynetdicom AE the client associates through: timeouts always set, no Nagle or delayed-ACK
stalls (TCP_NODELAY, TCP_QUICKACK), and the sockets of ``client_sdk._association.trace``.

``AE._create_socket`` and ``AssociationSocket._create_socket`` are pynetdicom's own seams for
choosing the socket (both private: see ``SEAMS``). The association socket takes pynetdicom's
bound socket and hands its descriptor to a :class:`RecordingSocket`, which records the connect
error and checks the connected address; it reads through the peer-fault recorder when one is
given.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable

from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.transport import T_CONNECT, AddressInformation, AssociationSocket

from client_sdk._association.trace import ConnectionTrace, RecordingSocket, TracedSSLSocket
from client_sdk._pynetdicom.reactor_race import return_stolen_responses
from client_sdk._timeouts import Timeouts

# Nagle and delayed ACKs cost a TLS association about 40 ms on loopback, and pynetdicom sets
# neither option below. TCP_NODELAY: our small PDUs (A-ASSOCIATE-RQ, C-ECHO, A-RELEASE) and the
# last handshake flight leave at once instead of waiting for the peer's delayed ACK. TCP_QUICKACK
# (Linux; reset by the kernel, so set before every read): we ACK at once what the peer sent, so
# a peer without TCP_NODELAY (a stock pynetdicom SCP, whose A-ASSOCIATE-AC follows its TLS 1.3
# session tickets) does not wait 40 ms for our ACK either. Private switches for
# benchmarks/tcp_nodelay.py only, which measures the difference: never turn them off elsewhere.
_TCP_NODELAY = True
_TCP_QUICKACK = hasattr(socket, "TCP_QUICKACK")

Recv = Callable[[int], bytearray]
# How a reader sees each read: given pynetdicom's recv and the byte count, returns what it read
# (``client_sdk._association.peer_faults.PeerFaults.read``).
Reader = Callable[[Recv, int], bytearray]


class _TracedAssociationSocket(AssociationSocket):
    def __init__(
        self,
        assoc: Association,
        address: AddressInformation,
        trace: ConnectionTrace,
        reader: Reader | None,
    ) -> None:
        self._trace = trace
        self._reader = reader
        # One writer at a time: pynetdicom's DUL thread, or a C-STORE's PDUs written at once
        # from the caller's thread (``pdata_writer``), which holds it around its own checks.
        self.write_lock = threading.RLock()
        super().__init__(assoc, address=address)

    def _create_socket(self, address: AddressInformation) -> socket.socket:
        # pynetdicom's socket, bound and with its options, as a socket that records its connect
        # error (same descriptor), and TCP_NODELAY from the start (the TLS handshake included;
        # a TLS socket keeps it). The timeout lives in the Python object: carried over by hand.
        plain = super()._create_socket(address)
        timeout = plain.gettimeout()
        sock = RecordingSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
        sock.settimeout(timeout)
        sock.trace = self._trace
        if _TCP_NODELAY:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
                if isinstance(tls_socket, TracedSSLSocket):
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

    def send(self, bytestream: bytes) -> None:
        with self.write_lock:
            super().send(bytestream)

    def recv(self, nr_bytes: int) -> bytearray:
        if self._reader is None:
            return self._traced_recv(nr_bytes)
        return self._reader(self._traced_recv, nr_bytes)

    def _traced_recv(self, nr_bytes: int) -> bytearray:
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
        trace.keep_first_bytes(data)
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
    """An AE for one association attempt, with bounded timeouts and a connection trace;
    ``reader`` sees every read of the association's socket."""

    def __init__(self, ae_title: str, timeouts: Timeouts, *, reader: Reader | None = None) -> None:
        super().__init__(ae_title=ae_title)
        self.connection_timeout = timeouts.connect
        self.acse_timeout = timeouts.acse
        self.dimse_timeout = timeouts.dimse
        self.network_timeout = timeouts.network
        self.trace = ConnectionTrace()
        self._reader = reader

    def _create_socket(
        self,
        assoc: Association,
        address: AddressInformation,
        tls_args: tuple[ssl.SSLContext, str] | None,
    ) -> AssociationSocket:
        # pynetdicom's own body is these three lines with its AssociationSocket (pinned in SEAMS).
        return_stolen_responses(assoc)  # called before the association exists: the right time
        sock = _TracedAssociationSocket(assoc, address, self.trace, self._reader)
        sock.tls_args = tls_args
        return sock
