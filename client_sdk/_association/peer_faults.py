"""What a faulty or hostile peer did on one association, recorded as it happened.

pynetdicom decodes the peer's PDUs in its reactor thread and, when something goes wrong, only logs
it: the caller sees "aborted" whether the peer sent an A-ABORT, closed the connection in the
middle of a PDU, or sent bytes that do not decode. Worse, a PDU that decodes but cannot become a
primitive (rejection or abort codes it does not know, a legacy 58H item) raises in its state
machine, kills its thread and leaves the caller waiting for the full ACSE timeout.

``PeerFaults`` follows one association from its ``EVT_CONN_OPEN`` handler, so before the
A-ASSOCIATE-RQ is sent: every PDU read is checked strictly (``client_sdk._wire.pdu_check``), and
what went wrong is kept here for the error message. How it reaches pynetdicom's reads, decoding
and state machine is the seam's business (``client_sdk._pynetdicom.fault_hooks``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pynetdicom import evt
from pynetdicom.association import Association

from client_sdk._pynetdicom.fault_hooks import (
    Decode,
    connection_over,
    hook_association,
    stop_association,
)
from client_sdk._wire.constants import (
    A_ABORT,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    PDU_HEADER,
    PDU_NAMES,
)
from client_sdk._wire.items import MalformedPdu
from client_sdk._wire.pdu_check import (
    abort_text,
    check_associate_ac,
    is_defined_rejection,
    pdu_name,
    rejection_codes,
)

# Its 0.4 name: logging configurations may name it.
log = logging.getLogger("client_sdk.peer_faults")

_TLS_RECORD_START = (0x15, 0x16)  # a TLS alert or handshake record, version 3.x next
_ASSOCIATE_ANSWERS = (A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ABORT)


def _exception_name(exc: Exception) -> str:
    kind = type(exc)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


class PeerFaults:
    """Recorder for one association; pass :meth:`handlers` to ``AE.associate`` and
    :meth:`read` to the AE's socket (``SdkAE(reader=...)``)."""

    def __init__(self) -> None:
        self.association: Association | None = None
        self.malformed: str | None = None  # why a PDU from the peer was refused
        self.abort: tuple[int, int] | None = None  # (source, reason) of the peer's A-ABORT
        self.rejection: tuple[int, int, int] | None = None  # raw, also when undefined
        self.cut: str | None = None  # the connection closed in the middle of a PDU
        self.legacy_identity_item = False
        self.tls_answer = False  # a TLS record where a PDU was expected: we spoke plain to TLS
        self.peer_closed = False  # the connection closed between two PDUs (no fault by itself)
        self.pdu_types: list[int] = []  # types of the PDUs that arrived whole, in order
        self._pending: tuple[int, int] | None = None  # (type, length) of the PDU being read

    def handlers(self) -> list[tuple[evt.EventType, Callable[..., Any]]]:
        return [(evt.EVT_CONN_OPEN, self._on_open)]

    def close(self, timeout: float = 2.0, *, force: bool = False) -> None:
        """Once the association is over: stop its reactor and close its socket.
        ``force``: a peer fault ended it, even if pynetdicom still calls it established."""
        assoc = self.association
        if assoc is None or (assoc.is_established and not force):
            return
        stop_association(assoc, timeout)

    def stalled(self) -> str | None:
        """The PDU the peer announced and never finished sending, if the wait for it ended
        (network or ACSE timeout) with nothing else recorded."""
        if self._pending is None or self.describe() is not None:
            return None
        kind, length = self._pending
        return (
            f"sent the header of {pdu_name(kind)} announcing {length + PDU_HEADER} bytes, then "
            "stalled before its end"
        )

    def ended(self) -> bool:
        """True once a peer fault ended the association (recorded, or pynetdicom's state
        machine left the established states), even if pynetdicom still calls it established."""
        if self.describe() is not None or self.stalled() is not None:
            return True
        assoc = self.association
        return assoc is not None and connection_over(assoc)

    def describe(self) -> str | None:
        """What the peer did wrong, in words, or None when nothing was recorded."""
        if self.malformed is not None:
            return self.malformed
        if self.abort is not None:
            return f"sent an {abort_text(*self.abort)}"
        if self.cut is not None:
            return self.cut
        return None

    def _fault(self, what: str, *, cut: bool = False) -> None:
        """Keep the first fault: what follows it (our A-ABORT, the peer closing) is its echo."""
        if self.describe() is not None:
            return
        log.debug("peer fault: %s", what)
        if cut:
            self.cut = what
        else:
            self.malformed = what

    def _on_open(self, event: evt.Event) -> None:
        self.association = event.assoc
        hook_association(event.assoc, self)

    # What the seam calls -------------------------------------------------------------------

    def provider_aborted(self) -> None:
        if self.pdu_types:
            self._fault(f"sent {pdu_name(self.pdu_types[-1])} where none was expected")

    def undecodable_dimse(self, exc: Exception) -> None:
        self._fault(
            f"sent a DIMSE message that does not decode ({_exception_name(exc)} in pynetdicom)"
        )

    def read(self, recv: Callable[[int], bytearray], nbytes: int) -> bytearray:
        # pynetdicom reads a PDU as recv(6) for the header, then recv(length) for the body,
        # each looping until it has them all or the connection closed.
        data = recv(nbytes)
        pending = self._pending
        if pending is None:
            if len(data) == PDU_HEADER:
                kind, length = data[0], int.from_bytes(data[2:6], "big")
                self._pending = (kind, length) if kind in PDU_NAMES and length else None
                if kind in _TLS_RECORD_START and data[1] == 0x03:
                    self.tls_answer = True
                    self._fault(
                        "answered with TLS (a TLS record, not a PDU): it is a TLS port, so "
                        "connect with Peer(..., tls=TlsConfig(...))"
                    )
                elif kind not in PDU_NAMES:
                    self._fault(f"sent {pdu_name(kind)}")
            elif data:
                self._fault(
                    f"closed the connection after {len(data)} of the 6 header bytes of a PDU",
                    cut=True,
                )
            else:
                self.peer_closed = True
        else:
            self._pending = None
            kind, length = pending
            if len(data) < length:
                self._fault(
                    f"closed the connection in the middle of {pdu_name(kind)} "
                    f"({len(data) + PDU_HEADER} of {length + PDU_HEADER} bytes)",
                    cut=True,
                )
        return data

    def decode(self, decode: Decode, stream: bytearray) -> Any:
        raw = bytes(stream)
        kind = raw[0]
        try:
            if kind == A_ASSOCIATE_AC:
                checked = check_associate_ac(raw)
                self.legacy_identity_item = checked.legacy_identity_item
                stream = bytearray(checked.pdu)
            elif kind == A_ASSOCIATE_RJ:
                self.rejection = rejection_codes(raw)
                if not is_defined_rejection(self.rejection):
                    raise MalformedPdu("undefined rejection codes")
            elif kind == A_ABORT and len(raw) >= 10 and self.describe() is None:
                self.abort = (raw[8], raw[9])
            decoded = decode(stream)
        except Exception as exc:
            if (kind == A_ASSOCIATE_RJ and not self.pdu_types) or (
                kind == A_ABORT and self.abort is not None
            ):
                pass  # reported as the rejection or abort it is, with its raw codes
            elif isinstance(exc, MalformedPdu):
                self._fault(f"sent {pdu_name(kind)} that is malformed: {exc}")
            else:
                self._fault(
                    f"sent {pdu_name(kind)} that does not decode "
                    f"({_exception_name(exc)} in pynetdicom)"
                )
            raise
        if not self.pdu_types and kind not in _ASSOCIATE_ANSWERS:
            self._fault(f"sent {pdu_name(kind)} instead of an A-ASSOCIATE response")
        elif self.pdu_types and kind in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ):
            self._fault(f"sent {pdu_name(kind)} on an established association")
        self.pdu_types.append(kind)  # pynetdicom aborts on an unexpected one
        return decoded
