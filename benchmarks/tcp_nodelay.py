#!/usr/bin/env python3
"""What TCP_NODELAY (and TCP_QUICKACK) on the SDK's sockets is worth, per association (issue 6).

pynetdicom sets TCP_NODELAY on no socket, so small PDUs and the last TLS handshake flight wait
for the peer's delayed ACK (Nagle + delayed ACK, about 40 ms). The SDK sets TCP_NODELAY on its
sockets, and TCP_QUICKACK before each read so that a peer without TCP_NODELAY does not wait for
our ACK either. Compared, through the private switches ``_TCP_NODELAY`` and ``_TCP_QUICKACK`` of
``client_sdk._pynetdicom.requestor`` that exist for this script only:

- "SDK": both on (the SDK as shipped);
- "NODELAY only": TCP_QUICKACK off;
- "neither": both off, the socket pynetdicom itself would use;

against these servers:

- the embedded PACS, which sets TCP_NODELAY on its side too;
- a stock pynetdicom Verification SCP, which does not (over TLS: Python's default of two TLS 1.3
  session tickets, and a variant that sends none).

All cases run interleaved round by round after a warm-up; each round is associate + C-ECHO +
release, with no identity (this measures the transport). Reported: medians, and per server the
ratio of "neither" and "NODELAY only" to "SDK".

    .venv/bin/python benchmarks/tcp_nodelay.py [--rounds 200] [--warmup 20]
"""

from __future__ import annotations

import ssl
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pynetdicom import AE, VerificationPresentationContexts
from rounds import interleaved, medians_ms, options, sdk_round

from client_sdk import Client, Peer, Timeouts, TlsConfig
from client_sdk._pynetdicom import requestor as connection
from client_sdk.testing import EmbeddedPacs
from tests.tls_certs import make_certificates

TIMEOUTS = Timeouts(connect=10, acse=10, dimse=10, network=10)


@contextmanager
def stock_scp(ssl_context: ssl.SSLContext | None) -> Iterator[tuple[str, int]]:
    """A pynetdicom Verification SCP as its documentation sets one up: no TCP_NODELAY."""
    ae = AE(ae_title="STOCK_SCP")
    ae.supported_contexts = VerificationPresentationContexts
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    server = ae.start_server(("127.0.0.1", 0), block=False, ssl_context=ssl_context)
    assert server is not None
    try:
        yield "127.0.0.1", int(server.server_address[1])
    finally:
        ae.shutdown()


# Client settings: name -> (TCP_NODELAY, TCP_QUICKACK)
SETTINGS = {"SDK": (True, True), "NODELAY only": (True, False), "neither": (False, False)}


def with_options(client: Client, nodelay: bool, quickack: bool) -> Callable[[], None]:
    shipped = (connection._TCP_NODELAY, connection._TCP_QUICKACK)

    def run() -> None:
        connection._TCP_NODELAY, connection._TCP_QUICKACK = nodelay, quickack
        try:
            sdk_round(client)
        finally:
            connection._TCP_NODELAY, connection._TCP_QUICKACK = shipped

    return run


def no_tickets(context: ssl.SSLContext) -> ssl.SSLContext:
    context.num_tickets = 0
    return context


def main() -> int:
    args = options(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certificates(Path(tmp))
        tls = TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")
        with (
            EmbeddedPacs() as pacs_plain,
            EmbeddedPacs(ssl_context=certs.server_context()) as pacs_tls,
            stock_scp(None) as stock_plain,
            stock_scp(certs.server_context()) as stock_tls,
            stock_scp(no_tickets(certs.server_context())) as stock_tls_no_tickets,
        ):
            embedded = (pacs_plain.host, pacs_plain.port, "EMBEDDED_PACS")
            embedded_tls = (pacs_tls.host, pacs_tls.port, "EMBEDDED_PACS")
            peers = {
                "embedded PACS, plain": Peer(*embedded),
                "embedded PACS, TLS": Peer(*embedded_tls, tls=tls),
                "stock SCP, plain": Peer(*stock_plain, "STOCK_SCP"),
                "stock SCP, TLS": Peer(*stock_tls, "STOCK_SCP", tls=tls),
                "stock SCP, TLS, no session tickets": Peer(
                    *stock_tls_no_tickets, "STOCK_SCP", tls=tls
                ),
            }
            cases: dict[str, Callable[[], None]] = {}
            for server, peer in peers.items():
                client = Client(peer, timeouts=TIMEOUTS)
                for setting, (nodelay, quickack) in SETTINGS.items():
                    cases[f"{server} | {setting}"] = with_options(client, nodelay, quickack)
            medians = medians_ms(interleaved(cases, rounds=args.rounds, warmup=args.warmup))

    print(f"associate + C-ECHO + release, medians of {args.rounds} interleaved rounds (ms)")
    print(f"  {'server':<36}" + "".join(f"{setting:>14}" for setting in SETTINGS))
    for server in peers:
        row = "".join(f"{medians[f'{server} | {setting}']:14.1f}" for setting in SETTINGS)
        print(f"  {server:<36}{row}")
    print("ratio to the SDK as shipped (neither / SDK, NODELAY only / SDK):")
    for server in peers:
        sdk = medians[f"{server} | SDK"]
        neither = medians[f"{server} | neither"] / sdk
        nodelay_only = medians[f"{server} | NODELAY only"] / sdk
        print(f"  {server:<36}{neither:14.2f}{nodelay_only:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
