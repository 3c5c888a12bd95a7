"""A checked file whose own transfer syntax the peer accepted is sent as it was read, not decoded
and re-encoded (issue 16), per association: another association that accepted only another
syntax gets the file converted, as before. The peer receives the same dataset either way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynetdicom.association
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from client_sdk import Client, InvalidDicomFile, Peer
from client_sdk._operations.dicom_file_check import read_checked_encoded
from client_sdk.testing import CT_IMAGE_STORAGE, EmbeddedPacs, ct_dataset


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs() as server:
        yield server


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per dataset pynetdicom's send_c_store encodes (its module's ``encode``)."""
    calls: list[int] = []
    real = vars(pynetdicom.association)["encode"]

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pynetdicom.association, "encode", counting)
    return calls


def write_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        ds = ct_dataset(patient_id="ENC-1", seed=n)
        path = folder / f"ct{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _received(pacs: EmbeddedPacs) -> dict[str, Any]:
    return {str(d.SOPInstanceUID): d for d in pacs.datasets}


def test_accepted_syntax_goes_as_read(
    pacs: EmbeddedPacs, tmp_path: Path, encodes: list[int]
) -> None:
    files = write_files(tmp_path, 3)
    client = Client(Peer(pacs.host, pacs.port, pacs.ae_title))
    report = client.store_many(files)
    assert report.stored == 3
    assert encodes == []  # not one dataset encoded again
    received = _received(pacs)
    for path in files:
        original = dcmread(path)
        got = received[str(original.SOPInstanceUID)]
        assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert got.PixelData == original.PixelData
        assert got.PatientID == "ENC-1"


def test_client_store_checks_every_file_first_then_sends_each_as_read(
    pacs: EmbeddedPacs, tmp_path: Path, encodes: list[int]
) -> None:
    files = write_files(tmp_path, 2)
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(files[0].read_bytes()[:-100])
    client = Client(Peer(pacs.host, pacs.port, pacs.ae_title))
    with pytest.raises(InvalidDicomFile):
        client.store(*files, broken)
    assert pacs.datasets == []  # checked before the association: nothing sent
    assert client.store(*files) == [0x0000, 0x0000]
    assert encodes == []  # proposed in their own syntax, sent as read
    assert {str(dcmread(p).SOPInstanceUID) for p in files} == set(_received(pacs))


def test_session_store_converts_when_only_another_syntax_was_accepted(
    pacs: EmbeddedPacs, tmp_path: Path, encodes: list[int]
) -> None:
    (path,) = write_files(tmp_path, 1)
    client = Client(Peer(pacs.host, pacs.port, pacs.ae_title))
    # Only the default syntaxes proposed: the embedded PACS picks Implicit VR Little Endian.
    with client.associate(sop_classes=[CT_IMAGE_STORAGE]) as session:
        session.store(path)
    assert len(encodes) == 1
    (converted,) = pacs.datasets
    assert converted.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    pacs.clear()
    with client.associate(
        sop_classes=[CT_IMAGE_STORAGE], transfer_syntaxes=[ExplicitVRLittleEndian]
    ) as session:
        session.store(path)  # this association accepted the file's own syntax
    assert len(encodes) == 1  # still the first association's only
    (as_read,) = pacs.datasets
    assert as_read.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert converted.PixelData == as_read.PixelData == dcmread(path).PixelData


def test_the_bytes_sent_are_the_checked_data_set(tmp_path: Path) -> None:
    (path,) = write_files(tmp_path, 1)
    dataset, encoded = read_checked_encoded(path)
    assert encoded is not None
    whole = path.read_bytes()
    assert whole.endswith(encoded.data)
    assert encoded.data[:4] == b"\x08\x00\x05\x00" or encoded.data[:2] == b"\x08\x00"
    assert encoded.transfer_syntax == ExplicitVRLittleEndian
    assert encoded.sop_instance == str(dataset.SOPInstanceUID)
    assert encoded.sop_class == CT_IMAGE_STORAGE
