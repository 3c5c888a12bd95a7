"""What a bulk C-STORE returns: one result per input, and the associations it used."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from client_sdk._outcome import IdentityOutcome
from providers._errors import IdentityError

StoreOutcome = Literal["stored", "failed", "not-sent"]


@dataclass(frozen=True)
class StoreResult:
    """What became of one input.

    ``index`` is its position in the input; ``path`` is set for a file; ``sop_instance_uid``
    once the dataset was read; ``status`` is the DIMSE status when the peer answered (success,
    warning or failure), else None; ``error`` is the typed error when the input was not stored
    (``InvalidDicomFile``, ``DimseFailure``, ``NotAuthorized``, ``AssociationAborted``), else
    None. ``not_sent``: the run stopped after this input was taken and before it was sent
    (``error`` is then what stopped the run, when known).
    """

    index: int
    path: Path | None
    sop_instance_uid: str | None
    status: int | None
    error: IdentityError | None = field(default=None, compare=False)
    not_sent: bool = False

    @property
    def result(self) -> StoreOutcome:
        """``"stored"``, ``"failed"`` or ``"not-sent"``: the words of the CLI and its reports."""
        if self.not_sent:
            return "not-sent"
        return "stored" if self.error is None else "failed"

    @property
    def stored(self) -> bool:
        return self.result == "stored"

    @property
    def name(self) -> str:
        """The file's path, or the dataset's SOP Instance UID: what to show for this input."""
        if self.path is not None:
            return str(self.path)
        return self.sop_instance_uid or f"input #{self.index}"


@dataclass(frozen=True)
class AssociationUse:
    """One association of the pool, once it ended: its identity outcome and what went over it."""

    outcome: IdentityOutcome
    files: int
    last_status: int | None

    @property
    def identity(self) -> IdentityOutcome:
        """Deprecated (0.5, goes in 0.6): :attr:`outcome`."""
        warnings.warn(
            "AssociationUse.identity is deprecated since dicom-identity 0.5 and goes in 0.6: "
            "use AssociationUse.outcome",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.outcome


@dataclass(frozen=True)
class StoreManyReport:
    """Every input's result, in input order, and the associations used."""

    results: list[StoreResult]
    associations: list[AssociationUse]

    @property
    def stored(self) -> int:
        return sum(1 for result in self.results if result.stored)

    @property
    def failed(self) -> list[StoreResult]:
        """The inputs not stored: failed ones (and not-sent ones, which a report returned by
        ``store_many`` never holds: a stopped run raises)."""
        return [result for result in self.results if not result.stored]


StoreProgress = Callable[[StoreResult], None]


def finished_run(
    results: list[StoreResult],
    errors: list[BaseException],
    associations: list[AssociationUse],
) -> StoreManyReport:
    """The report of a run that ended, in input order; or, when an error stopped it, that error
    with a note of what was stored (threads and processes end the same way)."""
    ordered = sorted(results, key=lambda result: result.index)
    if errors:
        error = errors[0]
        stored = sum(1 for result in ordered if result.stored)
        error.add_note(
            f"store_many stopped: {stored} of the {len(ordered)} inputs taken were stored; "
            "the progress callback saw each result (not-sent ones included)"
        )
        raise error
    return StoreManyReport(ordered, list(associations))
