"""The TCP server under the HTTP test peers (tests/http_proxy.py's recording proxy and
tests/http_relay.py's rewriting relay): a listener on 127.0.0.1, a thread per connection handed
to the subclass's ``serve``, every socket with a timeout, and on ``__exit__`` every socket shut
down and closed and every thread joined (bounded). ``pump`` copies one direction of a relayed
connection."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Self

__all__ = ["SOCKET_TIMEOUT", "ThreadedServer", "pump"]

SOCKET_TIMEOUT = 10.0


class ThreadedServer:
    """``with Subclass() as server: server.port``; the subclass defines ``serve(conn)``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def serve(self, conn: socket.socket) -> None:
        """Handle one accepted connection (in a thread of its own)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._start(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
        self._listener.close()

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _keep(self, sock: socket.socket) -> socket.socket:
        """``sock`` with the timeout, closed on ``__exit__``."""
        sock.settimeout(SOCKET_TIMEOUT)
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._start(self.serve, self._keep(conn))


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy ``source`` to ``sink`` until ``source`` ends (or either fails); then end ``sink``'s
    writing side, so its reader sees the end too."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
