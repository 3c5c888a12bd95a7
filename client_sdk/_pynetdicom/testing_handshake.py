"""A TLS handshake in pynetdicom's accept loop that a silent client cannot stall forever.

pynetdicom's ``AssociationServer.get_request`` wraps each accepted socket, blocking and without a
timeout, in the accept loop's own thread: a client that connects and then says nothing (or stops
mid-handshake) holds up every later connection, and ``server.shutdown()`` waits for it forever.
:class:`BoundedHandshakes` replaces that method on one server: each handshake has a timeout, and
:meth:`BoundedHandshakes.cut` ends the one in progress at once so the server can stop.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading

from pynetdicom.transport import ThreadedAssociationServer


class BoundedHandshakes:
    """Installs itself as ``server.get_request``; ``timeout`` bounds each TLS handshake (s)."""

    def __init__(self, server: ThreadedAssociationServer, *, timeout: float) -> None:
        self._server = server
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: set[ssl.SSLSocket] = set()
        self._closing = False
        # An instance attribute: socketserver's accept loop calls self.get_request().
        server.get_request = self._get_request  # type: ignore[method-assign]

    def cut(self) -> None:
        """Refuse new handshakes and end the ones in progress (their get_request fails and the
        accept loop goes on, so it can notice a shutdown request)."""
        with self._lock:
            self._closing = True
            pending = list(self._pending)
        for tls in pending:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)  # wakes the handshake blocked in recv()

    def _get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        listener = self._server.socket
        assert listener is not None
        client, address = listener.accept()
        context = self._server.ssl_context
        if context is None:
            return client, address
        blocking = client.gettimeout()
        client.settimeout(self._timeout)
        try:
            tls = context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        except BaseException:
            client.close()
            raise
        with self._lock:
            closing = self._closing
            if not closing:
                self._pending.add(tls)
        try:
            if closing:
                raise ConnectionAbortedError("the server is stopping")
            tls.do_handshake()
        except BaseException:
            tls.close()
            raise  # an OSError (ssl.SSLError, TimeoutError): socketserver drops the connection
        finally:
            with self._lock:
                self._pending.discard(tls)
        tls.settimeout(blocking)
        return tls, address
