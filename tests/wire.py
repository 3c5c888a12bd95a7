"""A TCP relay on 127.0.0.1 that can rewrite the A-ASSOCIATE-AC on its way to the client.

A man in the middle for tests: it forwards everything unchanged except the first PDU from the
server, which ``rewrite_ac`` may alter (for example, flip a byte of the user identity response).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

AC_FIXED = 68  # protocol version, reserved, called/calling AE titles, reserved (PS3.8 9.3.3)


def read_pdu(sock: socket.socket) -> bytes:
    header = _read_exact(sock, 6)
    return header + _read_exact(sock, int.from_bytes(header[2:6], "big"))


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        data += chunk
    return data


def identity_response_span(pdu: bytes) -> tuple[int, int] | None:
    """Where the server response of the 59H item sits in an A-ASSOCIATE-AC: (start, end)."""
    if pdu[0] != 0x02:
        return None
    pos = 6 + AC_FIXED
    while pos + 4 <= len(pdu):
        kind, length = pdu[pos], int.from_bytes(pdu[pos + 2 : pos + 4], "big")
        if kind == 0x50:
            sub, end = pos + 4, pos + 4 + length
            while sub + 4 <= end:
                sub_kind = pdu[sub]
                sub_len = int.from_bytes(pdu[sub + 2 : sub + 4], "big")
                if sub_kind == 0x59:
                    start = sub + 6  # header (4) + server response length (2)
                    return start, sub + 4 + sub_len
                sub += 4 + sub_len
        pos += 4 + length
    return None


def flip_last_response_byte(pdu: bytes) -> bytes:
    span = identity_response_span(pdu)
    if span is None or span[0] == span[1]:
        return pdu
    data = bytearray(pdu)
    data[span[1] - 1] ^= 0xFF
    return bytes(data)


class Relay:
    """Listens on 127.0.0.1; each connection is relayed to ``(host, port)``."""

    def __init__(
        self, host: str, port: int, rewrite_ac: Callable[[bytes], bytes] = lambda pdu: pdu
    ) -> None:
        self._target = (host, port)
        self._rewrite = rewrite_ac
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self._sockets:
            sock.close()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(self._target, timeout=10)
            client.settimeout(10)
            self._sockets += [client, server]
            for args in ((client, server, False), (server, client, True)):
                thread = threading.Thread(target=self._pump, args=args, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        try:
            if from_server:
                sink.sendall(self._rewrite(read_pdu(source)))
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except (OSError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
