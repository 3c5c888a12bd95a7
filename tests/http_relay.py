"""An HTTP relay on 127.0.0.1 in front of a real server, that lets a test rewrite each answer's
head: how the tests tamper with a Negotiate reply between Apache and the client (the DIMSE tests
do the same to the A-ASSOCIATE-AC with tests/wire.py's ``Relay``).

One request per connection: the relay makes both heads say ``Connection: close``, so each answer
is the rest of its connection and the client opens a new one for the next request. ``rewrite``
gets each answer's head (status line and headers, up to the blank line) and its number (0, 1,
...) and returns the head to pass on. ``tls``: the client side speaks TLS with that server
context (the relay then presents its own certificate, as a man in the middle would); it may be
changed between requests (a server that renews its certificate). Over TLS a request body must
have a Content-Length (an SSL socket is read whole before the answer is written to it).

Every socket has a timeout; ``__exit__`` closes every socket and joins every thread
(tests/web_threaded_server.py).
"""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import ssl
from collections.abc import Callable

from tests.web_threaded_server import SOCKET_TIMEOUT, ThreadedServer, pump

__all__ = [
    "HttpRelay",
    "flip_negotiate_token",
    "negotiate_token",
    "replace_negotiate_token",
    "strip_negotiate_token",
]

_MAX_HEAD = 64 * 1024
_CONNECTION = re.compile(rb"(?im)^connection:[^\r\n]*\r\n")
_NEGOTIATE = re.compile(rb"(?im)^(www-authenticate:[ \t]*negotiate[ \t]+)([A-Za-z0-9+/=]+)")

Rewrite = Callable[[bytes, int], bytes]


def negotiate_token(head: bytes) -> bytes | None:
    """The server token of a ``WWW-Authenticate: Negotiate <token>`` line of ``head``."""
    match = _NEGOTIATE.search(head)
    return base64.b64decode(match.group(2)) if match else None


def flip_negotiate_token(head: bytes) -> bytes:
    """``head`` with the last byte of its Negotiate token flipped (inside the AP-REP's
    encrypted part: its integrity check fails)."""

    def flip(match: re.Match[bytes]) -> bytes:
        raw = bytearray(base64.b64decode(match.group(2)))
        raw[-1] ^= 0x01
        return match.group(1) + base64.b64encode(bytes(raw))

    return _NEGOTIATE.sub(flip, head, count=1)


def strip_negotiate_token(head: bytes) -> bytes:
    """``head`` without its ``WWW-Authenticate: Negotiate <token>`` line."""
    return re.sub(rb"(?im)^www-authenticate:[ \t]*negotiate[^\r\n]*\r\n", b"", head)


def replace_negotiate_token(head: bytes, token: bytes) -> bytes:
    """``head`` with ``token`` in place of its Negotiate token."""
    replacement = base64.b64encode(token)
    return _NEGOTIATE.sub(lambda m: m.group(1) + replacement, head, count=1)


class HttpRelay(ThreadedServer):
    """``with HttpRelay(port) as relay: relay.url``; ``relay.rewrite`` may be changed between
    requests; ``relay.heads`` holds each answer's head as the server sent it."""

    def __init__(
        self, port: int, *, rewrite: Rewrite | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__()
        self._target = ("127.0.0.1", port)
        self.rewrite: Rewrite = rewrite or (lambda head, index: head)
        self.tls = tls
        self._heads: list[bytes] = []

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def heads(self) -> list[bytes]:
        with self._lock:
            return list(self._heads)

    def serve(self, client: socket.socket) -> None:
        try:
            if self.tls is not None:
                client = self._keep(self.tls.wrap_socket(client, server_side=True))
            server = self._keep(socket.create_connection(self._target, timeout=SOCKET_TIMEOUT))
            head, rest = _read_head(client)
            if self.tls is not None:
                # An SSL socket must not be read and written by two threads at once: the body
                # (by its Content-Length) is read here, and nothing is pumped that way after.
                server.sendall(_close_after(head) + _whole_body(client, head, rest))
            else:
                server.sendall(_close_after(head) + rest)
                self._start(pump, client, server)
            head, rest = _read_head(server)
            with self._lock:
                index = len(self._heads)
                self._heads.append(head)
            client.sendall(_close_after(self.rewrite(head, index)) + rest)
            pump(server, client)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError):
                client.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk or len(data) > _MAX_HEAD:
            raise ValueError("no complete head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _whole_body(sock: socket.socket, head: bytes, rest: bytes) -> bytes:
    """The request body after ``head``, of the length its Content-Length says (0 if none)."""
    match = re.search(rb"(?im)^content-length:[ \t]*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("the body ended early")
        rest += chunk
    return rest


def _close_after(head: bytes) -> bytes:
    """``head`` (ending in a blank line) with ``Connection: close`` as its only Connection."""
    return _CONNECTION.sub(b"", head)[:-2] + b"Connection: close\r\n\r\n"
