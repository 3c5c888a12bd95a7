"""``dicom-identity``: echo, store, find, get and move with a DICOM user identity, from the shell.

Secrets never go in argv: passwords and OAuth2 client secrets come from the keyring, tokens and
SAML assertions from files or a token endpoint, Kerberos from the ticket cache or a keytab.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence

from pydicom import Dataset

from client_sdk._cli.configured_identity import identity_for_configured_peer
from client_sdk._cli.flag_secrets import refuse_secrets_in_flags
from client_sdk._cli.identity import add_identity_options, identity_from_flags
from client_sdk._cli.keyring import add_keyring_commands, in_cli_terms, keyring_command
from client_sdk._cli.report import Reporter, dataset_fields
from client_sdk._cli.stderr import configure_stderr
from client_sdk._client import Client, TlsConfig
from client_sdk._config import Config, Overrides, load_config
from client_sdk._errors import (
    AssociationAborted,
    AssociationRejected,
    AuditUnavailable,
    AuthenticationRejected,
    ConfigError,
    DimseFailure,
    IdentityTooLarge,
    InsecureTransport,
    PeerUnreachable,
    ServerResponseMissing,
)
from client_sdk._operations.session import RetrieveResult
from client_sdk._policy import MissingResponse
from providers import (
    CredentialError,
    CredentialUnavailable,
    IdentityProvider,
    MutualAuthenticationFailed,
)

__all__ = ["EXIT_CODES", "main"]

# Exit codes, most specific first (an AuthenticationRejected is also an AssociationRejected).
EXIT_CODES: list[tuple[type[BaseException], int, str]] = [
    (ConfigError, 3, "configuration or command-line error"),
    (CredentialUnavailable, 4, "credential unavailable or unusable; nothing was sent"),
    (CredentialError, 4, "credential unavailable or unusable; nothing was sent"),
    (InsecureTransport, 4, "credential unavailable or unusable; nothing was sent"),
    (IdentityTooLarge, 4, "credential unavailable or unusable; nothing was sent"),
    (PeerUnreachable, 5, "peer unreachable"),
    (AuthenticationRejected, 6, "authentication rejected, or mutual authentication failed"),
    (MutualAuthenticationFailed, 6, "authentication rejected, or mutual authentication failed"),
    (ServerResponseMissing, 7, "positive response missing, and the policy stopped"),
    (AssociationRejected, 8, "association rejected or aborted (not for the identity)"),
    (AssociationAborted, 8, "association rejected or aborted (not for the identity)"),
    (DimseFailure, 9, "DIMSE operation failed (including 0x0124 not authorized)"),
    (AuditUnavailable, 10, "audit required and its event could not be written; no DIMSE operation"),
]
EXIT_OTHER = 1


def exit_code(error: BaseException) -> int:
    for kind, code, _ in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_OTHER


def _exit_code_help() -> str:
    seen: dict[int, str] = {0: "success", EXIT_OTHER: "any other error", 2: "usage error"}
    for _, code, text in EXIT_CODES:
        seen.setdefault(code, text)
    return "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in sorted(seen.items()))


# --- the parser ----------------------------------------------------------------------------


def _association_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("peer and identity (override the configuration; never a secret)")
    g.add_argument("peer", help="a configured peer name, or HOST:PORT with --ae-title")
    g.add_argument("--ae-title", help="called AE title (for HOST:PORT)")
    g.add_argument("--calling-ae-title")
    add_identity_options(g)
    g.add_argument("--pos-response", action="store_true", help="ask the peer to confirm")
    g.add_argument("--on-missing-response", choices=[m.value for m in MissingResponse])
    g.add_argument("--allow-insecure-transport", action="store_true", default=None)
    t = p.add_argument_group("TLS")
    t.add_argument("--tls", action="store_true", help="TLS with the system's CA store")
    t.add_argument("--ca-file")
    t.add_argument("--cert-file")
    t.add_argument("--key-file")
    t.add_argument("--server-hostname")
    a = p.add_argument_group("audit")
    a.add_argument(
        "--audit-file",
        metavar="PATH",
        help="append a DICOM audit message (PS3.15 XML, one per line) for each association; "
        "overrides [audit] file",
    )
    a.add_argument(
        "--audit-required",
        action="store_true",
        default=None,
        help="refuse an association whose audit event cannot be written (exit 10): checked "
        "before anything is sent, and the association aborted before any operation if the "
        "write fails; needs an audit file. Overrides [audit] required",
    )
    w = p.add_argument_group("timeouts (seconds)")
    for name in ("connect", "acse", "dimse", "network"):
        w.add_argument(f"--{name}-timeout", type=float, metavar="S")


def _query_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-k",
        "--key",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query key, as DCMTK's -k: a keyword (PatientID=123), a tag (0010,0020=123) or a "
        "sequence path (ReferencedStudySequence[0].ReferencedSOPInstanceUID=); an empty value "
        "asks for the attribute; date ranges StudyDate=20240101-20241231; * and ? only in text",
    )
    p.add_argument("--level", default="STUDY", choices=["PATIENT", "STUDY", "SERIES", "IMAGE"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicom-identity",
        description="DICOM associations that carry a user identity (PS3.7 D.3.3.7).",
        epilog=_exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from importlib.metadata import PackageNotFoundError, version  # already loaded by keyring

    try:
        installed = version("dicom-identity")
    except PackageNotFoundError:  # a source tree on sys.path that was never pip-installed
        installed = "(not installed)"
    # argparse's version action prints and exits while parsing, before the COMMAND check.
    parser.add_argument(
        "-V",
        "--version",
        action="version",
        version=f"dicom-identity {installed}",
        help="print the installed version (dicom-identity X.Y.Z) and exit",
    )
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("echo", help="C-ECHO")
    _association_options(p)
    p = sub.add_parser("store", help="C-STORE files and folders")
    _association_options(p)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--recursive", "-r", action="store_true")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="parallel associations (default 1); more help when the peer is slow to answer, "
        "not when this machine's CPU is the limit (they share one Python interpreter lock)",
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="write one JSON line per file (path, result: stored/failed/not-sent, status, "
        "reason, sop_instance_uid) as results come",
    )
    p.add_argument(
        "--resume",
        metavar="FILE",
        help="a --report of an earlier run of the same command: send only the files it does "
        "not show as stored",
    )
    p = sub.add_parser("find", help="Study Root C-FIND")
    _association_options(p)
    _query_options(p)
    p = sub.add_parser("get", help="Study Root C-GET into a folder")
    _association_options(p)
    _query_options(p)
    p.add_argument("--output", required=True, metavar="DIR")
    p = sub.add_parser("move", help="Study Root C-MOVE to another AE")
    _association_options(p)
    _query_options(p)
    p.add_argument("--destination", required=True, metavar="AE")

    config = sub.add_parser("config", help="check or show the configuration")
    csub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    csub.add_parser("check", help="validate; print each peer's effective settings and sources")
    show = csub.add_parser("show", help="a peer's effective settings and where each comes from")
    show.add_argument("peer")
    add_keyring_commands(sub)
    pacs = sub.add_parser("pacs", help="run the embedded PACS in the foreground", add_help=False)
    pacs.add_argument("pacs_args", nargs=argparse.REMAINDER)
    _global_options_everywhere(sub)
    return parser


def _global_options(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--config, --json and --debug, accepted before the command and after it. A subcommand's
    copy (``suppress``) sets nothing unless given: argparse copies a subparser's defaults over
    the namespace, which would undo ``dicom-identity --json echo archive``."""
    g = p.add_argument_group("global options (before or after the command)")
    g.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if suppress else None,
        help="configuration file (default: $DICOM_IDENTITY_CONFIG, then the user's config folder)",
    )
    g.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="one JSON object per line on stdout",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="DEBUG logs and tracebacks on stderr (secrets stay redacted); without it, "
        "stderr has the error's one line and the SDK's warnings only",
    )


def _global_options_everywhere(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, p in sub.choices.items():
        if name == "pacs":  # everything after "pacs" is the embedded PACS's own
            continue
        _global_options(p, suppress=True)
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                _global_options_everywhere(action)


# --- from flags to SDK objects ---------------------------------------------------------------


def _tls_from_flags(args: argparse.Namespace) -> TlsConfig | None:
    if not (args.tls or args.ca_file or args.cert_file or args.key_file or args.server_hostname):
        return None
    return TlsConfig(
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
        server_hostname=args.server_hostname,
    )


def overrides_from_flags(args: argparse.Namespace, identity: IdentityProvider | None) -> Overrides:
    return Overrides(
        calling_ae_title=args.calling_ae_title,
        connect_timeout=args.connect_timeout,
        acse_timeout=args.acse_timeout,
        dimse_timeout=args.dimse_timeout,
        network_timeout=args.network_timeout,
        identity=identity,
        missing_response=args.on_missing_response,
        allow_insecure_transport=args.allow_insecure_transport,
        tls=_tls_from_flags(args),
        audit_file=args.audit_file,
        audit_required=args.audit_required,
    )


def _client(config: Config, args: argparse.Namespace) -> Client:
    if args.peer in config.peers:
        # The identity flags change fields of the configured identity, never its kind.
        identity = identity_for_configured_peer(config, args.peer, args)
        return config.client(args.peer, overrides=overrides_from_flags(args, identity))
    if ":" not in args.peer:
        known = ", ".join(sorted(config.peers)) or "none"
        raise ConfigError(
            f"peer {args.peer!r} is not in the configuration ({config.path or 'no file'}; "
            f"configured: {known}); give a configured name, or HOST:PORT with --ae-title"
        )
    if not args.ae_title:
        raise ConfigError(f"{args.peer}: a HOST:PORT peer needs --ae-title")
    overrides = overrides_from_flags(args, identity_from_flags(args))
    return config.client_for_address(args.peer, ae_title=args.ae_title, overrides=overrides)


def _query(keys: Sequence[str], level: str) -> Dataset:
    """The identifier of the -k keys; any key or value that cannot be sent as given is refused
    (QueryKeyError, exit 3) before an association is opened."""
    from client_sdk._operations.query_keys import parse_query_keys

    return parse_query_keys(keys, level=level)


# --- commands --------------------------------------------------------------------------------


def _echo(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    with _client(config, args).associate(sop_classes=["1.2.840.10008.1.1"]) as session:
        status = session.echo()
        report.association(session.identity, "C-ECHO", status)
    return 0


def _store(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    from client_sdk._cli.store import collect_files, plan_store, store_files

    if args.workers < 1:
        raise ConfigError("--workers must be 1 or more")
    files = collect_files(args.paths, recursive=args.recursive)
    client = _client(config, args)
    plan = plan_store(files, resume=args.resume, report=args.report, reporter=report)
    progress = sys.stderr.isatty() and not args.json
    summary = store_files(
        client,
        plan.files,
        workers=args.workers,
        reporter=report,
        progress=progress,
        writer=plan.writer,
    )
    report.message(summary.text(), **summary.fields())
    summary.raise_for_exit()  # exit 0 only when every file was stored
    return 0


def _find(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    from client_sdk._sop import STUDY_ROOT_FIND

    query = _query(args.key, args.level)
    with _client(config, args).associate(sop_classes=[STUDY_ROOT_FIND]) as session:
        matches = session.find(query, level=args.level)
        report.association(session.identity, "C-FIND", 0x0000, matches=len(matches))
        secrets = session.peer_text.scrubber()  # the peer's values are shown without them
        for match in matches:
            report.item("match", dataset_fields(match, secrets))
    return 0


def _get(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    from client_sdk._sop import STUDY_ROOT_GET

    query = _query(args.key, args.level)
    client = _client(config, args)
    # Client.get() is a one-shot that keeps the identity outcome to itself: the session has it.
    with client.associate(sop_classes=[STUDY_ROOT_GET], retrieve=True) as session:
        result = session.get(query, level=args.level, output_dir=args.output)
        report.association(
            session.identity, "C-GET", result.status, **_counts(result), output=args.output
        )
    return 0 if not result.failed else 9


def _move(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_MOVE

    if not 0 < len(args.destination.strip()) <= 16:
        raise ConfigError(f"--destination {args.destination!r}: an AE title of 1-16 characters")
    query = _query(args.key, args.level)
    client = _client(config, args)
    # As Client.move(): the FIND context too (dcmqrscp --require-find refuses MOVE without it).
    with client.associate(sop_classes=[STUDY_ROOT_FIND, STUDY_ROOT_MOVE]) as session:
        result = session.move(query, destination=args.destination, level=args.level)
        report.association(
            session.identity,
            "C-MOVE",
            result.status,
            **_counts(result),
            destination=args.destination.strip(),
        )
    return 0 if not result.failed else 9


def _counts(result: RetrieveResult) -> dict[str, int]:
    return {"completed": result.completed, "failed": result.failed, "warning": result.warning}


def _config(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    peers = [args.peer] if args.config_command == "show" else sorted(config.peers)
    if args.config_command == "check":
        report.message(
            f"{config.path or 'no configuration file'}: valid, {len(config.peers)} peer(s)",
            path=str(config.path or ""),
        )
    for name in peers:
        report.message(f"[{name}]", peer=name)
        for setting in config.effective(name):
            if report.as_json:
                fields = {"peer": name, "key": setting.key, "value": setting.value}
                report.item("setting", {**fields, "source": setting.source})
            else:
                report.message(f"  {setting.key} = {setting.value}    [{setting.source}]")
    return 0


def _pacs(args: argparse.Namespace) -> int:
    from client_sdk.testing.__main__ import main as pacs_main

    return int(pacs_main(list(args.pacs_args), prog="dicom-identity pacs") or 0)


COMMANDS: dict[str, Callable[[Config, argparse.Namespace, Reporter], int]] = {
    "echo": _echo,
    "store": _store,
    "find": _find,
    "get": _get,
    "move": _move,
    "config": _config,
    "keyring": keyring_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "pacs":
        # Everything after "pacs" belongs to the embedded PACS's own options.
        args.pacs_args = [*rest, *args.pacs_args]
    else:
        args = parser.parse_args(argv)
    report = Reporter(as_json=args.json)
    if args.command == "pacs":
        # A server: its log lines (pynetdicom's included) are its output.
        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.WARNING,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )
        if args.debug:
            from client_sdk._pynetdicom.log_redaction import install_pynetdicom_redaction

            install_pynetdicom_redaction()
        return _pacs(args)
    configure_stderr(debug=args.debug)
    config: Config | None = None
    try:
        refuse_secrets_in_flags(args)  # a secret typed in argv: refused, shown masked
        config = load_config(args.config)
        return COMMANDS[args.command](config, args, report)
    except KeyboardInterrupt:
        print("dicom-identity: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = exit_code(exc)
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        report.error(in_cli_terms(exc, config, args), code)
        return code
