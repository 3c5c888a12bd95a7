"""The DICOMweb server stopped mid-request (issue 18): the real Apache (Basic) is killed, its
whole process group (as a crash or an OOM kill would; on SIGTERM the worker kept the held
request past the fixture's 10 s bound), while a request it authenticated waits for the
backend's answer. The backend is a TCP server on 127.0.0.1 that reads the forwarded request
and holds it (what makes "mid-request" certain); the client's call must end at once in
``AssociationAborted``, with nothing of the password in it, well within its deadline. Then,
with Apache gone, the next call is ``PeerUnreachable``."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from client_sdk import AssociationAborted, DicomWebClient, PeerUnreachable
from providers import PasswordProvider
from tests.conftest import poll
from tests.tcp_server import tcp_server
from tests.web_helpers import PASSWORD
from tests.web_servers import ApacheProxy, BasicAuth, apache_proxy

pytestmark = pytest.mark.interop

DEADLINE = 30.0  # the client's; the stop must end the call long before it


class HeldRequests:
    """A backend that reads each forwarded request and never answers it."""

    def __init__(self) -> None:
        self.arrived = threading.Event()

    def __call__(self, conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(0.2)
        while not stop.is_set():
            try:
                if conn.recv(65536):
                    self.arrived.set()
            except TimeoutError:
                continue
            except OSError:
                return


@pytest.fixture
def held() -> Iterator[tuple[ApacheProxy, HeldRequests]]:
    backend = HeldRequests()
    with tcp_server(backend) as (host, port):
        scheme = BasicAuth({"alice": PASSWORD}, password_hash="apr1")
        with apache_proxy(f"http://{host}:{port}/dicom-web/", scheme=scheme) as proxy:
            yield proxy, backend


def test_the_server_stopped_mid_request_aborts_the_call(
    held: tuple[ApacheProxy, HeldRequests],
) -> None:
    proxy, backend = held
    client = DicomWebClient(proxy.url, PasswordProvider("alice", PASSWORD), timeout=DEADLINE)
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(client.echo())
        except BaseException as error:
            outcome.append(error)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    poll(backend.arrived.is_set, timeout=10, what="the request forwarded by Apache")
    stopped_at = time.monotonic()
    proxy.process.stop(signal.SIGKILL, timeout=5)  # the group: the worker holding it goes too
    caller.join(timeout=DEADLINE)
    assert not caller.is_alive()
    assert time.monotonic() - stopped_at < DEADLINE / 3
    (error,) = outcome
    assert isinstance(error, AssociationAborted), repr(error)
    assert "broke during the exchange" in str(error) and PASSWORD not in str(error)
    with pytest.raises(PeerUnreachable, match="connection refused"):
        client.echo()
    client.close()
