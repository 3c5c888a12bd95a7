"""``python -m client_sdk.testing``: run the embedded PACS until SIGINT or SIGTERM.

Prints ``listening on HOST:PORT as AE_TITLE``, then one line per finished association. Never
prints a password or a token.
"""

from __future__ import annotations

import argparse
import json
import signal
import stat
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import get_args

from client_sdk.testing.acse import ResponseMode
from client_sdk.testing.pacs import EmbeddedPacs
from client_sdk.testing.records import AssociationRecord


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m client_sdk.testing",
        description="An embedded DICOM PACS (Verification, Storage, Study Root C-FIND, C-GET, "
        "C-MOVE) that verifies user identities (username, username+password, Kerberos, SAML, JWT).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=11112, help="port to bind, 0 for any (default %(default)s)"
    )
    parser.add_argument("--ae-title", default="EMBEDDED_PACS", help="default %(default)s")
    parser.add_argument("--users-file", type=Path, help="JSON object mapping username to password")
    parser.add_argument(
        "--jwt-key-file",
        type=Path,
        help="HS256 secret (trailing newlines stripped) or PEM public key (RS256/ES256)",
    )
    parser.add_argument("--jwt-audience")
    parser.add_argument("--jwt-issuer")
    parser.add_argument(
        "--kerberos-keytab",
        type=Path,
        help="keytab of the PACS's service principal: verify Kerberos tokens (type 3); "
        "needs pip install 'dicom-identity[kerberos]'",
    )
    parser.add_argument(
        "--kerberos-service",
        help="accept only this principal of the keytab, e.g. dicom/localhost@REALM "
        "(default: any principal in it)",
    )
    parser.add_argument(
        "--saml-issuer",
        help="accept SAML 2.0 assertions (type 4) from this issuer (the XML signature is not "
        "verified: a test peer)",
    )
    parser.add_argument(
        "--saml-audience", help="with --saml-issuer: the audience the assertions must name"
    )
    parser.add_argument("--response-mode", choices=get_args(ResponseMode), default="standard")
    parser.add_argument("--storage-dir", type=Path, help="also write received datasets here")
    parser.add_argument(
        "--move-destination",
        action="append",
        type=_move_destination,
        default=[],
        metavar="AE=HOST:PORT",
        help="a C-MOVE destination (repeatable), e.g. STORESCP=127.0.0.1:11113",
    )
    parser.add_argument(
        "--require-identity",
        action="store_true",
        help="reject associations that offer no user identity",
    )
    return parser


def _move_destination(text: str) -> tuple[str, tuple[str, int]]:
    title, _, address = text.partition("=")
    host, _, port = address.rpartition(":")
    title, host = title.strip(), host.strip().strip("[]")
    if not title or len(title) > 16 or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"expected AE=HOST:PORT (AE title of 1-16 characters, port 1-65535): {text!r}"
        )
    return title, (host, int(port))


def _warn_if_shared(path: Path) -> None:
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"warning: {path} is accessible by group or others; chmod 600 it", file=sys.stderr)


def _load_users(path: Path) -> dict[str, str]:
    _warn_if_shared(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: expected a JSON object of username -> password strings")
    return data


def _load_jwt_key(path: Path) -> bytes:
    key = path.read_bytes()
    if key.lstrip().startswith(b"-----BEGIN"):
        return key
    _warn_if_shared(path)
    return key.rstrip(b"\r\n")


def _describe(record: AssociationRecord) -> str:
    identity = "none" if record.identity_type is None else f"type {record.identity_type}"
    return (
        f"association from {record.calling_ae_title!r}: identity {identity}, "
        f"principal {record.principal!r}, verified {record.verified}, "
        f"response {record.response_sent}, ended {record.ended}"
        + (f" {record.rejected}" if record.rejected else "")
        + (f" ({record.failure})" if record.failure else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.kerberos_service and not args.kerberos_keytab:
        parser.error("--kerberos-service needs --kerberos-keytab")
    if args.saml_audience and not args.saml_issuer:
        parser.error("--saml-audience needs --saml-issuer")
    try:
        users = _load_users(args.users_file) if args.users_file else None
        jwt_key = _load_jwt_key(args.jwt_key_file) if args.jwt_key_file else None
        if args.kerberos_keytab:
            _warn_if_shared(args.kerberos_keytab)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    print_lock = threading.Lock()

    def on_end(record: AssociationRecord) -> None:
        with print_lock:
            print(_describe(record), flush=True)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    try:
        pacs = EmbeddedPacs(
            host=args.host,
            port=args.port,
            ae_title=args.ae_title,
            users=users,
            jwt_key=jwt_key,
            jwt_audience=args.jwt_audience,
            jwt_issuer=args.jwt_issuer,
            kerberos_keytab=args.kerberos_keytab,
            kerberos_service=args.kerberos_service,
            saml_issuer=args.saml_issuer,
            saml_audience=args.saml_audience,
            response_mode=args.response_mode,
            require_identity=args.require_identity,
            storage_dir=args.storage_dir,
            move_destinations=dict(args.move_destination),
            on_association_end=on_end,
        )
    except (ImportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        pacs.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        with print_lock:
            print(f"listening on {pacs.host}:{pacs.port} as {pacs.ae_title}", flush=True)
        stop.wait()
    finally:
        pacs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
