"""The command line's arguments: the commands, their options, and the options every command
accepts before or after its name."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from client_sdk._cli.login import add_login_commands

# Written out, checked against their sources by tests/test_cli_startup_imports.py: importing
# those (the identity-type registry, the errors, the policy) cost most of --help's start-up.
from client_sdk._cli.static_help import (
    IDENTITY_FLAGS,
    MISSING_RESPONSE_CHOICES,
    exit_code_help,
)

__all__ = ["build_parser", "exit_code_help"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up (issue 16)
if TYPE_CHECKING:
    from typing import Any


class _InstalledVersion(argparse.Action):
    """``--version``: the version of the installed package (argparse's own version action wants
    the text when the parser is built)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from client_sdk._version import VERSION

        print(f"dicom-identity {VERSION}")
        parser.exit()


# ``dicom-identity keyring ACTION`` (client_sdk._cli.keyring runs them; it loads the SDK's errors).
_KEYRING_ACTIONS = {
    "set": "ask for the password or client secret (getpass; from a pipe, its first line) and "
    "store it",
    "check": "is there an entry? exit 0 and 'present', or exit 4 and how to add it; never "
    "prints the secret",
    "delete": "remove the entry",
}


def _keyring_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keyring_cmd = sub.add_parser(
        "keyring", help="set, check or delete a peer's password or OAuth2 client secret"
    )
    actions = keyring_cmd.add_subparsers(dest="keyring_command", required=True, metavar="ACTION")
    for action, text in _KEYRING_ACTIONS.items():
        p = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument(
            "peer",
            nargs="?",
            help="a configured peer: the keyring entry its identity reads",
        )
        g = p.add_argument_group("an entry for a peer not in the configuration")
        g.add_argument("--keyring-service", metavar="SERVICE", help="the keyring service")
        g.add_argument("--user", metavar="NAME", help="the keyring user name")


def _identity_options(group: argparse._ArgumentGroup) -> None:
    """Every identity type's flags (``client_sdk._cli.identity.add_identity_options``, from
    ``IDENTITY_FLAGS``); those that each choose a type on their own exclude one another."""
    who = group.add_mutually_exclusive_group()
    for flag, kwargs, exclusive in IDENTITY_FLAGS:
        (who if exclusive else group).add_argument(flag, **kwargs)


def _association_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("peer and identity (override the configuration; never a secret)")
    g.add_argument("peer", help="a configured peer name, or HOST:PORT with --ae-title")
    g.add_argument("--ae-title", help="called AE title (for HOST:PORT)")
    g.add_argument("--calling-ae-title")
    _identity_options(g)
    g.add_argument("--pos-response", action="store_true", help="ask the peer to confirm")
    g.add_argument("--on-missing-response", choices=list(MISSING_RESPONSE_CHOICES))
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
        epilog=exit_code_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Prints and exits while parsing, before the COMMAND check (as argparse's version action).
    parser.add_argument(
        "-V",
        "--version",
        action=_InstalledVersion,
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
        "--processes",
        type=int,
        default=1,
        help="worker processes (default 1), each with --workers associations: more than one "
        "core. Each process fetches the credential itself (not for a password given on the "
        "command line)",
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
    _keyring_commands(sub)
    add_login_commands(sub)
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
