"""``dicom-identity store``: files and folders to a peer over one or more associations."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from tqdm import tqdm

from client_sdk.cli_report import Reporter
from client_sdk.client import Client
from client_sdk.errors import ConfigError, DimseFailure

__all__ = ["StoreSummary", "collect_files", "store_files"]


@dataclass
class StoreSummary:
    stored: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)  # association-level, per worker


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
    """Store ``files`` over ``workers`` associations (one identity exchange each)."""
    sop_classes, syntaxes, unreadable = _headers(files)
    summary = StoreSummary(failed=list(unreadable))
    bad = {path for path, _ in unreadable}
    todo = [path for path in files if path not in bad]
    lock = threading.Lock()
    bar = tqdm(total=len(todo), unit="file", disable=not progress, leave=False)

    def note(path: Path, status: int | None, problem: str | None) -> None:
        with lock:
            bar.update(1)
            if problem is None:
                summary.stored += 1
            else:
                summary.failed.append((path, problem))
            if not progress:
                fields = {"path": str(path), "status": "-" if status is None else f"0x{status:04X}"}
                if problem:
                    fields["error"] = problem
                reporter.item("stored" if problem is None else "failed", fields)

    def worker(chunk: list[Path]) -> None:
        try:
            with client.associate(sop_classes=sop_classes, transfer_syntaxes=syntaxes) as session:
                last: int | None = None
                for path in chunk:
                    try:
                        last = session.store(path)
                        note(path, last, None)
                    except DimseFailure as exc:
                        note(path, exc.status, str(exc))
                reporter.association(session.identity, "C-STORE", last, files=len(chunk))
        except Exception as exc:  # the association itself failed: its files are not stored
            with lock:
                summary.errors.append(exc)

    count = max(1, min(workers, len(todo)))
    chunks = [todo[i::count] for i in range(count)]
    try:
        if todo:
            with ThreadPoolExecutor(max_workers=count, thread_name_prefix="store") as pool:
                list(pool.map(worker, chunks))
    finally:
        bar.close()
    return summary
