"""``echo``, ``find``, ``get`` and ``store`` against a DICOMweb peer (``[peers.NAME] url``):
the same flags, output lines, ``--json``, exit codes and store report/resume as for a DIMSE
peer, through :class:`client_sdk._web.client.DicomWebClient`. The operation names in the lines
are the DICOMweb ones (QIDO-RS, WADO-RS, STOW-RS)."""

from __future__ import annotations

import argparse
import sys

from client_sdk._cli.report import Reporter, dataset_fields
from client_sdk._errors import ConfigError
from client_sdk._operations.query_keys import parse_query_keys
from client_sdk._web.client import DicomWebClient

__all__ = ["WEB_COMMANDS"]


def web_echo(client: DicomWebClient, args: argparse.Namespace, report: Reporter) -> int:
    with client:
        status = client.echo()
        report.association(client.outcome(), "QIDO-RS echo", status)
    return 0


def web_find(client: DicomWebClient, args: argparse.Namespace, report: Reporter) -> int:
    query = parse_query_keys(args.key, level=args.level)
    with client:
        matches = client.find(query, level=args.level)
        report.association(client.outcome(), "QIDO-RS", 0x0000, matches=len(matches))
        for match in matches:
            report.item("match", dataset_fields(match))
    return 0


def web_get(client: DicomWebClient, args: argparse.Namespace, report: Reporter) -> int:
    query = parse_query_keys(args.key, level=args.level)
    with client:
        result = client.get(query, level=args.level, output_dir=args.output)
        counts = {"completed": result.completed, "failed": result.failed, "warning": 0}
        report.association(client.outcome(), "WADO-RS", result.status, **counts, output=args.output)
    return 0 if not result.failed else 9


def web_store(client: DicomWebClient, args: argparse.Namespace, report: Reporter) -> int:
    from client_sdk._cli.store import collect_files, plan_store, store_files

    if args.workers < 1:
        raise ConfigError("--workers must be 1 or more")
    files = collect_files(args.paths, recursive=args.recursive)
    with client:
        plan = plan_store(files, resume=args.resume, report=args.report, reporter=report)
        summary = store_files(
            client,
            plan.files,
            workers=args.workers,
            reporter=report,
            progress=sys.stderr.isatty() and not args.json,
            writer=plan.writer,
            operation="STOW-RS",
            processes=args.processes,  # refused: more than 1 is for DICOM peers
        )
    report.message(summary.text(), **summary.fields())
    summary.raise_for_exit()  # exit 0 only when every file was stored
    return 0


WEB_COMMANDS = {"echo": web_echo, "find": web_find, "get": web_get, "store": web_store}
