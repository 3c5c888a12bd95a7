"""A plain TCP server on 127.0.0.1 that hands each connection to a handler, for peers that speak no
DICOM or TLS."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def tcp_server(
    handle: Callable[[socket.socket, threading.Event], None],
) -> Iterator[tuple[str, int]]:
    """Accepts TCP connections on 127.0.0.1 in a thread of its own and hands each to ``handle``
    (with the stop signal), closing it afterwards; stopped and joined (bounded) at the end."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                handle(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
