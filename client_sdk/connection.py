"""The pynetdicom AE the client associates through: timeouts always set, connect errors kept.

pynetdicom swallows the ``OSError`` of a failed connect and only logs it; the client needs it to
say "refused" or "timed out". ``AE._create_socket`` and ``AssociationSocket._create_socket`` are
pynetdicom's own seams for choosing the socket; the socket class records its connect error.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass, field

from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.transport import T_CONNECT, AddressInformation, AssociationSocket

from client_sdk.reactor_race import return_stolen_responses

__all__ = ["ConnectionTrace", "SdkAE", "Timeouts", "recording_tls_context"]


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
    """What happened at the TCP level of one association attempt."""

    error: OSError | None = None
    connected: bool = False
    local_port: int | None = field(default=None)


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
            self.trace.connected = True
            self.trace.local_port = self.getsockname()[1]
        # pynetdicom never sets TCP_NODELAY; without it small PDUs wait for delayed ACKs.
        self.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def recording_tls_context(context: ssl.SSLContext, trace: ConnectionTrace) -> ssl.SSLContext:
    """``context``, with TLS sockets that record why a connect or handshake failed in ``trace``
    (pynetdicom swallows it: wrong CA, hostname mismatch, TLS against a plain port)."""

    class _RecordingSSLSocket(ssl.SSLSocket):
        def connect(self, address: object) -> None:
            try:
                super().connect(address)  # type: ignore[arg-type]
            except OSError as exc:
                trace.error = exc
                raise

    context.sslsocket_class = _RecordingSSLSocket
    return context


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _TracedAssociationSocket(AssociationSocket):
    def __init__(self, assoc: Association, address: AddressInformation, trace: ConnectionTrace):
        self._trace = trace
        super().__init__(assoc, address=address)

    def _create_socket(self, address: AddressInformation) -> socket.socket:
        # Same set-up as pynetdicom's own, with a socket that records its connect error.
        family = socket.AF_INET if address.is_ipv4 else socket.AF_INET6
        sock = _RecordingSocket(family, socket.SOCK_STREAM)
        sock.trace = self._trace
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.assoc.network_timeout is not None:
            sock.settimeout(self.assoc.network_timeout)
        sock.bind(address.as_tuple)
        self._is_connected = False
        return sock

    def connect(self, primitive: T_CONNECT) -> None:
        super().connect(primitive)
        sock = self.socket
        if self._is_connected and sock is not None:
            # pynetdicom clears the socket timeout once connected (transport.py:421): a peer that
            # stalls mid-PDU, or a TLS record that makes the socket look readable, would then
            # block recv() forever. Keep the network timeout on every read.
            sock.settimeout(self.assoc.network_timeout)
            self._trace.connected = True  # also over TLS, where the raw socket was replaced
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # Linux: acknowledge at once, not up to 40 ms later. A peer that writes a PDU in two pieces
    # without TCP_NODELAY (DCMTK's storescp, plain or TLS) holds the second piece back until the
    # first is acknowledged, so with delayed ACKs each response waited about 40 ms
    # (benchmarks/README.md). The kernel leaves quick-ACK mode on its own, so it is set again
    # whenever data arrives and after each read.
    @property
    def ready(self) -> bool:
        ready = bool(super().ready)
        if ready:
            self._quick_ack()
        return ready

    def recv(self, nr_bytes: int) -> bytearray:
        data = super().recv(nr_bytes)
        self._quick_ack()
        return data

    def _quick_ack(self) -> None:
        sock = self.socket
        if _TCP_QUICKACK is not None and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)

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
