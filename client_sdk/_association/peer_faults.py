"""What a faulty or hostile peer did on one association, recorded as it happened.

pynetdicom decodes the peer's PDUs in its reactor thread and, when something goes wrong, only logs
it: the caller sees "aborted" whether the peer sent an A-ABORT, closed the connection in the
middle of a PDU, or sent bytes that do not decode. Worse, a PDU that decodes but cannot become a
primitive (rejection or abort codes it does not know, a legacy 58H item) raises in its state
machine, kills its thread and leaves the caller waiting for the full ACSE timeout.

``PeerFaults`` hooks one association (from its ``EVT_CONN_OPEN`` handler, so before the
A-ASSOCIATE-RQ is sent): every PDU read is checked strictly and converted once as a trial, so a
bad one fails where pynetdicom handles decode errors (it sends an A-ABORT and reports the abort at
once). What went wrong is kept here for the error message. The hooks replace four methods on
this association's own objects, all pynetdicom 3.0.x internals (pinned below 3.1):

- ``DULServiceProvider._decode_pdu``: strict checks, the trial conversion, the record;
- ``AssociationSocket.recv``: a connection closed or stalled in the middle of a PDU;
- ``StateMachine.do_action``: wake a DIMSE wait when pynetdicom aborts (AA-8), drop a local
  request that races that abort instead of raising in pynetdicom's thread;
- ``DIMSEServiceProvider.receive_primitive``: a command set pynetdicom cannot read aborts.

Nothing process-wide changes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

from pynetdicom import evt
from pynetdicom.association import Association
from pynetdicom.fsm import TRANSITION_TABLE

from client_sdk._wire.pdu_check import (
    MalformedPdu,
    check_associate_ac,
    is_defined_rejection,
    rejection_codes,
)

__all__ = ["PeerFaults", "abort_text"]

log = logging.getLogger(__name__)

PDU_NAMES = {
    0x01: "A-ASSOCIATE-RQ",
    0x02: "A-ASSOCIATE-AC",
    0x03: "A-ASSOCIATE-RJ",
    0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ",
    0x06: "A-RELEASE-RP",
    0x07: "A-ABORT",
}
_ABORT_SOURCES = {0: "service-user", 1: "reserved", 2: "service-provider"}
_ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}
_HEADER = 6


def pdu_name(kind: int) -> str:
    """The PDU's name with its article: "an A-ASSOCIATE-AC", "a P-DATA-TF"."""
    name = PDU_NAMES.get(kind, f"PDU of unknown type {kind:02X}H")
    return f"{'an' if name.startswith('A-') else 'a'} {name}"


def abort_text(source: int, reason: int) -> str:
    """``"A-ABORT (source 2, service-provider: unexpected PDU)"``."""
    who = _ABORT_SOURCES.get(source, "undefined")
    why = _ABORT_REASONS.get(reason, "undefined reason") if source == 2 else ""
    return f"A-ABORT (source {source}, {who}{': ' + why if why else ''})"


def _exception_name(exc: Exception) -> str:
    kind = type(exc)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


class PeerFaults:
    """Recorder for one association; pass :meth:`handlers` to ``AE.associate``."""

    def __init__(self) -> None:
        self.association: Association | None = None
        self.malformed: str | None = None  # why a PDU from the peer was refused
        self.abort: tuple[int, int] | None = None  # (source, reason) of the peer's A-ABORT
        self.rejection: tuple[int, int, int] | None = None  # raw, also when undefined
        self.cut: str | None = None  # the connection closed in the middle of a PDU
        self.legacy_identity_item = False
        self.tls_answer = False  # a TLS record where a PDU was expected: we spoke plain to TLS
        self.peer_closed = False  # the connection closed between two PDUs (no fault by itself)
        self.received: list[int] = []  # types of the PDUs that arrived whole
        self._pending: tuple[int, int] | None = None  # (type, length) of the PDU being read

    def handlers(self) -> list[tuple[evt.EventType, Callable[..., Any]]]:
        return [(evt.EVT_CONN_OPEN, self._on_open)]

    def close(self, timeout: float = 2.0, *, force: bool = False) -> None:
        """Once the association is over: stop its reactor and close its socket. pynetdicom stops
        the reactor of a failed negotiation at once, also while it waits for the peer to close
        the connection after aborting on a bad PDU (Sta13), and then nobody closes the socket.
        ``force``: a peer fault ended it, even if pynetdicom still calls it established."""
        assoc = self.association
        if assoc is None or (assoc.is_established and not force):
            return
        dul = assoc.dul
        sock = dul.socket
        if dul.is_alive():
            dul.kill_dul()
            raw = sock.socket if sock is not None else None
            if raw is not None:
                # Wake a reactor blocked reading what is left of a bad PDU; it then sees the
                # connection closed (which it handles) and its kill flag.
                with contextlib.suppress(OSError):
                    raw.shutdown(socket.SHUT_RDWR)
            dul.join(timeout)
        if sock is not None and sock.socket is not None:
            sock.close()
        if assoc.is_established:
            assoc.is_aborted = True
            assoc.kill()  # its reactor thread; returns at once now that the DUL has stopped

    def stalled(self) -> str | None:
        """The PDU the peer announced and never finished sending, if the wait for it ended
        (network or ACSE timeout) with nothing else recorded."""
        if self._pending is None or self.describe() is not None:
            return None
        kind, length = self._pending
        return (
            f"sent the header of {pdu_name(kind)} announcing {length + _HEADER} bytes, then "
            "stalled before its end"
        )

    def ended(self) -> bool:
        """True once a peer fault ended the association (recorded, or pynetdicom's state
        machine left the established states), even if pynetdicom still calls it established."""
        if self.describe() is not None or self.stalled() is not None:
            return True
        assoc = self.association
        return assoc is not None and assoc.dul.state_machine.current_state in ("Sta1", "Sta13")

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
        assoc = event.assoc
        self.association = assoc
        dul = assoc.dul
        decode = dul._decode_pdu
        dul._decode_pdu = lambda stream: self._decode(decode, stream)  # type: ignore[method-assign,assignment]
        machine = dul.state_machine
        do_action = machine.do_action

        def act(event: str) -> None:
            if (event, machine.current_state) not in TRANSITION_TABLE:
                # Our own request (an A-ABORT, say) racing the peer's fault: pynetdicom already
                # aborted (Sta13) and would raise here, killing its thread. Nothing to add.
                log.debug("dropped %s in %s", event, machine.current_state)
                return
            do_action(event)
            if machine.current_state == "Sta13" and event != "Evt15":
                # Not our own A-ABORT (Evt15): pynetdicom aborted on a PDU it did not expect or
                # could not decode (AA-8), and leaves a C-ECHO/C-STORE waiting for its
                # response until the DIMSE timeout: wake it now.
                if self.received:
                    self._fault(f"sent {pdu_name(self.received[-1])} where none was expected")
                assoc.dimse.msg_queue.put((None, None))

        machine.do_action = act  # type: ignore[method-assign]
        dimse = assoc.dimse
        receive = dimse.receive_primitive

        def received(primitive: Any) -> None:
            # pynetdicom assembles DIMSE messages in its state machine, where a command set it
            # cannot read (no Command Field, say) kills its thread. Treat it as it treats a PDU
            # it cannot decode: Evt19, so it aborts (AA-8).
            try:
                receive(primitive)
            except Exception as exc:
                self._fault(
                    f"sent a DIMSE message that does not decode ({_exception_name(exc)} in "
                    "pynetdicom)"
                )
                dul.event_queue.put("Evt19")

        dimse.receive_primitive = received  # type: ignore[method-assign]
        sock = dul.socket
        if sock is not None:
            recv = sock.recv
            sock.recv = lambda nbytes: self._recv(recv, nbytes)  # type: ignore[method-assign,assignment]

    def _recv(self, recv: Callable[[int], bytearray], nbytes: int) -> bytearray:
        # pynetdicom reads a PDU as recv(6) for the header, then recv(length) for the body,
        # each looping until it has them all or the connection closed.
        data = recv(nbytes)
        pending = self._pending
        if pending is None:
            if len(data) == _HEADER:
                kind, length = data[0], int.from_bytes(data[2:6], "big")
                self._pending = (kind, length) if kind in PDU_NAMES and length else None
                if kind in (0x15, 0x16) and data[1] == 0x03:
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
                    f"({len(data) + _HEADER} of {length + _HEADER} bytes)",
                    cut=True,
                )
        return data

    def _decode(self, decode: Callable[[bytearray], Any], stream: bytearray) -> Any:
        raw = bytes(stream)
        kind = raw[0]
        try:
            if kind == 0x02:
                checked = check_associate_ac(raw)
                self.legacy_identity_item = checked.legacy_identity_item
                stream = bytearray(checked.pdu)
            elif kind == 0x03:
                self.rejection = rejection_codes(raw)
                if not is_defined_rejection(self.rejection):
                    raise MalformedPdu("undefined rejection codes")
            elif kind == 0x07 and len(raw) >= 10 and self.describe() is None:
                self.abort = (raw[8], raw[9])
            pdu, event = decode(stream)
            if kind != 0x04:
                # pynetdicom converts it later in its state machine, where an error kills its
                # thread and the caller waits out the ACSE timeout; here it aborts at once.
                pdu.to_primitive()
        except Exception as exc:
            if (kind == 0x03 and not self.received) or (kind == 0x07 and self.abort is not None):
                pass  # reported as the rejection or abort it is, with its raw codes
            elif isinstance(exc, MalformedPdu):
                self._fault(f"sent {pdu_name(kind)} that is malformed: {exc}")
            else:
                self._fault(
                    f"sent {pdu_name(kind)} that does not decode "
                    f"({_exception_name(exc)} in pynetdicom)"
                )
            raise
        if not self.received and kind not in (0x02, 0x03, 0x07):
            self._fault(f"sent {pdu_name(kind)} instead of an A-ASSOCIATE response")
        elif self.received and kind in (0x01, 0x02, 0x03):
            self._fault(f"sent {pdu_name(kind)} on an established association")
        self.received.append(kind)  # pynetdicom aborts on an unexpected one
        return pdu, event
