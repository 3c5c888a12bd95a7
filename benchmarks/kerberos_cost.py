#!/usr/bin/env python3
"""Per-association cost of the Kerberos provider against the username provider, side by side.

Both run against the same embedded PACS (which verifies both), interleaved round by round after a
warm-up, so machine noise hits both alike; the result is the ratio of the medians. Each round is
associate + C-ECHO + release. Also reported: the cost of building one Kerberos token alone.

    .venv/bin/python benchmarks/kerberos_cost.py [--rounds 200]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rounds import interleaved, medians_ms, options, sdk_round

from client_sdk import Client, Peer
from client_sdk.testing import EmbeddedPacs
from client_sdk.testing.kerberos_realm import throwaway_realm
from providers import KerberosProvider, Target, UsernameProvider


def main() -> int:
    args = options(__doc__)
    with throwaway_realm() as realm:
        os.environ.update(realm.env)
        with EmbeddedPacs(users={"alice": "x"}, kerberos_keytab=realm.pacs_keytab) as pacs:
            peer = Peer(pacs.host, pacs.port, pacs.ae_title)
            kerberos = KerberosProvider(hostname="localhost")
            cases = {
                "username": partial(sdk_round, Client(peer, identity=UsernameProvider("alice"))),
                "kerberos": partial(sdk_round, Client(peer, identity=kerberos)),
            }
            times = interleaved(cases, rounds=args.rounds, warmup=args.warmup)
            target = Target(pacs.host, pacs.port, pacs.ae_title, "BENCH")
            token_times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                kerberos.negotiate(target)
                token_times.append(time.perf_counter() - started)
    medians = medians_ms(times)
    for name, value in medians.items():
        spread = statistics.quantiles([t * 1000 for t in times[name]], n=10)
        print(f"{name:9s} median {value:6.2f} ms  (p10 {spread[0]:.2f}, p90 {spread[-1]:.2f})")
    print(f"kerberos token build alone: median {statistics.median(token_times) * 1000:.2f} ms")
    print(
        f"ratio kerberos/username: {medians['kerberos'] / medians['username']:.3f} "
        f"({args.rounds} interleaved rounds, associate + C-ECHO + release)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
