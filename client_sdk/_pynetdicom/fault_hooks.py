"""Hooks on one requestor association that show :class:`~client_sdk._association.peer_faults.
PeerFaults` what pynetdicom does with the peer's PDUs, and the ways to end what pynetdicom
leaves running when a peer misbehaves.

pynetdicom decodes the peer's PDUs in its reactor thread and, when something goes wrong, only
logs it; a PDU that decodes but cannot become a primitive raises in its state machine and kills
its thread. The hooks replace three methods on this association's own objects (nothing
process-wide changes), each listed in ``SEAMS``:

- ``DULServiceProvider._decode_pdu``: the recorder's strict checks, then a trial conversion to a
  primitive, so a bad PDU fails where pynetdicom handles decode errors (an A-ABORT, reported at
  once) and not in its state machine;
- ``StateMachine.do_action``: wake a DIMSE wait when pynetdicom aborts (AA-8), drop a local
  request that races that abort instead of raising in pynetdicom's thread;
- ``DIMSEServiceProvider.receive_primitive``: a command set pynetdicom cannot read aborts.

The socket's reads reach the recorder through ``requestor``'s own association socket.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol

from pynetdicom.association import Association
from pynetdicom.fsm import TRANSITION_TABLE

from client_sdk._wire.constants import P_DATA_TF

# Its 0.4 name: logging configurations may name it.
log = logging.getLogger("client_sdk.peer_faults")

Decode = Callable[[bytearray], Any]

_OUR_ABORT = "Evt15"  # A-ABORT request primitive from the local user
_ABORTED = "Sta13"  # awaiting the transport to close, after an A-ABORT
_CLOSED_STATES = ("Sta1", _ABORTED)  # idle, or waiting for the connection to close
_DECODE_FAILED = "Evt19"  # unrecognised or invalid PDU received


class FaultListener(Protocol):
    def decode(self, decode: Decode, stream: bytearray) -> Any:
        """Check ``stream`` (a whole PDU), then decode it with ``decode``."""

    def provider_aborted(self) -> None:
        """pynetdicom aborted on its own (AA-8) after the last PDU."""

    def undecodable_dimse(self, exc: Exception) -> None:
        """pynetdicom could not read a DIMSE message's command set."""


def hook_association(assoc: Association, listener: FaultListener) -> None:
    """Route ``assoc``'s PDU decoding, state machine and DIMSE reception through
    ``listener``; call from its ``EVT_CONN_OPEN`` handler, before the A-ASSOCIATE-RQ is sent."""
    dul = assoc.dul
    decode = dul._decode_pdu

    def decode_and_convert(stream: bytearray) -> Any:
        pdu, event = decode(stream)
        if stream[0] != P_DATA_TF:
            # pynetdicom converts it later in its state machine, where an error kills its
            # thread and the caller waits out the ACSE timeout; here it aborts at once.
            pdu.to_primitive()
        return pdu, event

    dul._decode_pdu = lambda stream: listener.decode(decode_and_convert, stream)  # type: ignore[method-assign,assignment]
    machine = dul.state_machine
    do_action = machine.do_action

    def act(event: str) -> None:
        if (event, machine.current_state) not in TRANSITION_TABLE:
            # Our own request (an A-ABORT, say) racing the peer's fault: pynetdicom already
            # aborted (Sta13) and would raise here, killing its thread. Nothing to add.
            log.debug("dropped %s in %s", event, machine.current_state)
            return
        do_action(event)
        if machine.current_state == _ABORTED and event != _OUR_ABORT:
            # Not our own A-ABORT: pynetdicom aborted on a PDU it did not expect or could not
            # decode (AA-8), and leaves a C-ECHO/C-STORE waiting for its response until the
            # DIMSE timeout: wake it now.
            listener.provider_aborted()
            wake_dimse_wait(assoc)

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
            listener.undecodable_dimse(exc)
            dul.event_queue.put(_DECODE_FAILED)

    dimse.receive_primitive = received  # type: ignore[method-assign]


def wake_dimse_wait(assoc: Association) -> None:
    """Wake a ``send_*()`` waiting for its response: pynetdicom leaves it waiting until the
    DIMSE timeout after an abort it made, or one from another thread."""
    assoc.dimse.msg_queue.put((None, None))


def connection_over(assoc: Association) -> bool:
    """pynetdicom's state machine is idle or waiting for the connection to close, whatever
    ``assoc.is_established`` still says."""
    return bool(assoc.dul.state_machine.current_state in _CLOSED_STATES)


def sent_abort(assoc: Association) -> bool:
    """pynetdicom aborted the association itself (a response that decodes but does not fit the
    request it answers)."""
    return bool(getattr(assoc, "_sent_abort", False))


def stop_association(assoc: Association, timeout: float) -> None:
    """Stop ``assoc``'s reactor and close its socket. pynetdicom stops the reactor of a failed
    negotiation at once, also while it waits for the peer to close the connection after
    aborting on a bad PDU (Sta13), and then nobody closes the socket."""
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
