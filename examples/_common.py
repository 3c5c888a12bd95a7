"""Shared by the examples: command-line options, and an embedded PACS when no host is given."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# Run from a checkout without installing: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from client_sdk import Client, MissingResponse, Peer, Policy, Session
from client_sdk.testing import EmbeddedPacs
from providers import IdentityError, IdentityProvider

DEMO_USER = "alice"
DEMO_PASSWORD = "demo-password-not-secret"
DEMO_JWT_KEY = "demo-hs256-key-for-the-embedded-pacs-only"
DEMO_AUDIENCE = "EMBEDDED_PACS"
DEMO_SAML_ISSUER = "https://idp.demo.example/saml"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    ae_title: str
    embedded: bool


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", help="PACS host (default: start an embedded PACS on 127.0.0.1)")
    p.add_argument("--port", type=int, default=11112, help="PACS port (default 11112)")
    p.add_argument("--ae-title", default="ANY-SCP", help="called AE title of the PACS")
    p.add_argument("--calling-ae-title", default="DICOM_IDENTITY")
    p.add_argument("--pos-response", action="store_true", help="ask the PACS to confirm")
    p.add_argument(
        "--on-missing-response",
        choices=[m.value for m in MissingResponse],
        default="abort",
        help="what to do when a requested response does not come back (default abort)",
    )
    p.add_argument("--allow-insecure-transport", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true", help="log the SDK's INFO lines")
    return p


@contextlib.contextmanager
def target(
    args: argparse.Namespace,
    *,
    users: Mapping[str, str] | None = None,
    jwt_key: str | None = None,
    kerberos_keytab: str | None = None,
    saml_issuer: str | None = None,
) -> Iterator[Target]:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.host:
        yield Target(args.host, args.port, args.ae_title, embedded=False)
        return
    with EmbeddedPacs(
        users=users,
        jwt_key=jwt_key,
        jwt_audience=DEMO_AUDIENCE,
        kerberos_keytab=kerberos_keytab,
        saml_issuer=saml_issuer,
        saml_audience=DEMO_AUDIENCE if saml_issuer else None,
    ) as pacs:
        print(f"embedded PACS listening on {pacs.host}:{pacs.port} as {pacs.ae_title}")
        yield Target(pacs.host, pacs.port, pacs.ae_title, embedded=True)


def client(args: argparse.Namespace, where: Target, identity: IdentityProvider) -> Client:
    policy = Policy(
        missing_response=MissingResponse(args.on_missing_response),
        allow_insecure_transport=args.allow_insecure_transport,
    )
    return Client(
        Peer(where.host, where.port, where.ae_title),
        identity=identity,
        policy=policy,
        calling_ae_title=args.calling_ae_title,
    )


def report(session: Session, operation: str, status: int) -> None:
    """One line per association: identity type, principal, response, decision, DIMSE status."""
    o = session.outcome
    response = o.status.value  # the README's "What came back" word
    if o.response_length:
        response += f" ({o.response_length} bytes)"
    if o.verified:
        response += ", mutual authentication verified"
    print(
        f"{operation}: identity type {o.type_label}, principal {o.principal or '-'!r}, "
        f"response {response}, decision {o.decision.value}, DIMSE status 0x{status:04X}"
    )


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run an example; an SDK error becomes one line on stderr and exit 1, not a traceback."""
    try:
        return main(argv)
    except IdentityError as exc:
        print(f"error ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1
