"""Check a DICOM file completely before it is sent.

Every file on the way to C-STORE is read once and checked here: ``Session.store`` and
``store_many`` (``dicom-identity store``) through :func:`load_encoded`, which keeps the file's
bytes to send them as they are; ``Client.store`` and the DICOMweb client through
:func:`load_dataset`. The check walks the element headers, skipping every value by its length
(pixel data is never parsed for it), and reads only the few values it compares:

1. ``read``: the file can be opened and read;
2. ``preamble``: 128 bytes then ``DICM`` (DICOM Part 10 file format, PS3.10 7.1);
3. ``file-meta``: the File Meta Information parses, with Transfer Syntax UID, Media Storage SOP
   Class UID and Media Storage SOP Instance UID present and not empty;
4. ``truncated`` / ``structure``: every element of the dataset, at any depth, fits in the file,
   every undefined length reaches its delimiter, and the last element ends exactly at the end of
   the file (``dicom_structure``; pydicom alone reads a cut file as a short one);
5. ``sop-uids``: SOP Class UID and SOP Instance UID present, not empty, and equal to the meta
   header's Media Storage ones;
6. ``pixel-data``: an image storage SOP class has its pixel data (a file cut exactly before its
   Pixel Data element has an intact structure: this is what shows it);
7. ``parse``: pydicom reads the whole dataset and stops at the end: where a dataset is needed
   (:func:`read_checked`, or a file sent to a peer that accepted only another transfer syntax,
   which pynetdicom converts). A file sent as it was read is not parsed: steps 1-6 are what
   pydicom's reader checks of it, without decoding the values.

Each failure is an :class:`~client_sdk.InvalidDicomFile` (a ``DimseFailure``, exit code
9) naming the file, the check and where it failed. DCMTK's storescu refuses such files too.
"""

from __future__ import annotations

import contextlib
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom import Dataset, dcmread
from pydicom._uid_dict import UID_dictionary
from pydicom.uid import UID

from client_sdk._errors import InvalidDicomFile
from client_sdk._operations.dicom_structure import Read, StructureError, walk_elements
from client_sdk._pynetdicom.encoded_store import EncodedDataset

# What C-STORE takes: a dataset, or the path of a DICOM file.
StoreInput = Dataset | str | os.PathLike[str]


def input_path(item: StoreInput) -> Path | None:
    """The path of a file input, as its result names it (None for a dataset)."""
    return None if isinstance(item, Dataset) else Path(item)


PREAMBLE = 128
META_START = PREAMBLE + 4
TRANSFER_SYNTAX = 0x00020010
MEDIA_SOP_CLASS = 0x00020002
MEDIA_SOP_INSTANCE = 0x00020003
SOP_CLASS = 0x00080016
SOP_INSTANCE = 0x00080018
# Where an image's pixels can be (PS3.3 C.7.6.3, C.7.6.24): any one of these will do. Pixel
# Data, Float Pixel Data, Double Float Pixel Data, Pixel Data Provider URL.
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009, 0x00287FE0)
_STORAGE_ROOT = "1.2.840.10008.5.1.4.1.1."
# A file up to this size is read into memory once: checked and sent from those same bytes (as
# they are when the peer accepted its transfer syntax, else parsed from them and converted; no
# second read of a file that may have changed since). Larger files are checked through a
# window, parsed and sent re-encoded.
ENCODED_LIMIT = 64 << 20


def _is_image_storage(sop_class: str) -> bool:
    entry = UID_dictionary.get(sop_class)
    return (
        entry is not None
        and sop_class.startswith(_STORAGE_ROOT)
        and "Image Storage" in entry[0]
        and entry[3] != "Retired"
    )


def read_checked(path: str | os.PathLike[str]) -> Dataset:
    """Read ``path`` as a DICOM Part 10 file and check all of it (this module's docstring);
    return the dataset pydicom reads, with its ``file_meta``. Raises :class:`InvalidDicomFile`."""
    path = Path(path)
    with _reading(path), path.open("rb") as fp:
        size = os.fstat(fp.fileno()).st_size
        checked = _check(path, _Window(fp).read, size)
        return _parse(path, fp, size, checked)


def read_checked_encoded(path: str | os.PathLike[str]) -> tuple[Dataset, EncodedDataset | None]:
    """The file checked as :func:`read_checked` does, and for a file up to ``ENCODED_LIMIT``
    its bytes as read and checked: what a C-STORE sends as is when the peer accepted the file's
    transfer syntax. pydicom does not read such a file (step 5 is left to
    ``EncodedDataset.decode``, for a peer that accepted only another syntax): the dataset
    returned is then only what identifies the file, its SOP Class and Instance UIDs; send the
    file with ``send_encoded_c_store``. A larger file: the dataset pydicom reads, and None."""
    path = Path(path)
    with _reading(path), path.open("rb") as fp:
        size = os.fstat(fp.fileno()).st_size
        if size > ENCODED_LIMIT:
            checked = _check(path, _Window(fp).read, size)
            return _parse(path, fp, size, checked), None
        whole = fp.read(size + 1)  # one byte more: a file that grew meanwhile is seen
    checked = _check(path, lambda offset, count: whole[offset : offset + count], len(whole))
    header = Dataset()
    header.SOPClassUID = checked.sop_class
    header.SOPInstanceUID = checked.sop_instance
    encoded = EncodedDataset(
        checked.sop_class,
        checked.sop_instance,
        checked.transfer_syntax,
        whole,
        checked.meta_end,
        lambda: _parse(path, io.BytesIO(whole), len(whole), checked),
    )
    return header, encoded


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise _fail(path, "read", "no such file") from None
    except OSError as exc:
        raise _fail(
            path, "read", f"cannot read it ({exc.strerror or type(exc).__name__})"
        ) from None


def _fail(path: Path, check: str, what: str) -> InvalidDicomFile:
    return InvalidDicomFile(
        f"cannot store {path} ({check} check): {what}. Nothing of it was sent",
        path=str(path),
        check=check,
    )


class _Window:
    """Reads for the walk: element headers come from one 64 KiB block at a time (a seek and a
    read per header cost twice as much, in Python calls, for files of many fragments)."""

    BLOCK = 65536

    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp
        self.start = 0
        self.block = b""

    def read(self, offset: int, count: int) -> bytes:
        start = offset - self.start
        if start >= 0 and start + count <= len(self.block):
            return self.block[start : start + count]
        self.fp.seek(offset)
        self.block = self.fp.read(max(count, self.BLOCK))
        self.start = offset
        return self.block[:count]


@dataclass(frozen=True, slots=True)
class _Checked:
    """What the check found: where the data set starts, and the UIDs it was checked by."""

    meta_end: int
    transfer_syntax: str
    sop_class: str
    sop_instance: str
    deflated: bool


def _check(path: Path, read: Read, size: int) -> _Checked:
    """Steps 2-4, 6 and 7 of this module's docstring, from the element headers and the few
    values they need (the UIDs): no value is decoded, pixel data is skipped by its length."""
    if size < META_START or read(PREAMBLE, 4) != b"DICM":
        raise _fail(
            path,
            "preamble",
            f"not a readable DICOM file: no 'DICM' after a 128-byte preamble (the file has "
            f"{size} bytes), so no DICOM Part 10 file",
        )
    meta: dict[int, bytes | None] = dict.fromkeys(
        (TRANSFER_SYNTAX, MEDIA_SOP_CLASS, MEDIA_SOP_INSTANCE)
    )
    try:
        meta_end = walk_elements(
            read, size, META_START, little_endian=True, implicit=False, only_group=2, values=meta
        )
    except StructureError as exc:
        raise _fail(path, "file-meta", f"the File Meta Information is broken: {exc}") from None
    uids = {tag: _uid(value) for tag, value in meta.items()}
    for tag, name in (
        (TRANSFER_SYNTAX, "Transfer Syntax UID (0002,0010)"),
        (MEDIA_SOP_CLASS, "Media Storage SOP Class UID (0002,0002)"),
        (MEDIA_SOP_INSTANCE, "Media Storage SOP Instance UID (0002,0003)"),
    ):
        if not uids[tag]:
            raise _fail(path, "file-meta", f"the File Meta Information has no {name}")
    syntax = UID(uids[TRANSFER_SYNTAX])
    found: dict[int, bytes | None] = dict.fromkeys((SOP_CLASS, SOP_INSTANCE))
    pixels = dict.fromkeys(PIXEL_TAGS, False)
    _walk_dataset(path, read, size, meta_end, syntax, found, pixels)
    media_class, media_instance = uids[MEDIA_SOP_CLASS], uids[MEDIA_SOP_INSTANCE]
    _check_sop_uids(path, found, media_class, media_instance, any(pixels.values()))
    deflated = syntax.is_transfer_syntax and syntax.is_deflated
    return _Checked(meta_end, uids[TRANSFER_SYNTAX], media_class, media_instance, deflated)


def _parse(path: Path, fp: BinaryIO, size: int, checked: _Checked) -> Dataset:
    """Step 5: pydicom reads the whole dataset (pixel data included) and stops at the end."""
    try:
        fp.seek(0)
        dataset = dcmread(fp)
        stopped = fp.tell()
    except Exception as exc:  # pydicom raises many kinds on broken data
        raise _fail(
            path, "parse", f"pydicom cannot read it: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
    if stopped != size and not checked.deflated:  # a deflated one is read from its inflated copy
        raise _fail(path, "parse", f"pydicom stopped reading at byte {stopped} of {size}")
    return dataset


def _uid(value: bytes | None) -> str:
    return "" if value is None else value.rstrip(b"\x00 ").decode("ascii", "replace").strip()


def _walk_dataset(
    path: Path,
    read: Read,
    size: int,
    start: int,
    syntax: UID,
    values: dict[int, bytes | None],
    present: dict[int, bool],
) -> None:
    # A private (unknown) transfer syntax: explicit VR little endian, pydicom's guess; the walk
    # then goes by the first element's VR bytes, as pydicom does.
    known = syntax.is_transfer_syntax
    little = syntax.is_little_endian if known else True
    implicit = syntax.is_implicit_VR if known else False
    try:
        if known and syntax.is_deflated:
            inflated = _inflate(path, read(start, size - start))
            walk_elements(
                lambda offset, count: inflated[offset : offset + count],
                len(inflated),
                0,
                little_endian=little,
                implicit=implicit,
                values=values,
                present=present,
            )
        else:
            walk_elements(
                read,
                size,
                start,
                little_endian=little,
                implicit=implicit,
                values=values,
                present=present,
            )
    except StructureError as exc:
        raise _fail(path, "truncated" if exc.truncated else "structure", str(exc)) from None


def _inflate(path: Path, data: bytes) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data) + inflater.flush()
    except zlib.error as exc:
        raise _fail(path, "structure", f"the deflated dataset does not inflate: {exc}") from None
    if not inflater.eof:
        raise _fail(path, "truncated", "the deflated dataset ends before its end: truncated")
    return inflated


def _check_sop_uids(
    path: Path,
    found: dict[int, bytes | None],
    media_class: str,
    media_instance: str,
    has_pixels: bool,
) -> None:
    for tag, keyword, media, media_name in (
        (SOP_CLASS, "SOPClassUID", media_class, "MediaStorageSOPClassUID"),
        (SOP_INSTANCE, "SOPInstanceUID", media_instance, "MediaStorageSOPInstanceUID"),
    ):
        value = _uid(found[tag])
        if not value:
            raise _fail(path, "sop-uids", f"the dataset has no {keyword} (or an empty one)")
        if value != media:
            raise _fail(
                path,
                "sop-uids",
                f"{keyword} {value} is not the meta header's {media_name} {media}",
            )
    if _is_image_storage(media_class) and not has_pixels:
        raise _fail(
            path,
            "pixel-data",
            f"a {UID(media_class).name} has no Pixel Data (7FE0,0010): the file was probably "
            "cut just before it",
        )


def load_encoded(item: StoreInput) -> tuple[Dataset, EncodedDataset | None]:
    """A dataset as given; a file checked, and its bytes as read (:func:`read_checked_encoded`:
    the dataset is then only the file's SOP UIDs)."""
    if isinstance(item, Dataset):
        return item, None
    return read_checked_encoded(item)


def load_dataset(item: StoreInput) -> Dataset:
    """A dataset as given, or read from a DICOM file and checked completely (truncated, broken
    or inconsistent files raise :class:`~client_sdk.InvalidDicomFile`, a
    ``DimseFailure``; see this module): nothing of such a file is sent."""
    if isinstance(item, Dataset):
        return item
    return read_checked(item)
