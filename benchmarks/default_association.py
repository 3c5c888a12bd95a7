#!/usr/bin/env python3
"""Benchmark 7: the README's ``client.associate()`` (no SOP classes, about 123 presentation
contexts) against a Verification-only association (issue 16).

Associate + C-ECHO + release with the username identity, interleaved round by round after a
warm-up, the default case twice: a Client that remembers what the peer accepted (the second
association on: only those contexts, one transfer syntax each) and a new Client each round (the
full list, as every association did before the memory), against DCMTK ``storescp`` and against
the embedded PACS in a process of its own; the ratio is the median over the rounds of the default
case's time over the Verification-only one's. Goal: <= 1.3.

    .venv/bin/python benchmarks/default_association.py [--rounds 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import peers
from pynetdicom import AE, StoragePresentationContexts
from rounds import Row, interleaved, round_rows, run_alone, sdk_round

from client_sdk import STUDY_ROOT_FIND, STUDY_ROOT_MOVE, VERIFICATION, Client, Peer
from providers import UsernameProvider

VERIFICATION_ONLY = "sdk Verification only"
DEFAULT = "sdk default contexts, remembered"
FIRST = "sdk default contexts, new Client (full list)"
SERVICES = "sdk services={'echo', 'store:CT'} (3 contexts)"
RAW_VERIFICATION = "raw pynetdicom Verification only"
RAW_DEFAULT = "raw pynetdicom same 123 contexts"
GOALS = {DEFAULT: "<= 1.3", FIRST: "<= 1.3", SERVICES: "<= 1.3"}
BASELINES = {RAW_DEFAULT: RAW_VERIFICATION}
# The SDK's default list, for the floor: what pynetdicom and the peer alone cost for 123 contexts.
_DEFAULT_UIDS = [VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_MOVE] + [
    str(cx.abstract_syntax) for cx in StoragePresentationContexts
]


def default_round(client: Client) -> None:
    """Associate with no SOP classes named (the README's way), C-ECHO, release."""
    with client.associate() as session:
        session.echo()


def services_round(client: Client) -> None:
    """What a caller who says what it will do proposes: Verification, CT and Enhanced CT."""
    with client.associate(services={"echo", "store:CT"}) as session:
        session.echo()


def first_round(peer: Peer) -> None:
    """A new Client each round: nothing remembered, the 123 contexts with 4 syntaxes each."""
    default_round(Client(peer, identity=UsernameProvider(peers.USER)))


def raw_round(peer: Peer, uids: list[str]) -> None:
    """Stock pynetdicom with no identity and the given abstract syntaxes (timeouts set)."""
    ae = AE(ae_title="RAW")
    for uid in uids:
        ae.add_requested_context(uid)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    assert assoc.is_established
    assoc.send_c_echo()
    assoc.release()


def _cases(peer: Peer) -> dict[str, Callable[[], None]]:
    client = Client(peer, identity=UsernameProvider(peers.USER))
    return {
        VERIFICATION_ONLY: partial(sdk_round, client),
        DEFAULT: partial(default_round, client),
        FIRST: partial(first_round, peer),
        SERVICES: partial(services_round, client),
        RAW_VERIFICATION: partial(raw_round, peer, [VERIFICATION]),
        RAW_DEFAULT: partial(raw_round, peer, _DEFAULT_UIDS),
    }


def _rows(name: str, times: dict[str, list[float]]) -> list[Row]:
    return round_rows(name, times, baseline=VERIFICATION_ONLY, goals=GOALS, baselines=BASELINES)


def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        name = "7 default association, DCMTK storescp"
        why = peers.dcmtk_missing()
        if why:
            rows.append(Row(name, DEFAULT, None, "", goal="<= 1.3", note=why))
        else:
            with peers.storescp(Path(tmp) / "scp") as scp:
                peer = Peer("127.0.0.1", scp.port, scp.ae_title)
                times = interleaved(_cases(peer), rounds=args.rounds, warmup=args.warmup)
            rows += _rows(name, times)
        with peers.embedded_pacs_process(Path(tmp) / "pacs") as pacs:
            peer = Peer(pacs.host, pacs.port, pacs.ae_title)
            times = interleaved(_cases(peer), rounds=args.rounds, warmup=args.warmup)
        name = "7 default association, embedded PACS (own process)"
        rows += _rows(name, times)
    return rows


if __name__ == "__main__":
    raise SystemExit(run_alone(run, __doc__))
