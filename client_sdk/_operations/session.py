"""An open association and the DIMSE operations that run on it."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydicom import Dataset
from pydicom.datadict import tag_for_keyword
from pydicom.multival import MultiValue
from pynetdicom.association import Association

from client_sdk._association.peer_faults import PeerFaults
from client_sdk._errors import AssociationAborted, DimseFailure, NotAuthorized, PeerProtocolError
from client_sdk._operations.dicom_file_check import read_checked
from client_sdk._operations.retrieve import Receiver
from client_sdk._outcome import IdentityOutcome
from client_sdk._peer_text import PeerText, shown
from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE
from providers.safe_errors import secret_safe, total_repr

__all__ = ["RetrieveResult", "Session", "StoreInput", "load_dataset"]

log = logging.getLogger(__name__)

StoreInput = Dataset | str | os.PathLike[str]

SUCCESS = 0x0000
NOT_AUTHORIZED = 0x0124
MOVE_DESTINATION_UNKNOWN = 0xA801
_PENDING = (0xFF00, 0xFF01)
_WARNING_STATUSES = (0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007)
_QUERY_LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")
_SHOWN_TAGS = 4  # offending elements named in a message
_T = TypeVar("_T")


def load_dataset(item: StoreInput) -> Dataset:
    """A dataset as given, or read from a DICOM file and checked completely (truncated, broken
    or inconsistent files raise :class:`~client_sdk.errors.InvalidDicomFile`, a
    ``DimseFailure``; see :mod:`client_sdk.dicom_file_check`): nothing of such a file is sent."""
    if isinstance(item, Dataset):
        return item
    return read_checked(item)


@dataclass(frozen=True)
class RetrieveResult:
    """The outcome of a C-GET or C-MOVE that did not fail.

    ``status`` is the final DIMSE status (0x0000, or a warning such as 0xB000 when some
    sub-operations failed); ``completed``, ``failed`` and ``warning`` are the peer's final counts
    of C-STORE sub-operations; ``failed_instances`` the SOP Instance UIDs it listed as failed.
    C-GET only: ``datasets`` holds the received datasets (each with ``file_meta``) when no
    ``output_dir`` was given, else ``paths`` the written files (the datasets are not kept, so a
    large study does not have to fit in memory). Both are empty for C-MOVE: the instances went
    to the destination.
    """

    status: int
    completed: int
    failed: int
    warning: int
    failed_instances: tuple[str, ...] = ()
    datasets: tuple[Dataset, ...] = field(default=(), repr=False)
    paths: tuple[Path, ...] = field(default=(), repr=False)


class Session:
    """One established association. Released on normal exit from ``with``, aborted on an error."""

    def __init__(
        self,
        association: Association,
        identity: IdentityOutcome,
        peer: str,
        receiver: Receiver | None = None,
        *,
        faults: PeerFaults | None = None,
        peer_text: PeerText | None = None,
    ) -> None:
        self.association = association
        self.identity = identity
        self.peer = peer
        # What the peer says (error comments, identifiers, UIDs) is shown only through this:
        # scrubbed of this association's secrets, one line, cut to its VR's length.
        self.peer_text = peer_text if peer_text is not None else PeerText()
        self._receiver = receiver
        self._faults = faults if faults is not None else PeerFaults()
        self._completed = 0  # DIMSE operations that got their final response
        self._ended_here = False  # this side released or aborted the association
        self._waiting_since = time.monotonic()  # start of the current wait for a response

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.release()
            else:
                self.abort()
        finally:
            self._faults.close()

    @property
    def is_open(self) -> bool:
        return bool(self.association.is_established)

    def release(self) -> None:
        """Release the association; raises :class:`AssociationAborted` when the peer answers
        with an A-ABORT (or nothing) instead of an A-RELEASE-RP, or ended it before."""
        if self._peer_ended():
            raise self._lost("A-RELEASE", before=True)
        if not self.association.is_established:
            return
        started = time.monotonic()
        self._ended_here = True
        self.association.release()
        if self.association.is_released:
            return
        timeout = self.association.acse_timeout
        what = self._faults.describe()
        if what is None and timeout is not None and time.monotonic() - started >= timeout:
            what = f"sent no A-RELEASE-RP within the ACSE timeout ({timeout:g} s)"
        elif what is None:
            what = "closed the connection"
        done = f"{self._completed} operation(s)" if self._completed else "no operation"
        raise AssociationAborted(
            f"{self.peer}, asked to release the association, {what} instead of an A-RELEASE-RP; "
            f"the association ended aborted. The {done} completed before it returned their "
            "results, which stand: check the peer's log before repeating any"
        )

    def abort(self) -> None:
        if self._peer_ended():
            return
        if self.association.is_established:
            self._ended_here = True
            self.association.abort()

    def _peer_ended(self) -> bool:
        """True (and everything closed) when a peer fault already ended the association.

        pynetdicom has then aborted on its own or lost the connection, but its association
        thread may not have noticed yet; an A-ABORT or A-RELEASE-RQ sent now would reach a
        state machine that no longer accepts one and kill its thread with an exception.
        """
        faults = self._faults
        recorded = faults.describe() is not None or faults.stalled() is not None
        if recorded or (self.association.is_established and faults.ended()):
            faults.close(force=True)
            return True
        return False

    @secret_safe  # no frame an error leaves keeps the peer's answer (its text may hold a secret)
    def echo(self) -> int:
        """C-ECHO. Returns the status (0x0000) or raises."""
        self._require_open("C-ECHO")
        rsp = self._send("C-ECHO", self.association.send_c_echo)
        return self._check("C-ECHO", rsp)

    @secret_safe
    def store(self, item: StoreInput) -> int:
        """C-STORE one dataset or DICOM file. Returns the status (success or warning) or raises."""
        self._require_open("C-STORE")
        ds = load_dataset(item)
        try:
            rsp = self._send("C-STORE", lambda: self.association.send_c_store(ds))
        except ValueError as exc:
            # pynetdicom raises ValueError when no accepted context fits the dataset.
            raise DimseFailure(
                f"C-STORE to {self.peer} impossible: {exc}. Propose this SOP class when "
                "associating (associate(sop_classes=[...]))",
                status=None,
            ) from None
        return self._check("C-STORE", rsp)

    @secret_safe  # nor the matches it sent before failing
    def find(self, query: Dataset | Mapping[str, Any], *, level: str = "STUDY") -> list[Dataset]:
        """Study Root C-FIND at ``level``; returns every matching identifier."""
        self._require_open("C-FIND")
        identifier = _identifier(query, level)
        matches: list[Dataset] = []
        responses = self._send(
            "C-FIND", lambda: self.association.send_c_find(identifier, STUDY_ROOT_FIND)
        )
        for status, found in self._guarded("C-FIND", responses):
            code = self._check("C-FIND", (status, found), final=False)
            if code in _PENDING:
                if found is not None:
                    matches.append(found)
                continue
        return matches

    @secret_safe
    def get(
        self,
        query: Dataset | Mapping[str, Any],
        *,
        level: str = "STUDY",
        output_dir: str | os.PathLike[str] | None = None,
    ) -> RetrieveResult:
        """Study Root C-GET at ``level``: the peer sends the matching instances back over this
        association, which must have been opened with ``client.associate(retrieve=True)``.

        Without ``output_dir`` the result's ``datasets`` holds them; with it, each is written as
        ``output_dir/<SOPInstanceUID>.dcm`` (DICOM File Format, as received) and the result's
        ``paths`` lists the files. Raises :class:`NotAuthorized` (0x0124) or
        :class:`DimseFailure` on a failure status (0xA702: every sub-operation failed).
        """
        self._require_open("C-GET")
        receiver = self._receiver
        if receiver is None:
            raise DimseFailure(
                f"C-GET from {self.peer} needs an association that accepts the instances back: "
                "open it with client.associate(retrieve=True)",
                status=None,
            )
        if not any(cx.as_scp for cx in self.association.accepted_contexts):
            raise DimseFailure(
                f"C-GET from {self.peer} impossible: the peer accepted the SCP role for no "
                "storage SOP class, so it cannot send instances back. Use move() instead",
                status=None,
            )
        identifier = _identifier(query, level)
        directory = None if output_dir is None else Path(output_dir)
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        with receiver.collect(directory, self.peer_text) as batch:
            try:
                responses = self._send(
                    "C-GET", lambda: self.association.send_c_get(identifier, STUDY_ROOT_GET)
                )
            except ValueError as exc:
                raise DimseFailure(
                    f"C-GET from {self.peer} impossible: {exc}. Propose Study Root C-GET "
                    "(client.associate(retrieve=True) does)",
                    status=None,
                ) from None
            result = self._retrieved("C-GET", responses, local_errors=batch.errors)
            return dataclasses.replace(
                result, datasets=tuple(batch.datasets), paths=tuple(batch.paths)
            )

    @secret_safe
    def move(
        self, query: Dataset | Mapping[str, Any], *, destination: str, level: str = "STUDY"
    ) -> RetrieveResult:
        """Study Root C-MOVE at ``level``: the peer sends the matching instances to the AE titled
        ``destination`` (which the peer must know, with its address) over an association of its
        own. Raises :class:`NotAuthorized` (0x0124) or :class:`DimseFailure` on a failure status
        (0xA801: the destination is unknown to the peer or unreachable from it).
        """
        self._require_open("C-MOVE")
        destination = destination.strip()
        if not destination or len(destination) > 16:
            raise ValueError(
                f"move destination must be an AE title of 1-16 characters: {destination!r}"
            )
        identifier = _identifier(query, level)
        try:
            responses = self._send(
                "C-MOVE",
                lambda: self.association.send_c_move(identifier, destination, STUDY_ROOT_MOVE),
            )
        except ValueError as exc:
            raise DimseFailure(
                f"C-MOVE at {self.peer} impossible: {exc}. Propose Study Root C-MOVE "
                "(client.associate() does by default)",
                status=None,
            ) from None
        return self._retrieved("C-MOVE", responses, destination=destination)

    def _retrieved(
        self,
        operation: str,
        responses: Iterator[tuple[Dataset, Dataset | None]],
        *,
        destination: str | None = None,
        local_errors: list[str] | None = None,
    ) -> RetrieveResult:
        """Follow C-GET/C-MOVE responses to the final one; its status and counts, or raise."""
        for status_ds, identifier in self._guarded(operation, responses):
            status = int(status_ds.Status) if "Status" in status_ds else None
            if status in _PENDING:
                log.debug(
                    "%s at %s: %s sub-operations remaining",
                    operation,
                    self.peer,
                    status_ds.get("NumberOfRemainingSuboperations", "?"),
                )
                continue
            completed = _count(status_ds, "NumberOfCompletedSuboperations")
            failed = _count(status_ds, "NumberOfFailedSuboperations")
            if status == MOVE_DESTINATION_UNKNOWN and destination is not None:
                raise DimseFailure(
                    f"{operation} at {self.peer} failed (0xA801): move destination {destination!r} "
                    "is unknown to the peer, or the peer could not associate with it. Register "
                    "that AE title with its host and port on the peer",
                    status=status,
                )
            extra = f"; sub-operations: {completed} completed, {failed} failed" if failed else ""
            if local_errors:
                extra += f"; here: {local_errors[0]}"
                if len(local_errors) > 1:
                    extra += f" (and {len(local_errors) - 1} more)"
            code = self._check(operation, (status_ds, identifier), extra=extra)
            listed = identifier.get("FailedSOPInstanceUIDList", []) if identifier else []
            if isinstance(listed, str):
                listed = [listed] if listed else []
            forms = self.peer_text.scrubber()
            return RetrieveResult(
                status=code,
                completed=completed,
                failed=failed,
                warning=_count(status_ds, "NumberOfWarningSuboperations"),
                failed_instances=tuple(shown(uid, "UI", forms) for uid in listed),
            )
        raise DimseFailure(
            f"{operation} at {self.peer}: the responses ended without a final status",
            status=None,
        )

    def _require_open(self, operation: str) -> None:
        if not self.association.is_established:
            faults = self._faults
            # The peer hung up (or aborted) since the last operation, and pynetdicom noticed
            # first: say so, rather than "no longer open".
            if faults.describe() is not None or (faults.peer_closed and not self._ended_here):
                raise self._lost(operation, before=True)
            raise AssociationAborted(
                f"{operation} to {self.peer}: the association is no longer open "
                "(released or aborted); open a new one with client.associate()"
            )

    def _send(self, operation: str, call: Callable[[], _T]) -> _T:
        """Run pynetdicom's send_*(), which raises RuntimeError when the peer's A-ABORT (or a
        dropped connection) ended the association since :meth:`_require_open` looked."""
        self._waiting_since = time.monotonic()
        try:
            return call()
        except RuntimeError:
            if self.association.is_established:
                raise
            raise self._lost(operation, before=True) from None

    def _guarded(
        self, operation: str, responses: Iterator[tuple[Dataset, Dataset | None]]
    ) -> Iterator[tuple[Dataset, Dataset | None]]:
        """The responses of a C-FIND/C-GET/C-MOVE, each wait timed for :meth:`_lost`."""
        while True:
            self._waiting_since = time.monotonic()
            try:
                item = next(responses)
            except StopIteration:
                return
            yield item

    def _lost(self, operation: str, *, before: bool = False) -> AssociationAborted | DimseFailure:
        """Why ``operation`` got no response: the peer aborted, broke the protocol, hung up, or
        said nothing within the DIMSE timeout (pynetdicom then aborts)."""
        when = "before" if before else "during"
        unknown = (
            ""
            if before or operation == "C-ECHO"
            else f" Whether the {operation} took effect on the peer is unknown: check there "
            "before repeating it."
        )
        faults = self._faults
        if faults.malformed is not None:
            return PeerProtocolError(
                f"{self.peer} {faults.malformed} {when} the {operation}; the association was "
                "aborted. The peer's DICOM implementation is at fault: report it to its vendor."
                + unknown
            )
        what = faults.describe()
        if what is not None:
            return AssociationAborted(
                f"{self.peer} {what} {when} the {operation}, ending the association. Check the "
                "peer's log, then open a new association." + unknown
            )
        stalled = faults.stalled()
        if stalled is not None:
            return AssociationAborted(
                f"{self.peer} {stalled} {when} the {operation}; the association was aborted. "
                "The peer or the network is stuck: check the peer's log, then open a new "
                "association." + unknown
            )
        timeout = self.association.dimse_timeout
        waited = time.monotonic() - self._waiting_since
        if timeout is not None and waited >= timeout:
            return DimseFailure(
                f"{operation} to {self.peer}: no response within the DIMSE timeout "
                f"({timeout:g} s), so the association was aborted. The peer may be overloaded: "
                "retry later or raise Timeouts(dimse=...)." + unknown,
                status=None,
            )
        if getattr(self.association, "_sent_abort", False):
            # pynetdicom aborts when a response decodes but does not fit the request.
            return PeerProtocolError(
                f"{self.peer} answered the {operation} with a response that is not valid for "
                "it; the association was aborted. The peer's DICOM implementation is at fault: "
                "report it to its vendor." + unknown
            )
        return AssociationAborted(
            f"{self.peer} closed the connection {when} the {operation} without an A-ABORT. "
            "Check the peer's log, then open a new association." + unknown
        )

    def _check(
        self,
        operation: str,
        rsp: tuple[Dataset | None, Dataset | None] | Dataset | None,
        *,
        final: bool = True,
        extra: str = "",
    ) -> int:
        status_ds = rsp[0] if isinstance(rsp, tuple) else rsp
        if status_ds is None or "Status" not in status_ds:
            raise self._lost(operation)
        status = int(status_ds.Status)
        if status not in _PENDING:
            self._completed += 1
        if status == SUCCESS or status in _WARNING_STATUSES or status in _PENDING:
            if status in _WARNING_STATUSES:
                log.warning("%s to %s: warning status 0x%04X", operation, self.peer, status)
            return status
        detail = _peer_detail(status_ds, self.peer_text) + extra
        if status == NOT_AUTHORIZED:
            raise NotAuthorized(
                f"{operation} to {self.peer} refused: not authorized (0x0124){detail}. "
                f"The identity {self.identity.principal or self.identity.type_label!r} was "
                "accepted for the association but lacks the right for this operation",
                status=status,
            )
        raise DimseFailure(
            f"{operation} to {self.peer} failed with status 0x{status:04X}{detail}",
            status=status,
        )

    def __repr__(self) -> str:
        def build() -> str:  # total (providers.safe_errors): reporters repr half-built objects
            state = "open" if self.is_open else "closed"
            return f"Session(peer={self.peer}, {state}, identity={self.identity.summary()!r})"

        return total_repr(self, build)


def _peer_detail(status: Dataset, peer_text: PeerText) -> str:
    """The Error Comment and Offending Element of a failure status, as shown: the comment is
    the peer's text (client_sdk.peer_text), the elements are numbers formatted here."""
    comment = peer_text.shown(status.get("ErrorComment", ""), "LO").strip()
    offending = status.get("OffendingElement")
    tags = offending if isinstance(offending, list | tuple | MultiValue) else [offending]
    named = [f"({int(t) >> 16:04X},{int(t) & 0xFFFF:04X})" for t in tags if isinstance(t, int)]
    if named:
        more = f" and {len(named) - _SHOWN_TAGS} more" if len(named) > _SHOWN_TAGS else ""
        comment += f"{'; ' if comment else ''}offending element {', '.join(named[:_SHOWN_TAGS])}"
        comment += more
    return f" ({comment})" if comment else ""


def _count(status: Dataset, keyword: str) -> int:
    value = status.get(keyword)
    return int(value) if isinstance(value, int) else 0


def _identifier(query: Dataset | Mapping[str, Any], level: str) -> Dataset:
    level = level.upper()
    if level not in _QUERY_LEVELS:
        raise ValueError(f"query level must be one of {', '.join(_QUERY_LEVELS)}: {level!r}")
    identifier = _as_dataset(query)
    identifier.QueryRetrieveLevel = level
    return identifier


def _as_dataset(query: Dataset | Mapping[str, Any]) -> Dataset:
    if isinstance(query, Dataset):
        return Dataset(query)  # a shallow copy: the caller's query is not modified
    from client_sdk._operations.query_keys import closest_keyword

    ds = Dataset()
    for keyword, value in query.items():
        if tag_for_keyword(keyword) is None:  # setattr would keep it as an attribute, unsent
            guess = closest_keyword(keyword)
            hint = f"did you mean {guess}? " if guess else ""
            raise ValueError(
                f"query key {keyword!r} is not a DICOM keyword; {hint}For tags, sequences or "
                "DCMTK's -k forms pass a Dataset (client_sdk.query_keys.parse_query_keys)"
            )
        try:
            setattr(ds, keyword, value)
        except (AttributeError, ValueError, TypeError) as exc:
            raise ValueError(f"query key {keyword!r}: {exc}") from None
    return ds
