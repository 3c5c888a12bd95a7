#!/usr/bin/env python3
"""What an identity and TLS cost per association, side by side (issue 7, benchmarks 1 and 2).

All cases run interleaved, round by round after a warm-up, against one embedded PACS (plain) and
one with TLS; each round is associate + C-ECHO + release. Reported: medians and ratios to raw
pynetdicom with no identity (plain) and to the SDK on plain TCP (TLS).

    .venv/bin/python benchmarks/association_overhead.py [--rounds 200]
"""

from __future__ import annotations

import os
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import jwt
from keyrings.alt.file import PlaintextKeyring
from pynetdicom import AE
from rounds import interleaved, medians_ms, options, sdk_round

from client_sdk import Client, Peer, TlsConfig
from client_sdk.sop import VERIFICATION
from client_sdk.testing import EmbeddedPacs
from providers import JwtFileProvider, KeyringPasswordProvider, UsernameProvider
from tests.tls_certs import make_certificates

KEY = "benchmark-hs256-key-0123456789abcdef"


def raw_round(host: str, port: int, tls: tuple[ssl.SSLContext, str] | None = None) -> None:
    ae = AE(ae_title="RAW")
    ae.add_requested_context(VERIFICATION)
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate(host, port, tls_args=tls)
    assert assoc.is_established
    assoc.send_c_echo()
    assoc.release()


def main() -> int:
    args = options(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certificates(Path(tmp))
        keyring = PlaintextKeyring()
        keyring.file_path = os.path.join(tmp, "keyring.cfg")
        keyring.set_password("bench", "alice", "pw")
        token = Path(tmp) / "token.jwt"
        now = int(time.time())
        token.write_text(jwt.encode({"sub": "alice", "exp": now + 3600}, KEY, algorithm="HS256"))
        token.chmod(0o600)
        users = {"alice": "pw"}
        with (
            EmbeddedPacs(users=users, jwt_key=KEY) as plain,
            EmbeddedPacs(users=users, jwt_key=KEY, ssl_context=certs.server_context()) as secure,
        ):
            peer = Peer(plain.host, plain.port, plain.ae_title)
            tls = TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")
            tls_peer = Peer(secure.host, secure.port, secure.ae_title, tls=tls)
            raw_tls = (tls.context(), "localhost")
            keyring_identity = KeyringPasswordProvider("bench", "alice", backend=keyring)
            cases: dict[str, Callable[[], None]] = {
                "raw pynetdicom, no identity": partial(raw_round, plain.host, plain.port),
                "sdk username": partial(
                    sdk_round, Client(peer, identity=UsernameProvider("alice"))
                ),
                "sdk keyring password": partial(sdk_round, Client(peer, identity=keyring_identity)),
                "sdk jwt file": partial(sdk_round, Client(peer, identity=JwtFileProvider(token))),
                "raw pynetdicom TLS": partial(raw_round, secure.host, secure.port, raw_tls),
                "sdk username TLS": partial(
                    sdk_round, Client(tls_peer, identity=UsernameProvider("alice"))
                ),
            }
            times = interleaved(cases, rounds=args.rounds, warmup=args.warmup)
    medians = medians_ms(times)
    base = medians["raw pynetdicom, no identity"]
    for name, value in medians.items():
        print(f"{name:30s} median {value:6.2f} ms   ratio to raw plain {value / base:5.2f}")
    print(
        f"TLS vs plain (SDK username): "
        f"{medians['sdk username TLS'] / medians['sdk username']:.2f}; raw pynetdicom TLS vs "
        f"SDK TLS: {medians['raw pynetdicom TLS'] / medians['sdk username TLS']:.2f}"
    )
    print(f"({args.rounds} interleaved rounds, associate + C-ECHO + release, 127.0.0.1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
