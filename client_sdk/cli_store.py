"""``dicom-identity store``: files and folders to a peer over one or more associations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from tqdm import tqdm

from client_sdk.bulk import StoreResult
from client_sdk.cli_report import Reporter
from client_sdk.client import Client
from client_sdk.errors import ConfigError

__all__ = ["StoreSummary", "collect_files", "store_files"]


@dataclass
class StoreSummary:
    stored: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)  # what stopped the run, if any


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


def _headers(files: list[Path]) -> tuple[set[str], set[str], list[tuple[Path, str]]]:
    """SOP classes and transfer syntaxes to propose; files that are not DICOM."""
    sop_classes: set[str] = set()
    syntaxes: set[str] = set()
    unreadable: list[tuple[Path, str]] = []
    for path in files:
        try:
            ds = dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
            sop_classes.add(str(ds.SOPClassUID))
            meta = getattr(ds, "file_meta", None)
            if meta is not None and "TransferSyntaxUID" in meta:
                syntaxes.add(str(meta.TransferSyntaxUID))
        except (InvalidDicomError, OSError, AttributeError) as exc:
            unreadable.append((path, f"not a readable DICOM file ({type(exc).__name__})"))
    return sop_classes, syntaxes, unreadable


def store_files(
    client: Client, files: list[Path], *, workers: int, reporter: Reporter, progress: bool
) -> StoreSummary:
    """Store ``files`` over up to ``workers`` associations (one identity exchange each), with
    :meth:`Client.store_many`. The headers are read first, so exactly the SOP classes and
    transfer syntaxes of the files are proposed (compressed files included)."""
    sop_classes, syntaxes, unreadable = _headers(files)
    summary = StoreSummary(failed=list(unreadable))
    bad = {path for path, _ in unreadable}
    todo = [path for path in files if path not in bad]
    bar = tqdm(total=len(todo), unit="file", disable=not progress, leave=False)

    def note(result: StoreResult) -> None:  # store_many calls it one result at a time
        bar.update(1)
        path = result.path if result.path is not None else Path(result.name)
        if result.error is None:
            summary.stored += 1
        else:
            summary.failed.append((path, str(result.error)))
        if not progress:
            status = "-" if result.status is None else f"0x{result.status:04X}"
            fields = {"path": str(path), "status": status}
            if result.error is not None:
                fields["error"] = str(result.error)
            reporter.item("stored" if result.error is None else "failed", fields)

    try:
        if todo:
            report = client.store_many(
                todo,
                workers=workers,
                progress=note,
                sop_classes=sorted(sop_classes),
                transfer_syntaxes=sorted(syntaxes),
            )
            for use in report.associations:
                reporter.association(use.identity, "C-STORE", use.last_status, files=use.files)
    except Exception as exc:  # an association could not be opened: the run stopped
        summary.errors.append(exc)
    finally:
        bar.close()
    return summary
