"""A TCP listener on 127.0.0.1 that records what each connection sends, an address that is never
contacted, and the fixtures of the loopback tests (loaded by ``tests/conftest.py``): ``listener``
and ``localhost_dot_resolves_to_loopback``."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

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


@pytest.fixture
def listener() -> Iterator[Listener]:
    running = Listener()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def localhost_dot_resolves_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer the lookup of ``localhost.`` with 127.0.0.1, as a sane DNS would (urllib3 resolves
    through ``socket.getaddrinfo``)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "localhost." else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
