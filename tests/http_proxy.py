"""An HTTP proxy on 127.0.0.1 that records what reaches it: ``CONNECT`` tunnels, and any other
request (which a forwarding proxy would pass on, and here gets a 502).

A ``CONNECT`` to 127.0.0.1 is tunnelled for real (bytes relayed both ways until either side
closes), so an HTTPS client reaches its server through it; a tunnel anywhere else is refused
(tests never leave 127.0.0.1). ``seen`` holds every request head, and the body of any request
that is not a ``CONNECT``: what the proxy could read.
"""

from __future__ import annotations

import contextlib
import socket

from tests.web_threaded_server import SOCKET_TIMEOUT, ThreadedServer, pump

__all__ = ["RecordingProxy"]


class RecordingProxy(ThreadedServer):
    """``with RecordingProxy() as proxy: proxy.url``; ``proxy.seen`` lists what arrived."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def seen(self) -> list[bytes]:
        with self._lock:
            return list(self._seen)

    def serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                head += chunk
            request_line = head.split(b"\r\n", 1)[0].split()
            if request_line[:1] == [b"CONNECT"] and len(request_line) == 3:
                with self._lock:
                    self._seen.append(head)
                self._tunnel(conn, request_line[1].decode("ascii", "replace"))
                return
            # A forwarding request: read what a proxy would see (the body too), refuse it.
            body = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""
            length = _content_length(head)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            with self._lock:
                self._seen.append(head.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body)
            conn.sendall(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        conn.close()

    def _tunnel(self, conn: socket.socket, authority: str) -> None:
        host, _, port = authority.rpartition(":")
        if host != "127.0.0.1" or not port.isdigit():
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        upstream = self._keep(socket.create_connection((host, int(port)), timeout=SOCKET_TIMEOUT))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._start(pump, upstream, conn)
        pump(conn, upstream)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return 0
