"""A pynetdicom storage SCP that holds every C-STORE until it is released: files in flight on
demand, for the tests of Ctrl-C and of a worker that dies mid-store."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class HoldingScp:
    port: int
    ae_title: str
    arrivals: list[int]  # one entry per C-STORE that arrived (and is held)
    release: threading.Event  # set: every held C-STORE is answered with success


@contextlib.contextmanager
def holding_store_scp(hold_for: float) -> Iterator[HoldingScp]:
    """Each C-STORE waits for ``release`` (at most ``hold_for`` seconds), then succeeds. On exit
    everything held is released and the server shut down."""
    from pynetdicom import AE, StoragePresentationContexts, evt

    arrivals: list[int] = []
    release = threading.Event()

    def hold(event: Any) -> int:
        arrivals.append(1)
        release.wait(hold_for)
        return 0x0000

    ae = AE(ae_title="SLOW_STORE")
    ae.supported_contexts = StoragePresentationContexts
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, hold)])
    assert server is not None
    try:
        yield HoldingScp(server.server_address[1], "SLOW_STORE", arrivals, release)
    finally:
        release.set()
        server.shutdown()
