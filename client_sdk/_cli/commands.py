"""The commands: from the parsed flags and the configuration to a client, an association and
the operation, reported line by line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pydicom import Dataset

from client_sdk._cli.configured_identity import identity_for_configured_peer
from client_sdk._cli.identity import identity_from_flags
from client_sdk._cli.keyring import keyring_command
from client_sdk._cli.login import login_identity_for_peer
from client_sdk._cli.report import Reporter, dataset_fields
from client_sdk._client import Client
from client_sdk._config.model import Config
from client_sdk._config.settings import Overrides
from client_sdk._errors import ConfigError
from client_sdk._operations.retrieve import RetrieveResult
from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE, VERIFICATION
from client_sdk._tls import TlsConfig
from providers import IdentityProvider


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
        if identity is None:  # an oidc-login peer logs in by itself on a terminal
            identity = login_identity_for_peer(config, args.peer)
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


def _echo(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    with _client(config, args).associate(sop_classes=[VERIFICATION]) as session:
        status = session.echo()
        report.association(session.outcome, "C-ECHO", status)
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
        processes=args.processes,
    )
    report.message(summary.text(), **summary.fields())
    summary.raise_for_exit()  # exit 0 only when every file was stored
    return 0


def _find(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    query = _query(args.key, args.level)
    with _client(config, args).associate(sop_classes=[STUDY_ROOT_FIND]) as session:
        matches = session.find(query, level=args.level)
        report.association(session.outcome, "C-FIND", 0x0000, matches=len(matches))
        secrets = session.peer_text.scrubber()  # the peer's values are shown without them
        for match in matches:
            report.item("match", dataset_fields(match, secrets))
    return 0


def _get(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    query = _query(args.key, args.level)
    client = _client(config, args)
    # Client.get() is a one-shot that keeps the identity outcome to itself: the session has it.
    with client.associate(sop_classes=[STUDY_ROOT_GET], retrieve=True) as session:
        result = session.get(query, level=args.level, output_dir=args.output)
        report.association(
            session.outcome, "C-GET", result.status, **_counts(result), output=args.output
        )
    return 0 if not result.failed else 9


def _move(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    if not 0 < len(args.destination.strip()) <= 16:
        raise ConfigError(f"--destination {args.destination!r}: an AE title of 1-16 characters")
    query = _query(args.key, args.level)
    client = _client(config, args)
    # As Client.move(): the FIND context too (dcmqrscp --require-find refuses MOVE without it).
    with client.associate(sop_classes=[STUDY_ROOT_FIND, STUDY_ROOT_MOVE]) as session:
        result = session.move(query, destination=args.destination, level=args.level)
        report.association(
            session.outcome,
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


def run_pacs(args: argparse.Namespace) -> int:
    from client_sdk.testing.__main__ import main as pacs_main

    return int(pacs_main(list(args.pacs_args), prog="dicom-identity pacs") or 0)


Command = Callable[[Config, argparse.Namespace, Reporter], int]


def _dimse_or_web(name: str, dimse: Command) -> Command:
    """``dimse``, or for a configured DICOMweb peer (``url``) the DICOMweb command ``name``."""

    def run(config: Config, args: argparse.Namespace, report: Reporter) -> int:
        peer = config.peers.get(args.peer)
        if peer is None or peer.url is None:
            return dimse(config, args, report)
        # Deferred: a DIMSE command does not load requests and dicomweb-client.
        from client_sdk._cli.web_commands import WEB_COMMANDS
        from client_sdk._config.web_client import web_client

        identity = identity_for_configured_peer(config, args.peer, args)
        client = web_client(config, args.peer, overrides_from_flags(args, identity))
        return WEB_COMMANDS[name](client, args, report)

    return run


COMMANDS: dict[str, Command] = {
    "echo": _dimse_or_web("echo", _echo),
    "store": _dimse_or_web("store", _store),
    "find": _dimse_or_web("find", _find),
    "get": _dimse_or_web("get", _get),
    "move": _move,
    "config": _config,
    "keyring": keyring_command,
}
