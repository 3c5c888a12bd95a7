#!/usr/bin/env python3
"""Benchmark 2: what TLS costs per association (issue 7).

Associate + C-ECHO + release with the username identity, the SDK over TLS vs the SDK over plain
TCP, with raw pynetdicom (plain and TLS, no identity) alongside for reference; against the
embedded PACS and against DCMTK's storescp (one plain, one with +tls), each peer's cases
interleaved round by round after a warm-up. Goal: SDK TLS <= 1.5 x SDK plain.

    .venv/bin/python benchmarks/tls_overhead.py [--rounds 200] [--warmup 20]
"""

from __future__ import annotations

import argparse
import ssl
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import peers
from association_overhead import raw_round
from rounds import Row, interleaved, round_rows, run_alone, sdk_round

from client_sdk import Client, Peer, TlsConfig
from client_sdk.testing import EmbeddedPacs
from providers import UsernameProvider
from tests.tls_certs import CertificateFiles, make_certificates

PLAIN = "sdk plain"
GOALS = {"sdk TLS": "<= 1.5"}
BASELINES = {"raw pynetdicom TLS": "raw pynetdicom plain"}


def _cases(
    host: str, plain_port: int, tls_port: int, ae_title: str, certs: CertificateFiles
) -> dict[str, Callable[[], None]]:
    tls = TlsConfig(ca_file=certs.ca_file, server_hostname=certs.hostname)
    identity = UsernameProvider(peers.USER)
    raw_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=certs.ca_file)
    return {
        PLAIN: partial(sdk_round, Client(Peer(host, plain_port, ae_title), identity=identity)),
        "sdk TLS": partial(
            sdk_round, Client(Peer(host, tls_port, ae_title, tls=tls), identity=identity)
        ),
        "raw pynetdicom plain": partial(raw_round, host, plain_port, ae_title=ae_title),
        "raw pynetdicom TLS": partial(
            raw_round, host, tls_port, (raw_context, certs.hostname), ae_title=ae_title
        ),
    }


def _rows(name: str, times: dict[str, list[float]]) -> list[Row]:
    return round_rows(name, times, baseline=PLAIN, goals=GOALS, baselines=BASELINES)


def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certificates(Path(tmp) / "certs")
        with (
            EmbeddedPacs(users=peers.USERS) as plain,
            EmbeddedPacs(users=peers.USERS, ssl_context=certs.server_context()) as secure,
        ):
            cases = _cases(plain.host, plain.port, secure.port, plain.ae_title, certs)
            times = interleaved(cases, rounds=args.rounds, warmup=args.warmup)
        rows += _rows("2 TLS, embedded PACS", times)
        name = "2 TLS, DCMTK storescp"
        why = peers.dcmtk_missing()
        if why:
            return [*rows, Row(name, "sdk TLS", None, "", goal="<= 1.5", note=why)]
        with (
            peers.storescp(Path(tmp) / "plain") as scp,
            peers.storescp(Path(tmp) / "tls", tls=certs) as scp_tls,
        ):
            cases = _cases("127.0.0.1", scp.port, scp_tls.port, scp.ae_title, certs)
            times = interleaved(cases, rounds=args.rounds, warmup=args.warmup)
        rows += _rows(name, times)
    return rows


if __name__ == "__main__":
    raise SystemExit(run_alone(run, __doc__))
