"""A TCP listener on 127.0.0.1 that records what each connection sends, and an address that is never
contacted."""

from __future__ import annotations

import socket
import threading

REMOTE = "192.0.2.10"  # TEST-NET-1: never routed, never connected to


class Listener:
    """A TCP listener on 127.0.0.1 that records every byte each connection sends."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while chunk := conn.recv(65536):
                    data += chunk
            except OSError:
                pass
            self.received.append(data)
        self.closed.set()

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)
