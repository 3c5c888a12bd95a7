"""What the embedded PACS saw of each association, kept thread-safe and waitable.

pynetdicom runs every association in its own thread; the PACS updates a live, mutable record from
those threads and hands out frozen snapshots. Nothing in a record is ever a password or a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

EndState = Literal["open", "released", "aborted", "closed", "rejected"]
ResponseSent = Literal["none", "empty", "echo", "reply"]


@dataclass(frozen=True)
class AssociationRecord:
    """A snapshot of one association as the embedded PACS saw it.

    ``ended``: ``"released"`` an A-RELEASE-RQ was received; ``"aborted"`` an A-ABORT PDU was
    received from the requestor; ``"closed"`` the connection went away without either (or the PACS
    itself aborted, e.g. on ``stop()``); ``"rejected"`` the PACS sent an A-ASSOCIATE-RJ.

    ``response_sent``: ``"none"`` no 59H item in the A-ASSOCIATE-AC; ``"empty"`` a zero-length
    server response; ``"echo"`` the requestor's own primary field sent back; ``"reply"`` the
    verifier's own answer (the Kerberos AP-REP). ``response_length`` is its length, never its bytes.
    """

    calling_ae_title: str
    called_ae_title: str
    identity_type: int | None = None
    principal: str | None = None
    response_requested: bool = False
    verified: bool | None = None
    failure: str | None = None
    response_sent: ResponseSent = "none"
    response_length: int | None = None
    rejected: tuple[int, int, int] | None = None
    ended: EndState = "open"
    dimse: list[str] = field(default_factory=list)


@dataclass
class LiveRecord:
    calling_ae_title: str
    called_ae_title: str
    identity_type: int | None = None
    principal: str | None = None
    response_requested: bool = False
    verified: bool | None = None
    failure: str | None = None
    response_sent: ResponseSent = "none"
    response_length: int | None = None
    rejected: tuple[int, int, int] | None = None
    ended: EndState = "open"
    dimse: list[str] = field(default_factory=list)
    abort_pdu_received: bool = False
    release_requested: bool = False

    def snapshot(self) -> AssociationRecord:
        values = asdict(self)
        del values["abort_pdu_received"], values["release_requested"]
        return AssociationRecord(**values)

    def end_state_from_pdus(self) -> EndState:
        """How a connection that went away ended, judged by the last PDUs received."""
        if self.abort_pdu_received:
            return "aborted"
        if self.release_requested:
            return "released"
        return "closed"


class RecordBook:
    """The records of one PACS, keyed by pynetdicom's ``Association`` object while it lives."""

    def __init__(self, on_end: Callable[[AssociationRecord], None] | None = None) -> None:
        self._cond = threading.Condition()
        self._records: list[LiveRecord] = []
        self._live: dict[object, LiveRecord] = {}
        self._on_end = on_end

    def open(self, key: object, calling_ae_title: str, called_ae_title: str) -> None:
        with self._cond:
            record = LiveRecord(calling_ae_title, called_ae_title)
            self._records.append(record)
            self._live[key] = record
            self._cond.notify_all()

    def update(self, key: object, change: Callable[[LiveRecord], None]) -> None:
        """Apply ``change`` to the live record of ``key`` (ignored if unknown or cleared)."""
        with self._cond:
            record = self._live.get(key)
            if record is None:
                return
            change(record)
            self._cond.notify_all()

    def end(self, key: object, state: EndState, *, forget: bool = False) -> None:
        """Mark the association ended (the first end wins); ``forget`` drops the key.

        ``"closed"`` is refined by the PDUs received: pynetdicom may report the connection closed
        (``EVT_CONN_CLOSE``, DUL thread) before the association thread reports the A-ABORT or
        A-RELEASE that caused it.
        """
        finished: AssociationRecord | None = None
        with self._cond:
            record = self._live.pop(key, None) if forget else self._live.get(key)
            if record is not None and record.ended == "open":
                record.ended = record.end_state_from_pdus() if state == "closed" else state
                finished = record.snapshot()
            self._cond.notify_all()
        if finished is not None and self._on_end is not None:
            self._on_end(finished)

    def snapshot(self) -> list[AssociationRecord]:
        with self._cond:
            return [record.snapshot() for record in self._records]

    def clear(self) -> None:
        with self._cond:
            self._records.clear()
            self._live.clear()
            self._cond.notify_all()

    def wait_for(self, count: int, *, ended: bool, timeout: float) -> list[AssociationRecord]:
        """Block until ``count`` records exist (and, if ``ended``, all have ended)."""
        deadline = time.monotonic() + timeout

        def ready() -> bool:
            if len(self._records) < count:
                return False
            return not ended or all(r.ended != "open" for r in self._records)

        with self._cond:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    still_open = sum(1 for r in self._records if r.ended == "open")
                    raise TimeoutError(
                        f"embedded PACS: waited {timeout:g} s for {count} association(s)"
                        f"{' to end' if ended else ''}; have {len(self._records)}, "
                        f"{still_open} still open"
                    )
                self._cond.wait(remaining)
            return [record.snapshot() for record in self._records]
