"""``dicom-identity store``: files and folders to a peer over one or more associations.

Every input file gets exactly one result, as one line on stdout (one JSON event with ``--json``,
one line in the ``--report`` file): ``stored``, ``failed`` (with the reason: a file that fails
the check of ``dicom_file_check``, a failure status, a lost association), or ``not-sent`` (the
run stopped before it: an association that could not be opened, Ctrl-C). The summary counts the
three.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom import dcmread
from tqdm import tqdm

from client_sdk._cli.report import Reporter
from client_sdk._cli.store_report import ReportWriter, absolute, read_stored
from client_sdk._client import Client
from client_sdk._errors import ConfigError, DimseFailure
from client_sdk._operations.bulk_results import AssociationUse, StoreOutcome, StoreResult

if TYPE_CHECKING:
    from client_sdk._web.client import DicomWebClient


def collect_files(paths: Iterable[str], *, recursive: bool) -> list[Path]:
    """Expand the command line's paths; a folder needs ``--recursive``."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            if not recursive:
                raise ConfigError(f"{path} is a folder: add --recursive to store what it holds")
            files += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or folder")
    if not files:
        raise ConfigError("no files to store")
    return files


@dataclass
class StorePlan:
    """The files to send, the files a resumed report shows as stored, and the report writer."""

    files: list[Path]
    already_stored: int = 0
    writer: ReportWriter | None = None


def plan_store(
    files: list[Path], *, resume: str | None, report: str | None, reporter: Reporter
) -> StorePlan:
    """Drop the files that ``resume`` shows as stored; open ``report`` (which starts with those
    stored lines, so that it can be resumed in turn). Raises ConfigError before anything is
    sent."""
    stored = read_stored(Path(resume)) if resume else {}
    todo = [path for path in files if absolute(path) not in stored]
    plan = StorePlan(todo, already_stored=len(files) - len(todo))
    if resume:
        reporter.message(
            f"resuming from {resume}: {plan.already_stored} of {len(files)} files already "
            f"stored; sending {len(todo)}",
            resumed_from=resume,
            already_stored=plan.already_stored,
            total=len(files),
        )
    if report:
        same = resume is not None and absolute(Path(report)) == absolute(Path(resume))
        plan.writer = ReportWriter(Path(report), append=same)
        if not same:
            for record in stored.values():
                plan.writer.write(record)
    return plan


@dataclass
class StoreSummary:
    total: int
    counts: dict[StoreOutcome, int] = field(
        default_factory=lambda: {"stored": 0, "failed": 0, "not-sent": 0}
    )
    first_failure: tuple[Path, str] | None = None
    stopped_by: BaseException | None = None  # what stopped the run: an error, or Ctrl-C

    @property
    def interrupted(self) -> bool:
        return isinstance(self.stopped_by, KeyboardInterrupt)

    def text(self) -> str:
        counts = self.counts
        return (
            f"stored {counts['stored']} of {self.total} files"
            + (f"; {counts['failed']} failed" if counts["failed"] else "")
            + (f"; {counts['not-sent']} not sent" if counts["not-sent"] else "")
            + ("; interrupted" if self.interrupted else "")
        )

    def fields(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "stored": counts["stored"],
            "failed": counts["failed"],
            "not_sent": counts["not-sent"],
            "total": self.total,
            "interrupted": self.interrupted,
        }

    def raise_for_exit(self) -> None:
        """0 only when every file was stored: else the error that stopped the run, Ctrl-C
        (exit 130), or a DimseFailure (exit 9) naming the first file not stored."""
        if self.stopped_by is not None:
            raise self.stopped_by
        not_stored = self.total - self.counts["stored"]
        if not_stored:
            path, why = self.first_failure or (Path("?"), "not sent")
            first = why if str(path) in why else f"{path}: {why}"
            raise DimseFailure(
                f"{not_stored} of {self.total} file(s) not stored ({self.counts['failed']} "
                f"failed, {self.counts['not-sent']} not sent); first: {first}",
                status=None,
            )


def _headers(files: list[Path]) -> tuple[set[str], set[str]]:
    """SOP classes and transfer syntaxes to propose, from the files' headers. A file that does
    not read here fails its full check when its turn comes, with the reason."""
    sop_classes: set[str] = set()
    syntaxes: set[str] = set()
    for path in files:
        try:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            sop_classes.add(str(ds.SOPClassUID))
            meta = getattr(ds, "file_meta", None)
            if meta is not None and "TransferSyntaxUID" in meta:
                syntaxes.add(str(meta.TransferSyntaxUID))
        except Exception:  # noqa: S112 - its own check reports it
            continue
    return sop_classes, syntaxes


class _Output:
    """One line (or JSON event) per file on stdout, one line in the report; counts."""

    def __init__(
        self, summary: StoreSummary, reporter: Reporter, writer: ReportWriter | None, bar: Any
    ) -> None:
        self.summary = summary
        self.reporter = reporter
        self.writer = writer
        self.bar = bar
        self.done: set[int] = set()
        self._lock = threading.Lock()

    def result(
        self,
        index: int,
        path: Path,
        outcome: StoreOutcome,
        *,
        status: int | None = None,
        reason: str | None = None,
        uid: str | None = None,
    ) -> None:
        code = None if status is None else f"0x{status:04X}"
        with self._lock:
            if index in self.done:
                return
            self.done.add(index)
            self.summary.counts[outcome] += 1
            if outcome != "stored" and self.summary.first_failure is None:
                self.summary.first_failure = (path, reason or outcome)
            if self.writer is not None:
                self.writer.write(
                    {
                        "path": str(absolute(path)),
                        "result": outcome,
                        "status": code,
                        "reason": reason,
                        "sop_instance_uid": uid,
                    }
                )
            fields: dict[str, Any] = {"path": str(path), "result": outcome}
            if self.reporter.as_json:
                fields.update(status=code, reason=reason, sop_instance_uid=uid)
            else:
                fields["status"] = code or "-"
                if reason:
                    fields["reason"] = reason
            with self._above_bar():
                self.reporter.item(outcome, fields)
            self.bar.update(1)

    @contextlib.contextmanager
    def _above_bar(self) -> Iterator[None]:
        if self.bar.disable:
            yield
        else:  # a terminal: the line goes above the bar, which is redrawn
            with tqdm.external_write_mode(file=sys.stdout):
                yield


def _not_sent_reason(stopped_by: BaseException | None) -> str:
    if isinstance(stopped_by, KeyboardInterrupt):
        return "interrupted (Ctrl-C) before it was sent"
    if stopped_by is None:
        return "the run ended without sending it"
    return f"the run stopped before it was sent ({type(stopped_by).__name__}: see the error)"


def store_files(
    client: Client | DicomWebClient,
    files: list[Path],
    *,
    workers: int,
    reporter: Reporter,
    progress: bool,
    writer: ReportWriter | None = None,
    operation: str = "C-STORE",
    processes: int = 1,
) -> StoreSummary:
    """Store ``files`` over up to ``workers`` associations (one identity exchange each), with
    :meth:`Client.store_many` (in ``processes`` worker processes of ``workers`` each, for a
    DICOM peer). The headers are read first, so exactly the SOP classes and
    transfer syntaxes of the files are proposed (compressed files included). Every file gets one
    result (see the module docstring); Ctrl-C and the error that stopped the run end up in
    ``stopped_by``, after the files not sent are reported."""
    if processes < 1:
        raise ConfigError("--processes must be 1 or more")
    if processes != 1 and not isinstance(client, Client):
        raise ConfigError(
            "--processes is for DICOM peers; a DICOMweb peer takes --workers (parallel requests)"
        )
    # Only when asked: DicomWebClient.store_many takes no processes.
    more = {"processes": processes} if processes != 1 else {}
    summary = StoreSummary(total=len(files))
    bar = tqdm(total=len(files), unit="file", disable=not progress, leave=False)
    out = _Output(summary, reporter, writer, bar)
    uses: list[AssociationUse] = []

    def note(result: StoreResult) -> None:  # store_many calls it one result at a time
        if result.not_sent:
            return  # reported below, with what stopped the run
        path = result.path if result.path is not None else Path(result.name)
        reason = None if result.error is None else str(result.error)
        out.result(
            result.index,
            path,
            result.result,
            status=result.status,
            reason=reason,
            uid=result.sop_instance_uid,
        )

    try:
        if files:
            sop_classes, syntaxes = _headers(files)
            report = client.store_many(
                files,
                workers=workers,
                progress=note,
                # None when no header read: the default classes (each file then fails its check)
                sop_classes=sorted(sop_classes) or None,
                transfer_syntaxes=sorted(syntaxes),
                **more,
            )
            uses = report.associations
    except (Exception, KeyboardInterrupt) as exc:  # the run stopped
        summary.stopped_by = exc
    finally:
        reason = _not_sent_reason(summary.stopped_by)
        for index, path in enumerate(files):
            if index not in out.done:
                out.result(index, path, "not-sent", reason=reason)
        bar.close()
        if writer is not None:
            writer.close()
    for use in uses:
        reporter.association(use.outcome, operation, use.last_status, files=use.files)
    return summary
