"""The C-STORE-RQ the SDK packs itself (client_sdk._wire.c_store_request, issue 16): its P-DATA-TF
PDUs are byte for byte pynetdicom's for the same message, whatever the maximum PDU length, data
set and UIDs; and on a real association the peer gets the file's data set exactly as it is on
disk, with a new Message ID per request."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom._handlers import standard_dimse_recv_handler
from pynetdicom.association import Association
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA

from client_sdk import Client, Peer, TlsConfig
from client_sdk._pynetdicom.encoded_store import next_message_id
from client_sdk._wire.c_store_request import command_set, fragments, p_data_tf
from client_sdk.testing import CT_IMAGE_STORAGE, EmbeddedPacs, ct_dataset
from tests.dcmtk_peers import DcmtkPeers, files_in
from tests.timeouts import LOCAL
from tests.tls_certs import CertificateFiles

CT = CT_IMAGE_STORAGE  # 25 characters: padded
EVEN_UID = "1.2.826.0.1.3680043.8.498.10"  # 28 characters: not padded
LONGEST_UID = "1." + "2" * 62  # 64 characters


def pynetdicom_pdus(
    context_id: int,
    max_pdu: int,
    sop_class: str,
    sop_instance: str,
    message_id: int,
    data: bytes,
    *,
    priority: int = 2,
    originator: tuple[str, int] | None = None,
) -> bytes:
    """What pynetdicom sends for this C-STORE-RQ: its message, fragmented and encoded as its
    DUL thread does (DIMSEServiceProvider.send_msg, then DT-1 for each P-DATA)."""
    req = C_STORE()
    req.MessageID = message_id
    req.Priority = priority
    req.AffectedSOPClassUID = sop_class
    req.AffectedSOPInstanceUID = sop_instance
    if originator is not None:
        req.MoveOriginatorApplicationEntityTitle, req.MoveOriginatorMessageID = originator
    req.DataSet = BytesIO(data)
    message = C_STORE_RQ()
    message.primitive_to_message(req)
    return b"".join(P_DATA_TF(p).encode() for p in message.encode_msg(context_id, max_pdu))


def ours(
    context_id: int,
    max_pdu: int,
    sop_class: str,
    sop_instance: str,
    message_id: int,
    data: bytes,
    **options: Any,
) -> bytes:
    command = command_set(sop_class, sop_instance, message_id, **options)
    return p_data_tf(context_id, fragments(command, memoryview(data), max_pdu))


def data_set(size: int) -> bytes:
    return bytes(n * 7 % 251 for n in range(size))


# (max PDU length, data set size): no limit, the smallest limits (1 and 2 bytes a fragment),
# limits that cut the command set itself, odd ones, pynetdicom's and DCMTK's defaults; data
# sets empty, of 1 byte, odd-sized, an exact multiple of a fragment, and one byte over it.
CASES = [
    (0, 1001),
    (0, 0),
    (7, 9),
    (8, 1),
    (13, 31),
    (50, 0),
    (101, 1001),
    (1001, 1001),
    (1001, 995 * 3),
    (1001, 995 * 3 + 1),
    (16382, 131_073),
    (16384, 16378),
    (16384, 16379),
]


@pytest.mark.parametrize(("max_pdu", "size"), CASES, ids=[f"pdu{m}-data{s}" for m, s in CASES])
@pytest.mark.parametrize(
    ("sop_class", "sop_instance"),
    [(CT, EVEN_UID), (EVEN_UID, CT), (LONGEST_UID, "1.2.3")],
    ids=["odd-class", "odd-instance", "longest"],
)
def test_pdus_equal_pynetdicoms(max_pdu: int, size: int, sop_class: str, sop_instance: str) -> None:
    data = data_set(size)
    for context_id, message_id in ((1, 1), (3, 2), (255, 65535), (127, 0)):
        expected = pynetdicom_pdus(context_id, max_pdu, sop_class, sop_instance, message_id, data)
        got = ours(context_id, max_pdu, sop_class, sop_instance, message_id, data)
        assert got == expected, (context_id, message_id)


@pytest.mark.parametrize("priority", [0, 1, 2])
@pytest.mark.parametrize("title", ["MOVESCU", "ORIGIN", "A" * 16, "X"])
def test_priority_and_move_originator(priority: int, title: str) -> None:
    data = data_set(333)
    for max_pdu in (0, 64):
        options: dict[str, Any] = {"priority": priority, "originator": (title, 4242)}
        expected = pynetdicom_pdus(5, max_pdu, CT, EVEN_UID, 9, data, **options)
        move_originator = options.pop("originator")
        got = ours(5, max_pdu, CT, EVEN_UID, 9, data, move_originator=move_originator, **options)
        assert got == expected


def test_limits() -> None:
    with pytest.raises(ValueError, match="leaves no room"):
        list(fragments(b"\x00" * 8, memoryview(b"x"), 6))
    with pytest.raises(ValueError, match="0-65535"):
        command_set(CT, EVEN_UID, 65536)


def test_message_ids_count_per_association_and_wrap() -> None:
    first, second = Association(AE(), "requestor"), Association(AE(), "requestor")
    ids = [next_message_id(first) for _ in range(65537)]
    assert ids[:3] == [1, 2, 3]
    assert ids[65533:] == [65534, 65535, 1, 2]  # never 0, never above 65535
    assert next_message_id(second) == 1  # each association counts its own


# On real associations ---------------------------------------------------------------------


def write_files(folder: Path, count: int, **kwargs: Any) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        ds = ct_dataset(patient_id="CMD-1", seed=n, **kwargs)
        path = folder / f"ct{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def data_set_of(path: Path) -> bytes:
    """The bytes after a file's File Meta Information."""
    with path.open("rb") as fp:
        pydicom.filereader.read_preamble(fp, False)
        pydicom.filereader._read_file_meta_info(fp)
        return fp.read()


class Sent:
    """Spies on pynetdicom's own sending on the client's side (behaviour unchanged; the peers
    of these tests run in this process too): the DIMSE messages it encoded, the P-DATA
    primitives queued for its DUL thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.messages: list[str] = []
        self.p_data = 0
        send_msg, send_pdu = DIMSEServiceProvider.send_msg, DULServiceProvider.send_pdu

        def spied_msg(provider: DIMSEServiceProvider, primitive: Any, context_id: int) -> None:
            if provider.assoc.is_requestor:
                self.messages.append(type(primitive).__name__)
            send_msg(provider, primitive, context_id)

        def spied_pdu(dul: DULServiceProvider, primitive: Any) -> None:
            if dul.assoc.is_requestor:
                self.p_data += isinstance(primitive, P_DATA)
            send_pdu(dul, primitive)

        monkeypatch.setattr(DIMSEServiceProvider, "send_msg", spied_msg)
        monkeypatch.setattr(DULServiceProvider, "send_pdu", spied_pdu)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    return Sent(monkeypatch)


class Received:
    """A stock pynetdicom storage SCP that keeps each request's Message ID and raw data set."""

    def __init__(self, max_pdu: int) -> None:
        self.requests: list[tuple[int, bytes]] = []
        ae = AE(ae_title="STOCKSCP")
        ae.supported_contexts = StoragePresentationContexts
        ae.maximum_pdu_size = max_pdu
        handlers: list[Any] = [(evt.EVT_C_STORE, self._on_store)]
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        assert server is not None
        self.server = server
        self.port = int(server.server_address[1])

    def _on_store(self, event: Any) -> int:
        self.requests.append((int(event.request.MessageID), event.request.DataSet.getvalue()))
        return 0x0000


@pytest.fixture
def stock_scp(request: pytest.FixtureRequest) -> Iterator[Received]:
    scp = Received(request.param)
    try:
        yield scp
    finally:
        scp.server.shutdown()


@pytest.mark.parametrize("stock_scp", [0, 1001, 16382], indirect=True, ids=lambda m: f"pdu{m}")
def test_the_peer_gets_the_file_as_it_is(stock_scp: Received, tmp_path: Path, sent: Sent) -> None:
    """Plain TCP: the PDUs are written at once, none goes through pynetdicom's DIMSE provider
    or DUL queue; the peer reassembles every file's data set byte for byte, Message IDs 1, 2,
    3 on the association."""
    files = write_files(tmp_path, 3)
    client = Client(Peer("127.0.0.1", stock_scp.port, "STOCKSCP"), timeouts=LOCAL)
    with client.associate(sop_classes=[CT], transfer_syntaxes=["1.2.840.10008.1.2.1"]) as session:
        assert [session.store(path) for path in files] == [0, 0, 0]
    assert [message_id for message_id, _ in stock_scp.requests] == [1, 2, 3]
    assert [data for _, data in stock_scp.requests] == [data_set_of(path) for path in files]
    assert sent.messages == [] and sent.p_data == 0


def recv_handlers(assoc: Association) -> list[Any]:
    return [handler for handler, _ in assoc.get_handlers(evt.EVT_DIMSE_RECV)]  # type: ignore[misc]


def test_pynetdicom_logs_the_messages_when_asked(
    tmp_path: Path, sent: Sent, caplog: pytest.LogCaptureFixture
) -> None:
    """While pynetdicom's logger is off, nothing of it runs for a C-STORE (its handler of a
    received message is unbound from the association); with it at INFO, on the same
    association, its own path sends the request and logs it and the response, still without
    decoding the file."""
    first, second = write_files(tmp_path, 2)
    with EmbeddedPacs() as pacs:
        client = Client(Peer(pacs.host, pacs.port, pacs.ae_title), timeouts=LOCAL)
        syntaxes = ["1.2.840.10008.1.2.1"]
        with client.associate(sop_classes=[CT], transfer_syntaxes=syntaxes) as session:
            with caplog.at_level(logging.WARNING, logger="pynetdicom"):
                session.store(first)
            assert sent.messages == []
            assert standard_dimse_recv_handler not in recv_handlers(session.association)
            with caplog.at_level(logging.INFO, logger="pynetdicom"):
                session.store(second)
            assert standard_dimse_recv_handler in recv_handlers(session.association)
        received = {str(ds.SOPInstanceUID): ds for ds in pacs.datasets}
    assert "Sending Store Request: MsgID 2, (CT)" in caplog.text
    assert "Received Store Response (Status: 0x0000 - Success)" in caplog.text
    assert "MsgID 1" not in caplog.text
    assert sent.messages == ["C_STORE"]
    for path in (first, second):
        original = pydicom.dcmread(path)
        assert received[str(original.SOPInstanceUID)].PixelData == original.PixelData


def test_over_tls_the_pdus_go_through_pynetdicoms_thread(
    tmp_path: Path, sent: Sent, certs: CertificateFiles
) -> None:
    """Over TLS the DUL thread may be reading the same TLS connection: the fragments go through
    its queue, and the PACS gets the files intact."""
    files = write_files(tmp_path, 2, rows=128, columns=128)
    with EmbeddedPacs(ssl_context=certs.server_context()) as pacs:
        tls = TlsConfig(ca_file=certs.ca_file, server_hostname="localhost")
        client = Client(Peer(pacs.host, pacs.port, pacs.ae_title, tls=tls), timeouts=LOCAL)
        assert client.store_many(files).stored == 2
        received = {str(ds.SOPInstanceUID): ds for ds in pacs.datasets}
    assert sent.messages == [] and sent.p_data >= 2 * 3  # 32 KB each: at least 3 PDUs
    for path in files:
        original = pydicom.dcmread(path)
        assert received[str(original.SOPInstanceUID)].PixelData == original.PixelData


@pytest.mark.interop
def test_storescp_stores_what_was_sent(tmp_path: Path, sent: Sent) -> None:
    """DCMTK's storescp (its default maximum PDU, 16 KB) writes each file with the data set we
    sent: the same bytes after its own File Meta Information."""
    files = write_files(tmp_path / "in", 2)
    with DcmtkPeers(tmp_path) as peers:
        scp = peers.storescp(log_level="info")
        client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), timeouts=LOCAL)
        assert client.store_many(files).stored == 2
        scp.wait_for(r"Association Release")
        assert scp.output_dir is not None
        stored = files_in(scp.output_dir)
    assert sent.messages == [] and sent.p_data == 0
    assert sorted(data_set_of(p) for p in stored) == sorted(data_set_of(p) for p in files)
