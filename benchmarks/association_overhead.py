#!/usr/bin/env python3
"""Benchmark 1: what an identity costs per association (issue 7).

Associate + C-ECHO + release against one embedded PACS that verifies every identity, in a
process of its own (it does not share the client's interpreter lock): raw pynetdicom with no
identity (the baseline) vs the SDK with the username, keyring-password, JWT-file and Kerberos
providers (a throwaway MIT KDC on 127.0.0.1). All cases run interleaved, round by round, after a
warm-up; the result is the median over the rounds of each case's time over the baseline's in the
same round.
Goals: <= 1.05 for username, keyring and JWT; <= 1.20 for Kerberos.

    .venv/bin/python benchmarks/association_overhead.py [--rounds 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import peers
from pynetdicom import AE
from rounds import Row, interleaved, round_rows, run_alone, sdk_round

from client_sdk import VERIFICATION, Client, Peer

NAME = "1 identity per association"
BASELINE = "raw pynetdicom, no identity"


def raw_round(
    host: str, port: int, tls: tuple[object, str] | None = None, *, ae_title: str = "ANY-SCP"
) -> None:
    """Stock pynetdicom, as a user without the SDK would write it (timeouts set)."""
    ae = AE(ae_title="RAW")
    ae.add_requested_context(VERIFICATION)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate(host, port, ae_title=ae_title, tls_args=tls)  # type: ignore[arg-type]
    assert assoc.is_established
    assoc.send_c_echo()
    assoc.release()


def run(args: argparse.Namespace) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp, peers.kerberos() as (realm, no_kerberos):
        ids = peers.identities(Path(tmp))
        keytab = realm.pacs_keytab if realm is not None else None
        pacs_folder = Path(tmp) / "pacs"
        with peers.embedded_pacs_process(pacs_folder, kerberos_keytab=keytab) as pacs:
            peer = Peer(pacs.host, pacs.port, pacs.ae_title)
            cases: dict[str, Callable[[], None]] = {
                BASELINE: partial(raw_round, pacs.host, pacs.port, ae_title=pacs.ae_title),
                "sdk username": partial(sdk_round, Client(peer, identity=ids.username)),
                "sdk keyring password": partial(sdk_round, Client(peer, identity=ids.keyring)),
                "sdk jwt file": partial(sdk_round, Client(peer, identity=ids.jwt)),
            }
            if realm is not None:
                from providers import KerberosProvider

                kerberos = KerberosProvider(hostname="localhost")
                cases["sdk kerberos"] = partial(sdk_round, Client(peer, identity=kerberos))
            times = interleaved(cases, rounds=args.rounds, warmup=args.warmup)
    goals = {
        "sdk username": "<= 1.05",
        "sdk keyring password": "<= 1.05",
        "sdk jwt file": "<= 1.05",
        "sdk kerberos": "<= 1.20",
    }
    rows = round_rows(NAME, times, baseline=BASELINE, goals=goals)
    if realm is None:
        rows.append(Row(NAME, "sdk kerberos", None, "", goal="<= 1.20", note=no_kerberos))
    return rows


if __name__ == "__main__":
    raise SystemExit(run_alone(run, __doc__))
