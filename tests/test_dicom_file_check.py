"""The check every file passes before it is sent (client_sdk._operations.dicom_file_check), on real
files written by pydicom and cut at every offset; and the Python API refusing what it refuses."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import Dataset, dcmread
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from client_sdk import Client, DimseFailure, InvalidDicomFile, Peer
from client_sdk._operations.dicom_file_check import read_checked, read_checked_encoded
from client_sdk.testing import EmbeddedPacs, ct_dataset
from providers import UsernameProvider


def _with_sequences(ds: Dataset) -> Dataset:
    """Nested sequences: one of undefined length with an undefined-length item, one defined."""
    inner = Dataset()
    inner.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    inner.ReferencedSOPInstanceUID = "1.2.3.4"
    item = Dataset()
    item.CodeValue = "T-D0050"
    item.CodingSchemeDesignator = "SRT"
    item.ReferencedImageSequence = Sequence([inner, inner])
    ds.ProcedureCodeSequence = Sequence([item])
    ds.ProcedureCodeSequence.is_undefined_length = True
    item.is_undefined_length_sequence_item = True
    ds.AnatomicRegionSequence = Sequence([item])
    return ds


def _syntax(uid: str) -> Callable[[Dataset], Dataset]:
    def encode(ds: Dataset) -> Dataset:
        ds.file_meta.TransferSyntaxUID = UID(uid)
        return ds

    return encode


def _rle(ds: Dataset) -> Dataset:
    ds.compress(RLELossless)
    return ds


# Each encoding a dataset can have on disk, each with nested sequences: the walk differs.
ENCODINGS: dict[str, Callable[[Dataset], Dataset]] = {
    "explicit-little": lambda ds: ds,
    "implicit-little": _syntax(ImplicitVRLittleEndian),
    "explicit-big": _syntax(ExplicitVRBigEndian),
    "encapsulated-rle": _rle,
}


def _write(path: Path, ds: Dataset) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom on the retired big endian syntax
        ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_cut_of_a_file_is_refused(encoding: str, tmp_path: Path) -> None:
    """Cut at every byte offset: each prefix is refused (most of them pydicom reads without a
    word), and the whole file passes and reads as what was written."""
    ds = ENCODINGS[encoding](_with_sequences(ct_dataset()))
    whole = tmp_path / "whole.dcm"
    data = _write(whole, ds)
    checked = read_checked(whole)
    assert checked.SOPInstanceUID == ds.SOPInstanceUID and checked.PixelData == ds.PixelData
    cut = tmp_path / "cut.dcm"
    checks: dict[str, int] = {}
    read_quietly = 0
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        with pytest.raises(InvalidDicomFile) as refused:
            read_checked(cut)
        assert str(cut) in str(refused.value) and "Nothing of it was sent" in str(refused.value)
        checks[refused.value.check] = checks.get(refused.value.check, 0) + 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dcmread(cut)
            read_quietly += 1
        except Exception:
            pass
    assert set(checks) <= {"preamble", "file-meta", "truncated", "sop-uids", "pixel-data"}
    assert checks["truncated"] > len(data) // 2, checks
    assert read_quietly > len(data) // 2  # what the check is for


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_a_file_sent_as_read_is_checked_the_same(encoding: str, tmp_path: Path) -> None:
    """The path that sends a file's bytes as read (no pydicom parse) refuses every cut with
    the same check as read_checked; the whole file gives its bytes after the meta header, its
    SOP UIDs, and decodes (for a conversion) to what was written."""
    ds = ENCODINGS[encoding](_with_sequences(ct_dataset()))
    whole = tmp_path / "whole.dcm"
    data = _write(whole, ds)
    header, encoded = read_checked_encoded(whole)
    assert encoded is not None and data.endswith(encoded.data)
    assert header.SOPInstanceUID == encoded.sop_instance == ds.SOPInstanceUID
    assert header.SOPClassUID == encoded.sop_class == ds.SOPClassUID
    assert encoded.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert encoded.decode().PixelData == ds.PixelData
    cut = tmp_path / "cut.dcm"
    for size in range(0, len(data), 7):
        cut.write_bytes(data[:size])
        with pytest.raises(InvalidDicomFile) as as_read:
            read_checked_encoded(cut)
        with pytest.raises(InvalidDicomFile) as parsed:
            read_checked(cut)
        assert as_read.value.check == parsed.value.check, size
        assert str(as_read.value) == str(parsed.value)


def test_where_the_cut_is_named(tmp_path: Path) -> None:
    """The issue's file: the first 600 bytes of a CT; mid pixel data; mid element header."""
    ds = ct_dataset(rows=64, columns=64)
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1" + "0" * 36  # 64 bytes, as in the issue
    data = _write(tmp_path / "ct.dcm", ds)
    study = data.index(b"\x20\x00\x0d\x00UI")  # (0020,000D) UI, little endian
    assert study < 600 < study + 8 + 64
    pixels = data.index(b"\xe0\x7f\x10\x00")  # (7FE0,0010) OW
    cases = {
        600: f"element (0020,000D) at byte {study} declares 64 bytes",
        pixels + 12 + 1000: f"element (7FE0,0010) at byte {pixels} declares 8192 bytes",
        pixels + 5: f"the data ends at byte {pixels + 5} inside the header",
    }
    for size, where in cases.items():
        path = tmp_path / f"cut-{size}.dcm"
        path.write_bytes(data[:size])
        with pytest.raises(InvalidDicomFile, match="truncated") as refused:
            read_checked(path)
        assert refused.value.check == "truncated" and where in str(refused.value)
        assert isinstance(refused.value, DimseFailure) and refused.value.status is None


def test_cut_just_before_the_pixel_data(tmp_path: Path) -> None:
    """A cut on an element boundary leaves an intact structure: the missing Pixel Data of an
    image storage class shows it."""
    data = _write(tmp_path / "ct.dcm", ct_dataset())
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: data.index(b"\xe0\x7f\x10\x00")])
    with pytest.raises(InvalidDicomFile, match=r"CT Image Storage has no Pixel Data") as refused:
        read_checked(path)
    assert refused.value.check == "pixel-data"


def test_deflated_dataset(tmp_path: Path) -> None:
    """Deflated Explicit VR Little Endian: the inflated dataset is walked; a cut or corrupt
    deflate stream is refused."""
    ds = _with_sequences(ct_dataset())
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    whole = tmp_path / "deflated.dcm"
    data = _write(whole, ds)
    assert read_checked(whole).SOPInstanceUID == ds.SOPInstanceUID
    meta_end = 132 + 12 + int(dcmread(whole).file_meta.FileMetaInformationGroupLength)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: (meta_end + len(data)) // 2])
    with pytest.raises(InvalidDicomFile, match="deflated dataset ends") as refused:
        read_checked(cut)
    assert refused.value.check == "truncated"
    corrupt = tmp_path / "corrupt.dcm"  # first block of type 3, which does not exist
    corrupt.write_bytes(data[:meta_end] + b"\xff" + data[meta_end + 1 :])
    with pytest.raises(InvalidDicomFile, match="does not inflate") as broken:
        read_checked(corrupt)
    assert broken.value.check == "structure"


@pytest.mark.parametrize(
    ("change", "check", "message"),
    [
        (
            lambda ds: setattr(ds, "SOPInstanceUID", "1.2.3.999"),
            "sop-uids",
            "SOPInstanceUID 1.2.3.999 is not the meta header's MediaStorageSOPInstanceUID",
        ),
        (
            lambda ds: setattr(
                ds.file_meta, "MediaStorageSOPClassUID", "1.2.840.10008.5.1.4.1.1.4"
            ),
            "sop-uids",
            "is not the meta header's MediaStorageSOPClassUID 1.2.840.10008.5.1.4.1.1.4",
        ),
        (lambda ds: delattr(ds, "SOPInstanceUID"), "sop-uids", "the dataset has no SOPInstanceUID"),
        (lambda ds: setattr(ds, "SOPClassUID", ""), "sop-uids", "no SOPClassUID (or an empty one)"),
        (
            lambda ds: delattr(ds.file_meta, "MediaStorageSOPInstanceUID"),
            "file-meta",
            "no Media Storage SOP Instance UID (0002,0003)",
        ),
    ],
    ids=["instance-mismatch", "class-mismatch", "no-instance", "empty-class", "no-media-instance"],
)
def test_sop_uids_must_match_the_meta_header(
    change: Callable[[Dataset], None], check: str, message: str, tmp_path: Path
) -> None:
    ds = ct_dataset()
    change(ds)
    path = tmp_path / "ct.dcm"
    ds.preamble = b"\x00" * 128
    ds.save_as(path, enforce_file_format=False)  # as changed, no meta header put right
    with pytest.raises(InvalidDicomFile) as refused:
        read_checked(path)
    assert refused.value.check == check and message in str(refused.value)


def test_not_dicom_at_all(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not DICOM")
    with pytest.raises(InvalidDicomFile, match="not a readable DICOM file") as refused:
        read_checked(junk)
    assert refused.value.check == "preamble"
    with pytest.raises(InvalidDicomFile, match="no such file") as missing:
        read_checked(tmp_path / "gone.dcm")
    assert missing.value.check == "read"
    no_meta = tmp_path / "raw.dcm"  # a bare dataset, no Part 10 header: refused too
    ds = ct_dataset()
    del ds.file_meta
    ds.save_as(no_meta, enforce_file_format=False, implicit_vr=False, little_endian=True)
    with pytest.raises(InvalidDicomFile) as bare:
        read_checked(no_meta)
    assert bare.value.check == "preamble"


def test_the_python_api_sends_no_truncated_file(tmp_path: Path) -> None:
    """Client.store and store_many check the file too: nothing is sent, no association opened
    for it, and the good copy the PACS has stays as it was."""
    good = tmp_path / "good.dcm"
    data = _write(good, ct_dataset(rows=64, columns=64))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:600])
    with EmbeddedPacs(users={"alice": "unused"}) as pacs:
        peer = Peer(pacs.host, pacs.port, pacs.ae_title)
        client = Client(peer, identity=UsernameProvider("alice"))
        assert client.store(good) == [0x0000]
        with pytest.raises(InvalidDicomFile, match="truncated"):
            client.store(cut)
        report = client.store_many([cut], workers=2)
        (result,) = report.results
        assert result.result == "failed" and isinstance(result.error, InvalidDicomFile)
        assert report.associations == []  # the file failed before an association was needed
        assert len(pacs.records) == 1
        (kept,) = pacs.datasets
        assert kept.PixelData == dcmread(good).PixelData
