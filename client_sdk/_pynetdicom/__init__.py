"""The one seam to pynetdicom's internals: every private name, internal object, monkeypatch,
override of a private method and dependence on its log text lives in this package, and nowhere
else in the SDK (``scripts/architecture_check.py`` fails otherwise).

``SEAMS`` lists each thing the package relies on: the pynetdicom name, where it is used, and
why. :func:`check_seams` checks each against the installed pynetdicom (it exists, with the
parameters we call or override it with); where our code replaces a method's body or relies on
what that body does, the body's hash is pinned, so any change upstream fails
``tests/test_seams.py`` and is read before the ``<3.1`` pin moves.

- ``requestor``: the AE and the association socket of the client (connect and TLS errors, TCP
  options, the peer-fault reader);
- ``reactor_race``: DIMSE responses and wakes the reactor would steal from ``send_*()``;
- ``fault_hooks``: what pynetdicom does with a faulty peer's PDUs, and ending what it leaves;
- ``log_redaction``: secrets out of pynetdicom's log records and PDU dumps;
- ``encoding``: the length pynetdicom encodes a role selection item with;
- ``context_copies``: proposed contexts copied, not validated again;
- ``encoded_store``: a C-STORE of a data set as it was read from its file;
- ``pdata_writer``: a C-STORE-RQ's PDUs, packed by the SDK, written to the socket at once;
- ``missing_context``: told when an operation finds no accepted presentation context;
- ``negotiation``: the peer's answer applied without validating every UID again;
- ``release_wait``: the end of an association checked every 0.5 ms, not 10 ms;
- ``testing_*``: the embedded PACS (its ACSE, TLS handshakes, shutdown, context copies, PDUs).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Seam:
    """One pynetdicom name the SDK relies on.

    ``name``: dotted from ``pynetdicom``; for an attribute set in ``__init__``, ``on`` names the
    class whose instances carry it. ``params``: the parameters (names and defaults) of a method
    we call, wrap or override. ``body``: the SHA-256 of its source, when we replace that body or
    rely on what it does. ``text``: strings its module's source must hold (log text we match).
    """

    name: str
    used_in: str
    why: str
    params: str | None = None
    body: str | None = None
    on: str | None = None
    text: tuple[str, ...] = ()


_R = "requestor"
_F = "fault_hooks"
_DIMSE = "DIMSEServiceProvider"
_DUL = "DULServiceProvider"
SEAMS: tuple[Seam, ...] = (
    Seam("pynetdicom.transport.AssociationSocket", _R, "subclassed: the client's socket"),
    Seam("pynetdicom.transport.AddressInformation", _R, "the address the socket is bound to"),
    Seam("pynetdicom.transport.T_CONNECT", _R, "what AssociationSocket.connect() takes"),
    Seam(
        "pynetdicom.transport.AssociationSocket._create_socket",
        _R,
        "called, and its socket re-wrapped as a RecordingSocket (connect errors, address check)",
        params="(self, address)",
    ),
    Seam(
        "pynetdicom.transport.AssociationSocket.connect",
        _R,
        "wrapped: TLS is set up first, so the TLS socket records its handshake error; relies on "
        "connect() wrapping only with tls_args and clearing the socket timeout once connected",
        params="(self, primitive)",
        body="aeeeae413bd339dcc18230a6c0926993a824fd6ec31479febfbe21734911482f",
    ),
    Seam(
        "pynetdicom.transport.AssociationSocket.recv",
        _R,
        "wrapped to record the first bytes and peer faults; relies on a short read meaning EOF",
        params="(self, nr_bytes)",
        body="6bc20a33b1b7cfe76d4ad4407ca242563bc6206fde4b4e1cf7a2fbb1f11d621d",
    ),
    Seam(
        "pynetdicom.transport.AssociationSocket._shutdown_socket",
        _R,
        "replaced: upstream skips close() when shutdown() raises, leaking a descriptor per "
        "refused connect",
        params="(self)",
        body="e2b2628faa81a578480fd7963e54c64b5a97f0f7e834411b980b1729d1472306",
    ),
    Seam("_is_connected", _R, "read after connect()", on="AssociationSocket"),
    Seam(
        "pynetdicom.ae.ApplicationEntity._create_socket",
        _R,
        "replaced (its three lines) to create the traced socket and fix the reactor race",
        params="(self, assoc, address, tls_args)",
        body="f56bca8888e1ce9f3d64f30608db5d89f003b0b1b31106d3178a550871a4030f",
    ),
    Seam(
        "pynetdicom.association.Association._serve_request",
        "reactor_race",
        "replaced per association: a response that reached the reactor goes back to send_*()",
        params="(self, msg, context_id)",
    ),
    Seam(
        "pynetdicom.dimse.DIMSEServiceProvider.get_msg",
        "reactor_race",
        "replaced per association: the reactor's read puts back a wake meant for send_*()",
        params="(self, block=False)",
        body="890e3e04283f5aeb756236f1a4dd35d3a10bbdd52f3efa3f3950c01f47bd2b34",
    ),
    Seam(
        "pynetdicom.association.Association._run_reactor",
        "reactor_race",
        "the race: the reactor sets _is_paused before it waits on _reactor_checkpoint",
        params="(self)",
        body="f28838c5559e462a563750cfc9f3790027f4bb7e2223baf42c9f5d682c359dee",
    ),
    Seam("_reactor_checkpoint", "reactor_race", "cleared while send_*() waits", on="Association"),
    Seam("_sent_abort", _F, "pynetdicom aborted on an invalid response", on="Association"),
    Seam(
        "dul",
        f"{_F}, pdata_writer",
        "the association's DUL (decoding, state machine, socket)",
        on="Association",
    ),
    Seam("dimse", _F, "the association's DIMSE provider (its queue)", on="Association"),
    Seam("acse", "testing_acse", "replaced by the embedded PACS's ACSE", on="Association"),
    Seam(
        "msg_queue", f"{_F}, reactor_race", "a waiting send_*() is woken", on="DIMSEServiceProvider"
    ),
    Seam(
        "pynetdicom.dul.DULServiceProvider._decode_pdu",
        _F,
        "wrapped per association: strict checks and a trial conversion before its state machine",
        params="(self, bytestream)",
    ),
    Seam("state_machine", f"{_F}, testing_shutdown, pdata_writer", "its state", on=_DUL),
    Seam("event_queue", _F, "Evt19 for an undecodable DIMSE message", on=_DUL),
    Seam(
        "to_user_queue", "testing_shutdown", "None ends a waiting thread", on="DULServiceProvider"
    ),
    Seam(
        "pynetdicom.dul.DULServiceProvider.kill_dul",
        f"{_F}, testing_shutdown",
        "stops the reactor of an association that is over",
        params="(self)",
    ),
    Seam(
        "pynetdicom.fsm.StateMachine.do_action",
        _F,
        "wrapped per association: a request racing pynetdicom's own abort is dropped, and a "
        "DIMSE wait woken when it aborts",
        params="(self, event)",
    ),
    Seam(
        "current_state",
        f"{_F}, testing_shutdown, pdata_writer",
        "Sta1, Sta2, Sta13; Sta6",
        on="StateMachine",
    ),
    Seam("pynetdicom.fsm.TRANSITION_TABLE", _F, "which events a state accepts"),
    Seam(
        "pynetdicom.dimse.DIMSEServiceProvider.receive_primitive",
        _F,
        "wrapped per association: a command set pynetdicom cannot read aborts (Evt19)",
        params="(self, primitive)",
    ),
    Seam(
        "pynetdicom.pdu_primitives.SCP_SCU_RoleSelectionNegotiation.from_primitive",
        "encoding",
        "its item (pynetdicom.pdu_items) encoded, for the size budget",
        params="(self)",
    ),
    Seam(
        "pynetdicom._handlers",
        "log_redaction",
        "the logger of its A-ASSOCIATE dumps, the password line and the debug_data frame",
        text=("Password:", "DEBUG - ENCODED PDU", "END ENCODED PDU"),
    ),
    Seam("pynetdicom.acse.ACSE", "testing_acse", "subclassed: the embedded PACS's ACSE"),
    Seam(
        "pynetdicom.acse.ACSE._negotiate_as_acceptor",
        "testing_acse",
        "wrapped: the called AE title and a required identity checked first; the stock "
        "rejection (2, 2, 1) it sends is replaced",
        params="(self)",
        body="fffd360957c42a8ed89284cf1b1b734527c9be60253950777a0330c0f2be692e",
    ),
    Seam(
        "pynetdicom.acse.ACSE._check_user_identity",
        "testing_acse",
        "re-implemented: a response for every identity type, not only 3-5",
        params="(self)",
        body="a890d3db8e5bfdaf7287763c60bc0e81529024fd048d7291a9653ec739cf9f0f",
    ),
    Seam(
        "pynetdicom.acse.ACSE.send_reject",
        "testing_acse",
        "overridden to send the conformant rejection",
        params="(self, result, source, diagnostic)",
    ),
    Seam(
        "pynetdicom.association.Association._abort_nonblocking",
        "testing_acse",
        "swapped in while the identity handler runs, as the stock code does",
        params="(self, block=False)",
    ),
    Seam(
        "pynetdicom.association.Association._abort_blocking",
        "testing_acse",
        "swapped back afterwards",
        params="(self, block=True)",
    ),
    Seam(
        "pynetdicom.transport.AssociationServer.get_request",
        "testing_handshake",
        "replaced per server: each TLS handshake bounded, and cut on stop()",
        params="(self)",
        body="925a4f3a3042f6e4b944505d06dc19c41e10ff7dec5385c794d62d31fd000300",
    ),
    Seam("pynetdicom.transport.ThreadedAssociationServer", "testing_server", "the PACS's server"),
    Seam(
        "_transfer_syntax",
        "testing_contexts, context_copies",
        "copied by hand",
        on="PresentationContext",
    ),
    Seam(
        "pynetdicom.association.Association.send_c_store",
        "encoded_store",
        "its end (pause the reactor, send, wait, resume, no response, status) is mirrored to "
        "send a data set as it was read",
        params="(self, dataset, msg_id=1, priority=2, originator_aet=None, originator_id=None)",
        body="fa5a8127f349f8e75698f4cdf2b4dbe3f38e3e9e320a8cf45c15bf8333f9c283",
    ),
    Seam("_is_paused", "encoded_store", "the reactor paused for send_*()", on="Association"),
    Seam("_reactor_checkpoint", "encoded_store", "cleared while it waits", on="Association"),
    Seam(
        "pynetdicom.association.Association._handle_no_response",
        "encoded_store",
        "called when no C-STORE response came (aborts)",
        params="(self)",
    ),
    Seam(
        "pynetdicom.association.Association._check_received_status",
        "encoded_store",
        "the C-STORE response's status, as send_c_store returns it",
        params="(self, rsp)",
    ),
    Seam(
        "pynetdicom.dimse.DIMSEServiceProvider.send_msg",
        "pdata_writer",
        "replaced for a C-STORE-RQ: the same PDUs, packed directly and written at once "
        "(tests/test_command_set_encoding.py compares the bytes)",
        params="(self, primitive, context_id)",
        body="a839cf2fb46976d9da29cf06fea41c04416b38d14fab612af12e5d869bd5b3f0",
    ),
    Seam(
        "pynetdicom.dimse_messages.DIMSEMessage.primitive_to_message",
        "pdata_writer",
        "the command set packed instead (its elements, Command Data Set Type 0x0001)",
        params="(self, primitive)",
        body="71fd61d5997f0f0c38abc2d383c4c6457f9c770468288aab04eb82a04d00ce00",
    ),
    Seam(
        "pynetdicom.dimse_messages.DIMSEMessage.encode_msg",
        "pdata_writer",
        "its fragmentation done instead (one PDV per PDU, max PDU length - 6 a fragment)",
        params="(self, context_id, max_pdu_length)",
        body="73000c902c52832dab302ddb3bc274ea93d205a810a197225dd87d4c1212ba57",
    ),
    Seam(
        "pynetdicom.dimse.DIMSEServiceProvider.maximum_pdu_size",
        "pdata_writer",
        "the peer's maximum PDU length, read as it does (assoc.acceptor.maximum_length)",
    ),
    Seam(
        "pynetdicom.transport.AssociationSocket.send",
        "pdata_writer, requestor",
        "called with the PDUs (all written, or Evt17 queued); wrapped with the write lock",
        params="(self, bytestream)",
        body="1ea8158c0b51facac667a0340b93f495b947fdc4f55663946fb30d456c804e09",
    ),
    Seam(
        "pynetdicom.dul.DULServiceProvider.send_pdu",
        "pdata_writer",
        "the fragments as P-DATA primitives where they cannot be written at once (TLS)",
        params="(self, primitive)",
    ),
    Seam("socket", "pdata_writer", "the association socket written to", on=_DUL),
    Seam("to_provider_queue", "pdata_writer", "empty: nothing before ours", on=_DUL),
    Seam(
        "pynetdicom._handlers._send_c_store_rq",
        "encoded_store",
        "the standard EVT_DIMSE_SENT handler's part for a C-STORE-RQ: it only logs (INFO and "
        "DEBUG), so the message skips it when that log is off",
        body="ab922f276eb8b39f4b4c5990f8251ca7ef8d6897fb7220b189c68cfdb905fa46",
    ),
    Seam(
        "pynetdicom._handlers.standard_dimse_recv_handler",
        "encoded_store",
        "unbound from an association that stores while pynetdicom's log is off, bound again "
        "when it is on: it only logs",
    ),
    Seam(
        "pynetdicom._handlers._recv_c_store_rsp",
        "encoded_store",
        "its part for a C-STORE-RSP: reads the command set to log it (INFO and DEBUG), nothing "
        "else",
        body="cad908c96f871f1b6f160e131a6c3d427839473dee7d26402d5678cb341a922c",
    ),
    Seam(
        "pynetdicom._handlers._send_data_tf",
        "encoded_store",
        "the standard EVT_PDU_SENT handler's part for a P-DATA-TF: does nothing",
        body="055235f9832c3a6b1c4b779b4bcc4084c9b6f65a279bac9995d7a31ae32414dd",
    ),
    Seam("pynetdicom.pdu.PDU.pdu_type", "testing_server", "which PDU EVT_PDU_RECV carries"),
    Seam(
        "pynetdicom.association.Association._get_valid_context",
        "missing_context",
        "wrapped per association: every send_c_*() looks its context up here, the abstract "
        "syntax first, and a ValueError means none was accepted",
        params="(self, ab_syntax, tr_syntax, role=None, context_id=None, allow_conversion=True)",
        body="117a52c2ae6720e0bc934266b1ef0aede4366c3de895b16f0c773c3a5076442d",
    ),
    Seam(
        "pynetdicom.presentation.negotiate_as_requestor",
        "negotiation",
        "mirrored line for line (validated UIDs copied, not validated again)",
        params="(rq_contexts, ac_contexts, roles=None)",
        body="4a0668500d9c3a2d4a16b685be0013321631c60a0681851a41bed99ff6827214",
    ),
    Seam("pynetdicom.acse.negotiate_as_requestor", "negotiation", "the name replaced"),
    Seam(
        "pynetdicom.association.Association.kill",
        "release_wait",
        "mirrored per association, checking every 0.5 ms instead of 10 ms",
        params="(self)",
        body="8f9713666a7f4cffd840899f023090e9786668945a7c844f99d7a834077c3972",
    ),
    Seam(
        "pynetdicom.dul.DULServiceProvider.stop_dul",
        "release_wait",
        "called until it returns True (the DUL in Sta1, its thread ended)",
        params="(self)",
        body="28a7e0be126e7b306369cc1b131daec8e907d21d0f5692930133b6599b8c6e5f",
    ),
    Seam("_kill", "release_wait", "set by kill()", on="Association"),
    Seam(
        "pynetdicom.acse.ACSE._negotiate_as_requestor",
        "negotiation",
        "looks negotiate_as_requestor up in its module when an A-ASSOCIATE-AC arrives",
        params="(self)",
        body="507959152c5896c634fad04f075f213f281840809017c48844f401c66c410a92",
    ),
)


def _params(target: Any) -> str:
    parts = []
    for parameter in inspect.signature(target).parameters.values():
        default = parameter.default
        shown = "" if default is inspect.Parameter.empty else f"={default!r}"
        parts.append(f"{parameter.name}{shown}")
    return f"({', '.join(parts)})"


def _resolve(name: str) -> Any:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for attribute in parts[end:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(name)


def _instances() -> dict[str, Any]:
    """One of each class whose ``__init__`` sets the attributes we use (no network)."""
    import socket

    from pynetdicom import AE, build_context
    from pynetdicom.association import Association
    from pynetdicom.transport import AssociationSocket

    assoc = Association(AE(), "requestor")
    plain = socket.socket()
    try:
        association_socket = AssociationSocket(assoc, client_socket=plain)
    finally:
        plain.close()
    return {
        "Association": assoc,
        "AssociationSocket": association_socket,
        "DULServiceProvider": assoc.dul,
        "StateMachine": assoc.dul.state_machine,
        "DIMSEServiceProvider": assoc.dimse,
        "PresentationContext": build_context("1.2.840.10008.1.1"),
    }


def check_seams() -> list[str]:
    """What no longer holds on the installed pynetdicom: one line per seam, empty when all do."""
    problems: list[str] = []
    instances = _instances()
    for seam in SEAMS:
        where = f"{seam.name} (used in client_sdk._pynetdicom.{seam.used_in})"
        if seam.on is not None:
            if not hasattr(instances[seam.on], seam.name):
                problems.append(f"{where}: no attribute {seam.name} on a {seam.on}")
            continue
        try:
            target = _resolve(seam.name)
        except (ImportError, AttributeError) as exc:
            problems.append(f"{where}: gone ({type(exc).__name__}: {exc})")
            continue
        if seam.params is not None and _params(target) != seam.params:
            problems.append(f"{where}: parameters {_params(target)}, expected {seam.params}")
        if seam.body is not None:
            digest = hashlib.sha256(inspect.getsource(target).encode()).hexdigest()
            if digest != seam.body:
                problems.append(f"{where}: its source changed (sha256 {digest}); read it again")
        source = inspect.getsource(target) if seam.text else ""
        problems += [
            f"{where}: no longer holds {text!r}" for text in seam.text if text not in source
        ]
    return problems
