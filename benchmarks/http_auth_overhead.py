#!/usr/bin/env python3
"""Benchmark 6 (issue 18): what the HTTP auth of ``providers.http_auth`` adds to a DICOMweb
request, against an unauthenticated request to the same Orthanc through the same Apache.

One Orthanc with its DICOMweb plugin; in front of it one Apache per scheme, as the tests run
them (tests/web_servers.py): none (the baseline), Basic with an apr1 htpasswd (the keyring
password of a keyrings.alt file backend), Bearer with mod_oauth2 (a JWT file; and, when Node
is there, the cached token of a TokenEndpointProvider from the tests' OpenID Provider),
Negotiate with mod_auth_gssapi (a throwaway MIT KDC; a context and a verified reply per
request). For comparison: Orthanc without the proxy, the same schemes with the least a client
can do (requests' own HTTPBasicAuth, a fixed Bearer header: what is left is the server's work)
and requests-kerberos (two round trips a request, only the first reply of the object verified).
Orthanc holds ``--studies`` studies (10). One QIDO ``GET /studies`` per case per round, each
case on a keep-alive session of its own, interleaved after a warm-up, the order turned by one
case each round; the ratio is the median of the per-round ratios. Then the client side alone:
one call of each auth object on a prepared request (``--calls`` per case), in microseconds.

    .venv/bin/python benchmarks/http_auth_overhead.py [--rounds 100] [--warmup 20] [--calls 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import peers
import requests
from rounds import Row, round_rows, skipped

NAME = "6 HTTP auth per request"
CLIENT = "6 HTTP auth, client side per call"
BASELINE = "no auth (Apache proxy)"
PASSWORD = "correct horse battery staple"
GOALS = {"basic (apr1)": "<= 1.1", "bearer, JWT file": "<= 1.1", "bearer, cached token": "<= 1.1"}


def _session(auth: Any = None, **kwargs: Any) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # only 127.0.0.1, never an environment proxy
    session.auth = auth
    return session


class _FixedBearer(requests.auth.AuthBase):
    """The least a client can do for Bearer: one header, no source, no check."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request


def _store_studies(orthanc_url: str, count: int) -> None:
    """``count`` one-image studies into Orthanc through its REST API (POST /instances)."""
    from client_sdk.testing import ct_dataset

    with _session() as session:
        for n in range(count):
            buffer = io.BytesIO()
            ct_dataset(patient_id=f"BENCH-{n:04d}", seed=n).save_as(
                buffer, enforce_file_format=True
            )
            session.post(
                f"{orthanc_url}/instances", data=buffer.getvalue(), timeout=20
            ).raise_for_status()


def _client_side(auths: dict[str, tuple[Any, str]], calls: int) -> list[Row]:
    """Microseconds per call of each auth object on a fresh prepared request for its URL (not
    sent)."""
    times: dict[str, list[float]] = {name: [] for name in auths}
    for _ in range(calls):
        for name, (auth, url) in auths.items():
            prepared = requests.Request("GET", f"{url}/studies").prepare()
            started = time.perf_counter()
            auth(prepared)
            times[name].append(time.perf_counter() - started)
    return [Row(CLIENT, name, statistics.median(t) * 1e6, "µs") for name, t in times.items()]


def _rotated(
    cases: dict[str, Callable[[], None]], *, rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Like ``rounds.interleaved``, with the order turned by one case each round: the first
    request to a server after another server's costs 0.1-0.2 ms more here, which a fixed order
    puts on the same cases every round."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for n in range(warmup + rounds):
        for name in names[n % len(names) :] + names[: n % len(names)]:
            started = time.perf_counter()
            cases[name]()
            if n >= warmup:
                times[name].append(time.perf_counter() - started)
    return times


def _qido(session: requests.Session, url: str) -> Callable[[], None]:
    def run() -> None:
        reply = session.get(f"{url}/studies", timeout=20)
        if reply.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {reply.status_code}")

    return run


@contextlib.contextmanager
def _token_endpoint_case(
    folder: Path, backend: str, keyring: Any
) -> Iterator[tuple[str, Any] | str]:
    """(proxy URL, auth) for the token endpoint's cached token, or why it cannot run."""
    from providers import TokenEndpointProvider, http_auth
    from tests.oidc_fixtures import node_setup_missing, start_oidc_provider
    from tests.web_servers import BearerAuth, apache_proxy

    why = node_setup_missing()
    if why:
        yield why
        return
    with start_oidc_provider(folder / "op") as op:
        client = op.clients["post"]
        keyring.set_password("bench-oidc", client.client_id, client.secret)
        provider = TokenEndpointProvider(
            op.endpoint("token"),
            client_id=client.client_id,
            client_secret_keyring=("bench-oidc", client.client_id),
            scope=op.scope,
            audience=op.audience,
            keyring_backend=keyring,
        )
        scheme = BearerAuth(jwks_uri=op.endpoint("jwks"), audience=op.audience)
        with apache_proxy(backend, scheme=scheme) as proxy:
            yield proxy.url, http_auth(provider, url=proxy.url)


def run(args: argparse.Namespace) -> list[Row]:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from keyrings.alt.file import PlaintextKeyring

    from providers import JwtFileProvider, KerberosProvider, KeyringPasswordProvider, http_auth
    from tests.web_helpers import make_token, public_jwk
    from tests.web_servers import (
        DICOMWEB_ROOT,
        BasicAuth,
        BearerAuth,
        NegotiateAuth,
        NoAuth,
        apache_proxy,
        orthanc_dicomweb,
    )

    rows: list[Row] = []
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        realm, no_kerberos = stack.enter_context(peers.kerberos())
        orthanc = stack.enter_context(orthanc_dicomweb(folder / "orthanc"))
        _store_studies(orthanc.http_url, getattr(args, "studies", 10))
        backend = orthanc.http_url + DICOMWEB_ROOT
        keyring = PlaintextKeyring()
        keyring.file_path = str(folder / "keyring.cfg")
        keyring.set_password("bench", "alice", PASSWORD)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token_file = folder / "token.jwt"
        token_file.write_text(make_token(key, lifetime=3600))
        token_file.chmod(0o600)

        def proxy(scheme: Any) -> str:
            return str(stack.enter_context(apache_proxy(backend, scheme=scheme)).url)

        plain = proxy(NoAuth())
        basic = proxy(BasicAuth({"alice": PASSWORD}, password_hash="apr1"))
        bearer = proxy(BearerAuth(jwk=public_jwk(key, "k1"), audience="DICOMWEB"))
        keyring_auth = http_auth(
            KeyringPasswordProvider("bench", "alice", backend=keyring), url=basic
        )
        file_auth = http_auth(JwtFileProvider(token_file), url=bearer)
        cases: dict[str, Callable[[], None]] = {
            BASELINE: _qido(stack.enter_context(_session()), plain),
            "Orthanc direct (no proxy)": _qido(
                stack.enter_context(_session()), backend.rstrip("/")
            ),
            "basic (apr1)": _qido(stack.enter_context(_session(keyring_auth)), basic),
            "basic, requests' HTTPBasicAuth": _qido(
                stack.enter_context(_session(("alice", PASSWORD))), basic
            ),
            "bearer, JWT file": _qido(stack.enter_context(_session(file_auth)), bearer),
            "bearer, a fixed header": _qido(
                stack.enter_context(_session(_FixedBearer(token_file.read_text()))), bearer
            ),
        }
        client: dict[str, tuple[Any, str]] = {
            "basic (keyring password)": (keyring_auth, basic),
            "requests' HTTPBasicAuth": (requests.auth.HTTPBasicAuth("alice", PASSWORD), basic),
            "bearer, JWT file": (file_auth, bearer),
        }
        endpoint = stack.enter_context(_token_endpoint_case(folder, backend, keyring))
        if isinstance(endpoint, str):
            rows.append(skipped(NAME, "bearer, cached token", endpoint))
        else:
            url, auth = endpoint
            cases["bearer, cached token"] = _qido(stack.enter_context(_session(auth)), url)
            client["bearer, cached token"] = (auth, url)
        if realm is None:
            rows.append(skipped(NAME, "negotiate", no_kerberos))
        else:
            ccache = realm.kinit(ccache=str(folder / "ccache"))
            os.environ["KRB5CCNAME"] = f"FILE:{ccache}"
            negotiate = proxy(NegotiateAuth(realm))
            ours = http_auth(KerberosProvider(), url=negotiate, hostname="localhost")
            cases["negotiate (every reply verified)"] = _qido(
                stack.enter_context(_session(ours)), negotiate
            )
            client["negotiate (a new context and token)"] = (ours, negotiate)
            from requests_kerberos import REQUIRED, HTTPKerberosAuth

            theirs = HTTPKerberosAuth(mutual_authentication=REQUIRED, hostname_override="localhost")
            cases["negotiate, requests-kerberos"] = _qido(
                stack.enter_context(_session(theirs)), negotiate
            )
        times = _rotated(cases, rounds=args.rounds, warmup=args.warmup)
        rows += _client_side(client, args.calls)
    return round_rows(NAME, times, baseline=BASELINE, goals=GOALS) + rows


def main() -> int:
    from rounds import parser, print_table

    p = parser(__doc__)
    p.add_argument("--studies", type=int, default=10, help="studies in Orthanc (10)")
    p.set_defaults(rounds=100)
    args = p.parse_args()
    print_table(run(args), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
