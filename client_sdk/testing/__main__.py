"""``dicom-identity pacs`` / ``python -m client_sdk.testing``: run the embedded PACS until SIGINT
or SIGTERM.

Prints ``listening on HOST:PORT as AE_TITLE`` (then `` (TLS)`` and the like), then one line per
finished association. Never prints a password or a token. A bad users, key, keytab or TLS file
exits 3 with one line naming it; a usage error exits 2; a port that cannot be bound exits 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import get_args

from client_sdk._errors import ConfigError
from client_sdk.testing._command_files import (
    check_keytab,
    load_jwt_key,
    load_users,
    server_tls_context,
)
from client_sdk.testing._pacs import EmbeddedPacs
from client_sdk.testing._records import AssociationRecord
from client_sdk.testing._response_modes import ResponseMode

DEFAULT_PROG = "python -m client_sdk.testing"
EXIT_CONFIG = 3  # as dicom-identity's "configuration or command-line error"
EXIT_CANNOT_LISTEN = 1

_RESPONSE_MODES_HELP = (
    "what a verified identity that asked for a positive response gets back: standard (what "
    "PS3.7 asks), silent (never a response, like DCMTK and Orthanc), echo (the request's own "
    "token for types 3-5, like dcm4che), pynetdicom (stock pynetdicom: none for types 1 and 2) "
    "(default %(default)s)"
)


def _parser(prog: str = DEFAULT_PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="An embedded DICOM PACS (Verification, Storage, Study Root C-FIND, C-GET, "
        "C-MOVE) that verifies user identities (username, username+password, Kerberos, SAML, JWT).",
        epilog="exit codes: 0 stopped by SIGINT/SIGTERM, 1 cannot listen, 2 usage error, "
        "3 a bad users, key, keytab or TLS file",
    )
    net = parser.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    net.add_argument(
        "--port", type=int, default=11112, help="port to bind, 0 for any (default %(default)s)"
    )
    net.add_argument(
        "--ae-title",
        default="EMBEDDED_PACS",
        help="the AE title it answers to; a request for another called AE title is rejected "
        "(1, 1, 7) 'called AE title not recognised' (default %(default)s)",
    )
    net.add_argument(
        "--accept-any-ae-title",
        action="store_true",
        help="accept a request whatever called AE title it names",
    )
    tls = parser.add_argument_group("TLS (PEM files)")
    tls.add_argument(
        "--tls-cert-file",
        type=Path,
        metavar="PATH",
        help="serve TLS (1.2 or later) with this certificate (chain)",
    )
    tls.add_argument(
        "--tls-key-file",
        type=Path,
        metavar="PATH",
        help="the certificate's unencrypted private key (default: in --tls-cert-file)",
    )
    tls.add_argument(
        "--tls-ca-file",
        type=Path,
        metavar="PATH",
        help="require a client certificate issued by this CA, and verify it",
    )
    ids = parser.add_argument_group("identities it verifies")
    ids.add_argument(
        "--users-file",
        type=Path,
        metavar="PATH",
        help='JSON object of username to password, e.g. {"alice": "secret"} (types 1 and 2)',
    )
    ids.add_argument(
        "--jwt-key-file",
        type=Path,
        metavar="PATH",
        help="verify JWTs (type 5) with this HS256 secret (trailing newlines stripped) or PEM "
        "public key (RS256/ES256)",
    )
    ids.add_argument(
        "--jwks-url",
        metavar="URL",
        help="verify JWTs (type 5) with the keys of this JWKS (an OpenID Provider's jwks_uri), "
        "read again when a token names an unknown kid; instead of --jwt-key-file",
    )
    ids.add_argument(
        "--jwt-audience",
        help="with --jwt-key-file or --jwks-url: the audience (aud) a JWT must name",
    )
    ids.add_argument(
        "--jwt-issuer", help="with --jwt-key-file or --jwks-url: the issuer (iss) a JWT must name"
    )
    ids.add_argument(
        "--kerberos-keytab",
        type=Path,
        metavar="PATH",
        help="keytab of the PACS's service principal: verify Kerberos tokens (type 3); "
        "needs pip install 'dicom-identity[kerberos]'",
    )
    ids.add_argument(
        "--kerberos-service",
        help="accept only this principal of the keytab, e.g. dicom/localhost@REALM "
        "(default: any principal in it)",
    )
    ids.add_argument(
        "--saml-issuer",
        help="accept SAML 2.0 assertions (type 4) from this issuer (the XML signature is not "
        "verified: a test peer)",
    )
    ids.add_argument(
        "--saml-audience", help="with --saml-issuer: the audience the assertions must name"
    )
    ids.add_argument(
        "--require-identity",
        action="store_true",
        help="reject associations that offer no user identity",
    )
    ids.add_argument(
        "--response-mode",
        choices=get_args(ResponseMode),
        default="standard",
        help=_RESPONSE_MODES_HELP,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--storage-dir",
        type=Path,
        metavar="PATH",
        help="also write received instances here, as SOPInstanceUID.dcm (default: memory only)",
    )
    data.add_argument(
        "--move-destination",
        action="append",
        type=_move_destination,
        default=[],
        metavar="AE=HOST:PORT",
        help="a C-MOVE destination (repeatable), e.g. STORESCP=127.0.0.1:11113",
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


def _describe(record: AssociationRecord) -> str:
    identity = "none" if record.identity_type is None else f"type {record.identity_type}"
    return (
        f"association from {record.calling_ae_title!r}: identity {identity}, "
        f"principal {record.principal!r}, verified {record.verified}, "
        f"response {record.response_sent}, ended {record.ended}"
        + (f" {record.rejected}" if record.rejected else "")
        + (f" ({record.failure})" if record.failure else "")
    )


def _check_combinations(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    needs = [
        ("kerberos_service", "kerberos_keytab"),
        ("saml_audience", "saml_issuer"),
        ("jwt_audience", "jwt_key_file"),
        ("jwt_issuer", "jwt_key_file"),
        ("tls_key_file", "tls_cert_file"),
        ("tls_ca_file", "tls_cert_file"),
    ]
    for option, needed in needs:
        if option.startswith("jwt_") and args.jwks_url:
            continue  # --jwt-audience and --jwt-issuer apply to --jwks-url too
        if getattr(args, option) and not getattr(args, needed):
            parser.error(f"--{option.replace('_', '-')} needs --{needed.replace('_', '-')}")
    if args.jwks_url and args.jwt_key_file:
        parser.error("give --jwt-key-file or --jwks-url, not both")


def _startup_line(pacs: EmbeddedPacs, *, client_certificates: bool) -> str:
    notes = []
    if pacs.ssl_context is not None:
        notes.append("TLS, client certificate required" if client_certificates else "TLS")
    if not pacs.require_called_ae_title:
        notes.append("any called AE title")
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"listening on {pacs.host}:{pacs.port} as {pacs.ae_title}{suffix}"


def main(argv: list[str] | None = None, *, prog: str = DEFAULT_PROG) -> int:
    parser = _parser(prog)
    args = parser.parse_args(argv)
    _check_combinations(parser, args)
    try:
        users = load_users(args.users_file) if args.users_file else None
        jwt_key = load_jwt_key(args.jwt_key_file) if args.jwt_key_file else None
        if args.kerberos_keytab:
            check_keytab(args.kerberos_keytab)
        ssl_context = (
            server_tls_context(args.tls_cert_file, args.tls_key_file, args.tls_ca_file)
            if args.tls_cert_file
            else None
        )
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

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
            jwt_jwks_url=args.jwks_url,
            kerberos_keytab=args.kerberos_keytab,
            kerberos_service=args.kerberos_service,
            saml_issuer=args.saml_issuer,
            saml_audience=args.saml_audience,
            response_mode=args.response_mode,
            require_identity=args.require_identity,
            require_called_ae_title=not args.accept_any_ae_title,
            storage_dir=args.storage_dir,
            ssl_context=ssl_context,
            move_destinations=dict(args.move_destination),
            on_association_end=on_end,
        )
    except (ImportError, ValueError) as exc:  # e.g. no python-gssapi, a keytab GSS-API refuses
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        pacs.start()
    except OSError as exc:
        print(f"{prog}: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    try:
        with print_lock:
            line = _startup_line(pacs, client_certificates=args.tls_ca_file is not None)
            print(line, flush=True)
        stop.wait()
    finally:
        pacs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
