"""One deadline for a whole HTTP exchange (connect, TLS, proxy tunnel, headers and body).

requests' ``timeout`` bounds each socket operation: a server that sends its answer a byte at a
time, each byte within the timeout, holds the client for as long as it likes. Here the sockets
of :class:`DeadlineAdapter`'s connections set their timeout to what is left of one monotonic
deadline before every read, write and TLS handshake; once it has passed, the operation fails at
once with ``TimeoutError``, which urllib3 and requests report as a timeout.

The deadline is the one of the :func:`exchange_deadline` block that is running in the calling
thread (a ``ContextVar``): requests does all its I/O, Kerberos' second request included, in the
thread that called it. Outside such a block the sockets behave as usual. DNS resolution
(``getaddrinfo``) cannot be bounded this way.

A plain-HTTP connection carries the request in clear, so it may only reach loopback, and that is
decided by the address actually connected to, never by the name (``localhost.``, with its
trailing dot, is looked up in DNS): once connected, a socket whose ``getpeername()`` is not a
loopback address is closed before any byte of the request is written, and
:class:`PlainHttpOffLoopback` is raised; through a proxy, the address checked is the proxy's.
Only a caller whose policy allows insecure transport explicitly turns this check off
(``DeadlineAdapter(plain_http_off_loopback=True)``).
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection

from providers._base import is_loopback_address


class PlainHttpOffLoopback(Exception):
    """A plain-HTTP connection reached ``address``, which is not loopback; it was closed before
    anything was sent. Not an ``OSError``: urllib3 and requests let it through as it is, and
    never retry it."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} led to {address}, not a loopback address")
        self.host = host
        self.address = address


class Deadline:
    """``seconds`` from its creation, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; raises ``TimeoutError`` once the deadline has passed."""
        left = self._ends - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the deadline of {self.seconds:g} s for the exchange passed")
        return left

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self._ends


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "providers_http_deadline", default=None
)


@contextlib.contextmanager
def exchange_deadline(seconds: float) -> Iterator[Deadline]:
    """Every socket of a :class:`DeadlineAdapter` used in this block (this thread) shares one
    deadline, ``seconds`` from now."""
    deadline = Deadline(seconds)
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def _arm(sock: socket.socket) -> None:
    deadline = _current.get()
    if deadline is not None:
        sock.settimeout(deadline.remaining())


class _DeadlineSocket(socket.socket):
    """A TCP socket whose every operation waits at most until the deadline."""

    __slots__ = ()

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        _arm(self)
        return super().recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        _arm(self)
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        _arm(self)
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _arm(self)
        super().sendall(data, flags)


class DeadlineSSLSocket(ssl.SSLSocket):
    """The TLS socket of an ``SSLContext`` whose ``sslsocket_class`` it is: the handshake and
    every read and write wait at most until the deadline (Python's ssl keeps one deadline per
    operation, so each of these is bounded as a whole)."""

    def do_handshake(self, block: bool = False) -> None:
        _arm(self)
        super().do_handshake(block)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        _arm(self)
        return super().read(len, buffer)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        _arm(self)
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        _arm(self)
        return super().recv_into(buffer, nbytes, flags)

    def write(self, data: Any) -> int:
        _arm(self)
        return super().write(data)

    def send(self, data: Any, flags: int = 0) -> int:
        _arm(self)
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _arm(self)
        super().sendall(data, flags)


def _deadline_socket(connection: Any, connect: Any) -> _DeadlineSocket:
    """``connect()`` (urllib3's ``_new_conn``) within the deadline, as a
    :class:`_DeadlineSocket`."""
    deadline = _current.get()
    if deadline is not None:
        connection.timeout = deadline.remaining()  # the connect timeout
    plain: socket.socket = connect()
    timeout = plain.gettimeout()
    sock = _DeadlineSocket(fileno=plain.detach())
    sock.settimeout(timeout)
    return sock


def _require_loopback(sock: socket.socket, host: str) -> None:
    """Close ``sock`` and raise :class:`PlainHttpOffLoopback` unless it is connected to a
    loopback address. A peer gone before ``getpeername()`` is a failed connection."""
    try:
        address = str(sock.getpeername()[0])
    except OSError:
        sock.close()
        raise
    if not is_loopback_address(address):
        sock.close()
        raise PlainHttpOffLoopback(host, address)


class _HTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = _deadline_socket(self, super()._new_conn)
        # The request would cross the network in clear. (_dns_host: the name as given; urllib3's
        # host drops a trailing dot.)
        _require_loopback(sock, getattr(self, "_dns_host", self.host))
        return sock


class _AnyHTTPConnection(urllib3.connection.HTTPConnection):
    """Plain HTTP to any address: only where the caller's policy allows it explicitly."""

    def _new_conn(self) -> socket.socket:
        return _deadline_socket(self, super()._new_conn)


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _deadline_socket(self, super()._new_conn)


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _AnyHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _AnyHTTPConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}
_POOLS_ANY_HTTP = {"http": _AnyHTTPPool, "https": _HTTPSPool}


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """Connections with deadline sockets, also through a proxy; never retries. For HTTPS, give
    the pools an ``SSLContext`` whose ``sslsocket_class`` is :class:`DeadlineSSLSocket`.
    ``plain_http_off_loopback``: let a plain-HTTP connection reach any address (a policy that
    allows insecure transport explicitly); by default it must reach loopback."""

    def __init__(self, *, plain_http_off_loopback: bool = False) -> None:
        self._pools = _POOLS_ANY_HTTP if plain_http_off_loopback else _POOLS
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._pools
        return manager


class ContextAdapter(DeadlineAdapter):
    """Verifies HTTPS with one ``SSLContext`` and nothing else (requests would add certifi).
    ``server_hostname``: the name sent in SNI and checked against the certificate, when it is
    not the URL's host (a server reached by address, or through a tunnel by another name)."""

    def __init__(
        self,
        context: ssl.SSLContext,
        server_hostname: str | None = None,
        *,
        plain_http_off_loopback: bool = False,
    ) -> None:
        self._context = context
        self._server_hostname = server_hostname
        super().__init__(plain_http_off_loopback=plain_http_off_loopback)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(pool)
        pool_kwargs["ssl_context"] = self._context
        if self._server_hostname is not None:
            pool_kwargs["server_hostname"] = self._server_hostname  # part of the pool's key
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        return host, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        base: Any = super()
        base.cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None  # the context alone decides
