#!/usr/bin/env python3
"""Interactive login (OpenID Connect device flow), then C-ECHO with the access token (type 5).

Logs in at --issuer as the public client --client-id: prints the verification URL and the user
code (on stderr) for the person to enter on any device, waits for them, keeps the refresh token in
the OS keyring, and says who logged in (never a token). Then a C-ECHO with the access token. With
no --host, the example starts an embedded PACS that verifies the token with the issuer's JWKS
(its jwks_uri), its issuer and --audience.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

import _common
import requests

from client_sdk.testing import EmbeddedPacs
from providers import OidcLoginProvider
from providers._token_answer import iso_time


def main(argv: list[str] | None = None) -> int:
    p = _common.parser(__doc__ or "")
    p.add_argument("--issuer", required=True, help="the OpenID Provider (its discovery URL base)")
    p.add_argument("--client-id", required=True, help="the public client registered for devices")
    p.add_argument("--scope", default="openid offline_access", help="space-separated scopes")
    p.add_argument("--audience", help="refuse an access token not issued for this audience")
    p.add_argument("--resource", help="the resource indicator (RFC 8707) to ask a token for")
    p.add_argument(
        "--poll-interval",
        type=float,
        default=5.0,
        help="seconds between polls when the issuer names no interval (default 5, RFC 8628)",
    )
    p.add_argument("--logout", action="store_true", help="log out at the end")
    args = p.parse_args(argv)
    if not args.host and not args.audience:
        p.error("--audience is required for the embedded PACS")
    provider = OidcLoginProvider(
        args.issuer,
        client_id=args.client_id,
        scopes=args.scope.split(),
        audience=args.audience,
        resource=args.resource,
        flow="device",
        interactive=sys.stdin.isatty(),
        login_command="python examples/login_device.py ...",
        poll_interval=args.poll_interval,
        positive_response=args.pos_response,
    )
    status = provider.login()
    until = iso_time(status.expires_at) if status.expires_at else "unknown"
    print(
        f"logged in as {status.principal!r} at {status.issuer}, scopes "
        f"{' '.join(status.scopes)}, access token valid until {until}"
    )
    with _target(args) as where, _common.client(args, where, provider).associate() as session:
        _common.report(session, "C-ECHO (OpenID Connect login)", session.echo())
    if args.logout:
        result = provider.logout()
        print(f"logged out: refresh token revoked {result.revoked}, deleted {result.deleted}")
    return 0


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[_common.Target]:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.host:
        yield _common.Target(args.host, args.port, args.ae_title, embedded=False)
        return
    jwks_url = _jwks_uri(args.issuer)
    with EmbeddedPacs(
        jwt_jwks_url=jwks_url, jwt_audience=args.audience, jwt_issuer=args.issuer
    ) as pacs:
        print(f"embedded PACS listening on {pacs.host}:{pacs.port}, trusting {jwks_url}")
        yield _common.Target(pacs.host, pacs.port, pacs.ae_title, embedded=True)


def _jwks_uri(issuer: str) -> str:
    """The issuer's jwks_uri, from its discovery document (no proxy from the environment)."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=10)
        answer.raise_for_status()
        return str(answer.json()["jwks_uri"])


if __name__ == "__main__":
    raise SystemExit(_common.run(main))
