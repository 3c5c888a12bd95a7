"""A scripted, possibly hostile DICOM peer: a raw-socket server on 127.0.0.1.

It reads the client's A-ASSOCIATE-RQ and then runs a script that answers with whatever bytes the
test chooses: a well-formed A-ASSOCIATE-AC built by the small PDU builders below, a malformed one,
an A-ASSOCIATE-RJ, an A-ABORT, half a PDU, or silence. Everything is bounded: every socket has a
timeout, a stalling script waits on an event that ``__exit__`` sets, and ``__exit__`` closes every
socket and joins every thread.

Builders follow PS3.8 section 9.3 (all lengths big-endian).
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

from pydicom import Dataset
from pynetdicom.dimse_messages import C_ECHO_RSP, C_STORE_RSP
from pynetdicom.dimse_primitives import C_ECHO, C_STORE
from pynetdicom.dsutils import decode
from pynetdicom.pdu import A_ASSOCIATE_RQ, P_DATA_TF

from tests.conftest import poll
from tests.wire import read_pdu

APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = b"1.2.840.10008.1.2"
IMPLEMENTATION_UID = b"1.2.826.0.1.3680043.9.3811.99"
SOCKET_TIMEOUT = 10.0

# --- PDU and item builders ---------------------------------------------------------------------


def item(kind: int, body: bytes, *, length: int | None = None) -> bytes:
    """An item or sub-item: type, reserved, 16-bit length (``length`` overrides it), body."""
    return struct.pack(">BBH", kind, 0, len(body) if length is None else length) + body


def pdu(kind: int, body: bytes, *, length: int | None = None) -> bytes:
    """A PDU: type, reserved, 32-bit length (``length`` overrides it), body."""
    return struct.pack(">BBL", kind, 0, len(body) if length is None else length) + body


def max_length_item(maximum: int = 16384) -> bytes:
    return item(0x51, struct.pack(">L", maximum))


def implementation_uid_item(uid: bytes = IMPLEMENTATION_UID) -> bytes:
    return item(0x52, uid)


def identity_ac(
    response: bytes = b"",
    *,
    kind: int = 0x59,
    response_length: int | None = None,
    item_length: int | None = None,
) -> bytes:
    """A user identity accept sub-item (59H); ``kind=0x58`` is what DCMTK <= 3.6.1 sent.
    The two lengths may be overridden to lie."""
    declared = len(response) if response_length is None else response_length
    body = struct.pack(">H", declared) + response
    return item(kind, body, length=item_length)


def user_information(*sub_items: bytes, length: int | None = None) -> bytes:
    """A User Information item (50H): Maximum Length, Implementation Class UID, then
    ``sub_items`` as given (raw bytes, so they may be malformed)."""
    body = max_length_item() + implementation_uid_item() + b"".join(sub_items)
    return item(0x50, body, length=length)


def _ae_title(title: str) -> bytes:
    return title.encode("ascii").ljust(16)


@dataclass(frozen=True)
class AssociateRequest:
    """What the client asked for, parsed from its A-ASSOCIATE-RQ."""

    raw: bytes
    called_ae_title: str
    calling_ae_title: str
    context_ids: tuple[int, ...]
    identity_type: int | None
    response_requested: bool

    @classmethod
    def parse(cls, raw: bytes) -> AssociateRequest:
        rq = A_ASSOCIATE_RQ()
        rq.decode(raw)
        identity = rq.user_information.user_identity if rq.user_information else None
        return cls(
            raw=raw,
            called_ae_title=rq.called_ae_title.strip(),
            calling_ae_title=rq.calling_ae_title.strip(),
            context_ids=tuple(int(cx.context_id) for cx in rq.presentation_context),
            identity_type=getattr(identity, "user_identity_type", None),
            response_requested=bool(getattr(identity, "positive_response_requested", False)),
        )


def presentation_results(rq: AssociateRequest, result: int = 0) -> bytes:
    """One Presentation Context AC item (21H) per proposed context: ``result`` (0 acceptance)
    with Implicit VR Little Endian."""
    return b"".join(
        item(0x21, bytes([cid, 0, result, 0]) + item(0x40, IMPLICIT_VR_LITTLE_ENDIAN))
        for cid in rq.context_ids
    )


def associate_ac(
    rq: AssociateRequest,
    *sub_items: bytes,
    user_info: bytes | None = None,
    contexts: bytes | None = None,
) -> bytes:
    """An A-ASSOCIATE-AC echoing the request's AE titles and accepting all its contexts, with a
    User Information item holding ``sub_items`` (or ``user_info`` verbatim)."""
    fixed = (
        struct.pack(">HH", 1, 0)
        + _ae_title(rq.called_ae_title)
        + _ae_title(rq.calling_ae_title)
        + bytes(32)
    )
    body = (
        fixed
        + item(0x10, APPLICATION_CONTEXT)
        + (presentation_results(rq) if contexts is None else contexts)
        + (user_information(*sub_items) if user_info is None else user_info)
    )
    return pdu(0x02, body)


def associate_rj(result: int, source: int, reason: int) -> bytes:
    return pdu(0x03, bytes([0, result, source, reason]))


def a_abort(source: int = 2, reason: int = 0) -> bytes:
    return pdu(0x07, bytes([0, 0, source, reason]))


def release_rp() -> bytes:
    return pdu(0x06, bytes(4))


# --- DIMSE -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimseRequest:
    """A DIMSE request the client sent: its command set and presentation context."""

    context_id: int
    command: Dataset


def _fragments(raw: bytes) -> Iterable[tuple[int, int, bytes]]:
    """(context ID, message control header, fragment) of each PDV in a P-DATA-TF PDU."""
    pos = 6
    while pos + 6 <= len(raw):
        length = int.from_bytes(raw[pos : pos + 4], "big")
        yield raw[pos + 4], raw[pos + 5], raw[pos + 6 : pos + 4 + length]
        pos += 4 + length


def dimse_response(request: DimseRequest, status: int = 0x0000) -> bytes:
    """The C-ECHO-RSP or C-STORE-RSP to ``request``, as P-DATA-TF PDUs."""
    command = request.command
    primitive: C_ECHO | C_STORE
    if command.CommandField == 0x0030:
        primitive, message = C_ECHO(), C_ECHO_RSP()
    else:
        primitive, message = C_STORE(), C_STORE_RSP()
        primitive.AffectedSOPInstanceUID = command.AffectedSOPInstanceUID
    primitive.MessageIDBeingRespondedTo = command.MessageID
    primitive.AffectedSOPClassUID = command.AffectedSOPClassUID
    primitive.Status = status
    message.primitive_to_message(primitive)
    out = b""
    for p_data in message.encode_msg(request.context_id, 16384):
        encoded = P_DATA_TF()
        encoded.from_primitive(p_data)
        out += encoded.encode()
    return out


# --- The scripted peer -------------------------------------------------------------------------


class PeerConnection:
    """One accepted connection, handed to the script after the A-ASSOCIATE-RQ was read."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self._stop = stop
        # What a DICOM acceptor (pynetdicom's) does with a first PDU that is not an
        # A-ASSOCIATE-RQ, such as the SDK's TLS probe: close at once. Reading on would wait for
        # the 16 MB a TLS hello's bytes read as a PDU length, and the probe for its timeout.
        first = sock.recv(1, socket.MSG_PEEK)
        if first != b"\x01":
            raise ConnectionError(f"not an A-ASSOCIATE-RQ: first byte {first!r}, closed")
        self.rq = AssociateRequest.parse(read_pdu(sock))
        self.received: list[bytes] = []  # PDUs read after the A-ASSOCIATE-RQ

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_pdu(self) -> bytes:
        raw = read_pdu(self.sock)
        self.received.append(raw)
        return raw

    def read_dimse_request(self) -> DimseRequest:
        """Read P-DATA-TF PDUs until a whole DIMSE request (command and any data set) arrived."""
        command = b""
        context_id = 0
        command_done = data_done = False
        needs_data = True
        while not (command_done and (data_done or not needs_data)):
            raw = self.read_pdu()
            if raw[0] != 0x04:
                raise ConnectionError(f"expected P-DATA-TF, got PDU type 0x{raw[0]:02X}")
            for cid, header, fragment in _fragments(raw):
                context_id = cid
                if header & 0x01:
                    command += fragment
                    if header & 0x02:
                        command_done = True
                        ds = decode(io.BytesIO(command), True, True)
                        needs_data = int(ds.CommandDataSetType) != 0x0101
                elif header & 0x02:
                    data_done = True
        dataset = decode(io.BytesIO(command), True, True)
        return DimseRequest(context_id, dataset)

    def stall(self, limit: float = SOCKET_TIMEOUT) -> None:
        """Say nothing more until the test ends (or ``limit`` seconds)."""
        self._stop.wait(limit)

    def wait_closed(self, limit: float = SOCKET_TIMEOUT) -> bytes:
        """Read until the client closes the connection; everything read."""
        self.sock.settimeout(limit)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(65536):
                data += chunk
        return data


Script = Callable[[PeerConnection], None]


@dataclass
class Run:
    connection: PeerConnection | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class ScriptedPeer:
    """``with ScriptedPeer(script) as peer:`` serves up to ``connections`` clients, one thread
    each: read the A-ASSOCIATE-RQ, run ``script``, close. ``peer.port`` to connect to;
    ``peer.runs`` what each connection saw; a script error is kept, never raised in a thread."""

    def __init__(self, script: Script, *, connections: int = 1) -> None:
        self._script = script
        self._limit = connections
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self.runs: list[Run] = []
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="hostile-peer", daemon=True)

    def __enter__(self) -> ScriptedPeer:
        self._acceptor.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(SOCKET_TIMEOUT)
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a script blocked reading
            sock.close()
        for thread in self._threads:
            thread.join(SOCKET_TIMEOUT)
        self._listener.close()

    @property
    def rq(self) -> AssociateRequest:
        """The A-ASSOCIATE-RQ of the first connection."""
        connection = self.runs[0].connection if self.runs else None
        assert connection is not None, "no A-ASSOCIATE-RQ was received"
        return connection.rq

    def wait_done(self, timeout: float = SOCKET_TIMEOUT) -> Run:
        """The first connection's run, once its script has finished."""
        poll(
            lambda: bool(self.runs) and self.runs[0].done.is_set(),
            timeout=timeout,
            what="the scripted peer to finish",
        )
        return self.runs[0]

    def _accept(self) -> None:
        while not self._stop.is_set() and len(self.runs) < self._limit:
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(SOCKET_TIMEOUT)
            self._sockets.append(sock)
            run = Run()
            self.runs.append(run)
            thread = threading.Thread(target=self._serve, args=(sock, run), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, run: Run) -> None:
        try:
            run.connection = PeerConnection(sock, self._stop)
            self._script(run.connection)
        except BaseException as exc:  # kept for the test to look at, never raised in a thread
            run.error = exc
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            run.done.set()


# --- Ready-made scripts ------------------------------------------------------------------------


def answer(make: Callable[[AssociateRequest], bytes], *, then: str = "close") -> Script:
    """Answer the A-ASSOCIATE-RQ with ``make(rq)``; then ``"close"``, ``"stall"`` or ``"drain"``
    (read until the client closes)."""

    def script(conn: PeerConnection) -> None:
        conn.send(make(conn.rq))
        if then == "stall":
            conn.stall()
        elif then == "drain":
            conn.wait_closed()

    return script


def accept_then(after: Callable[[PeerConnection], None], *sub_items: bytes) -> Script:
    """Accept with a well-formed AC (``sub_items`` in its User Information), then ``after``."""

    def script(conn: PeerConnection) -> None:
        conn.send(associate_ac(conn.rq, *sub_items))
        after(conn)

    return script
