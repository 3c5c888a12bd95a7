"""An open association and the DIMSE operations that run on it."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydicom import Dataset
from pynetdicom.association import Association

from client_sdk._association.lost import why_lost
from client_sdk._association.peer_faults import PeerFaults
from client_sdk._errors import AssociationAborted, DimseFailure
from client_sdk._operations.dicom_file_check import StoreInput, load_encoded
from client_sdk._operations.identifier import query_identifier
from client_sdk._operations.retrieve import Receiver, RetrieveResult
from client_sdk._operations.statuses import (
    MOVE_DESTINATION_UNKNOWN,
    PENDING,
    WARNINGS,
    count,
    failure,
    goes_on,
)
from client_sdk._outcome import IdentityOutcome
from client_sdk._peer_text import PeerText, shown
from client_sdk._pynetdicom.encoded_store import send_encoded_c_store
from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE
from providers._safe_errors import secret_safe, total_repr
from providers._scrub import InFlight

# Its 0.4 name: logging configurations may name it.
log = logging.getLogger("client_sdk.session")

_T = TypeVar("_T")


class Session:
    """One established association. Released on normal exit from ``with``, aborted on an error."""

    def __init__(
        self,
        association: Association,
        outcome: IdentityOutcome,
        peer: str,
        receiver: Receiver | None = None,
        *,
        faults: PeerFaults | None = None,
        peer_text: PeerText | None = None,
    ) -> None:
        self.association = association
        self.outcome = outcome  # what happened to the identity (client.identity: the provider)
        self.peer = peer
        # What the peer says (error comments, identifiers, UIDs) is shown only through this:
        # scrubbed of this association's secrets, one line, cut to its VR's length.
        self.peer_text = peer_text if peer_text is not None else PeerText()
        self._receiver = receiver
        self._faults = faults if faults is not None else PeerFaults()
        self._completed = 0  # DIMSE operations that got their final response
        self._ended_here = False  # this side released or aborted the association
        self._waiting_since = time.monotonic()  # start of the current wait for a response
        self._scrubbed: InFlight | None = None

    def keep_scrubbed(self, secrets: InFlight) -> None:
        """Hold the association's secrets registered for the log scrubber until this side
        releases or aborts the association (or the Session is collected): a peer may quote
        them in any DIMSE message, which pynetdicom logs and dumps."""
        self._scrubbed = secrets
        weakref.finalize(self, secrets.close)

    def _stop_scrubbing(self) -> None:
        if self._scrubbed is not None:
            self._scrubbed.close()

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
            self._stop_scrubbing()

    @property
    def is_open(self) -> bool:
        return bool(self.association.is_established)

    def release(self) -> None:
        """Release the association; raises :class:`AssociationAborted` when the peer answers
        with an A-ABORT (or nothing) instead of an A-RELEASE-RP, or ended it before."""
        try:
            self._release()
        finally:
            self._stop_scrubbing()

    def _release(self) -> None:
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
        try:
            if self._peer_ended():
                return
            if self.association.is_established:
                self._ended_here = True
                self.association.abort()
        finally:
            self._stop_scrubbing()

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
        return self.check_status("C-ECHO", rsp)

    @secret_safe
    def store(self, item: StoreInput) -> int:
        """C-STORE one dataset or DICOM file. Returns the status (success or warning) or raises."""
        self._require_open("C-STORE")
        ds, encoded = load_encoded(item)

        def send() -> Dataset:
            # A file goes as it was read and checked when its own transfer syntax was accepted
            # (else decoded from those bytes and converted by pynetdicom).
            if encoded is not None:
                return send_encoded_c_store(self.association, encoded)
            status: Dataset = self.association.send_c_store(ds)
            return status

        try:
            rsp = self._send("C-STORE", send)
        except ValueError as exc:
            # pynetdicom raises ValueError when no accepted context fits the dataset.
            raise DimseFailure(
                f"C-STORE to {self.peer} impossible: {exc}. Propose this SOP class when "
                "associating (associate(sop_classes=[...]))",
                status=None,
            ) from None
        return self.check_status("C-STORE", rsp)

    @secret_safe  # nor the matches it sent before failing
    def find(self, query: Dataset | Mapping[str, Any], *, level: str = "STUDY") -> list[Dataset]:
        """Study Root C-FIND at ``level``; returns every matching identifier."""
        self._require_open("C-FIND")
        identifier = query_identifier(query, level)
        matches: list[Dataset] = []
        responses = self._send(
            "C-FIND", lambda: self.association.send_c_find(identifier, STUDY_ROOT_FIND)
        )
        for status, found in self._guarded("C-FIND", responses):
            code = self.check_status("C-FIND", (status, found))
            if code in PENDING:
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
        identifier = query_identifier(query, level)
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
        identifier = query_identifier(query, level)
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
            if status in PENDING:
                log.debug(
                    "%s at %s: %s sub-operations remaining",
                    operation,
                    self.peer,
                    status_ds.get("NumberOfRemainingSuboperations", "?"),
                )
                continue
            completed = count(status_ds, "NumberOfCompletedSuboperations")
            failed = count(status_ds, "NumberOfFailedSuboperations")
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
            code = self.check_status(operation, (status_ds, identifier), extra=extra)
            listed = identifier.get("FailedSOPInstanceUIDList", []) if identifier else []
            if isinstance(listed, str):
                listed = [listed] if listed else []
            forms = self.peer_text.scrubber()
            return RetrieveResult(
                status=code,
                completed=completed,
                failed=failed,
                warning=count(status_ds, "NumberOfWarningSuboperations"),
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

    def check_status(
        self,
        operation: str,
        rsp: tuple[Dataset | None, Dataset | None] | Dataset | None,
        *,
        extra: str = "",
    ) -> int:
        """The status of a response when it goes on (success, warning, pending); else raise:
        the failure, or why no response came (``bulk`` checks its C-STOREs with this too)."""
        status_ds = rsp[0] if isinstance(rsp, tuple) else rsp
        if status_ds is None or "Status" not in status_ds:
            raise self._lost(operation)
        status = int(status_ds.Status)
        if status not in PENDING:
            self._completed += 1
        if goes_on(status):
            if status in WARNINGS:
                log.warning("%s to %s: warning status 0x%04X", operation, self.peer, status)
            return status
        raise failure(
            operation,
            status,
            status_ds,
            peer=self.peer,
            outcome=self.outcome,
            peer_text=self.peer_text,
            extra=extra,
        )

    def _lost(self, operation: str, *, before: bool = False) -> AssociationAborted | DimseFailure:
        return why_lost(
            operation,
            peer=self.peer,
            faults=self._faults,
            association=self.association,
            waited=time.monotonic() - self._waiting_since,
            before=before,
        )

    @property
    def identity(self) -> IdentityOutcome:
        """Deprecated (0.5, goes in 0.6): :attr:`outcome`. (``client.identity`` is the provider.)"""
        warnings.warn(
            "Session.identity is deprecated since dicom-identity 0.5 and goes in 0.6: use "
            "Session.outcome (the identity outcome; Client.identity is the provider)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.outcome

    def __repr__(self) -> str:
        def build() -> str:  # total (providers._safe_errors): reporters repr half-built objects
            state = "open" if self.is_open else "closed"
            return f"Session(peer={self.peer}, {state}, identity={self.outcome.summary()!r})"

        return total_repr(self, build)
