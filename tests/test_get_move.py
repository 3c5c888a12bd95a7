"""Study Root C-GET and C-MOVE through the SDK, against real embedded PACSs on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid

from client_sdk import Client, DimseFailure, Peer, RetrieveResult
from client_sdk.testing import AssociationRecord, EmbeddedPacs, ct_dataset
from client_sdk.testing.__main__ import _parser
from providers import UsernameProvider
from tests.timeouts import OPERATIONS

USERS = {"alice": "x"}


@pytest.fixture(scope="module")
def second_server() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(ae_title="SECOND") as server:
        yield server


@pytest.fixture
def second(second_server: EmbeddedPacs) -> EmbeddedPacs:
    """The C-MOVE destination: a plain embedded PACS titled SECOND, emptied for each test."""
    second_server.wait_for_records(0)  # whatever an earlier test moved has ended
    second_server.clear()
    return second_server


@pytest.fixture
def pacs(second: EmbeddedPacs) -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users=USERS, move_destinations={"SECOND": second.address}) as server:
        yield server


@pytest.fixture
def studies(pacs: EmbeddedPacs) -> dict[str, list[Dataset]]:
    """Two studies stored through the SDK: A (two instances in one series) and B (one)."""
    series = generate_uid()
    study_a, study_b = generate_uid(), generate_uid()
    stored: dict[str, list[Dataset]] = {
        study_a: [
            ct_dataset(study_uid=study_a, series_uid=series, seed=1),
            ct_dataset(study_uid=study_a, series_uid=series, seed=2),
        ],
        study_b: [ct_dataset(study_uid=study_b, patient_id="TEST-0002", seed=3)],
    }
    client(pacs).store(*stored[study_a], *stored[study_b])
    pacs.wait_for_records(1)
    return stored


def client(pacs: EmbeddedPacs) -> Client:
    return Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=UsernameProvider("alice"),
        timeouts=OPERATIONS,
    )


def after_store(pacs: EmbeddedPacs, count: int = 1) -> list[AssociationRecord]:
    """The records of the ``count`` associations after the one of the ``studies`` fixture."""
    return pacs.wait_for_records(1 + count)[1:]


def contents(datasets: Any) -> dict[str, bytes]:
    return {str(ds.SOPInstanceUID): bytes(ds.PixelData) for ds in datasets}


def study_a(studies: dict[str, list[Dataset]]) -> tuple[str, list[Dataset]]:
    uid = next(iter(studies))
    return uid, studies[uid]


# --- C-GET -------------------------------------------------------------------------------------


def test_get_returns_the_study_as_stored(
    pacs: EmbeddedPacs, studies: dict[str, list[Dataset]]
) -> None:
    uid, expected = study_a(studies)
    result = client(pacs).get({"StudyInstanceUID": uid})
    assert isinstance(result, RetrieveResult)
    assert (result.status, result.completed, result.failed, result.warning) == (0, 2, 0, 0)
    assert result.paths == ()
    assert contents(result.datasets) == contents(expected)
    assert all(ds.file_meta.TransferSyntaxUID for ds in result.datasets)
    (record,) = after_store(pacs)
    assert record.dimse == ["C-GET"]
    assert (record.principal, record.verified, record.ended) == ("alice", True, "released")


@pytest.mark.parametrize("level", ["PATIENT", "SERIES", "IMAGE"])
def test_get_at_each_level(
    pacs: EmbeddedPacs, studies: dict[str, list[Dataset]], level: str
) -> None:
    _, (first, second_instance) = study_a(studies)
    query = {
        "PATIENT": {"PatientID": "TEST-0001"},
        "SERIES": {"SeriesInstanceUID": first.SeriesInstanceUID},
        "IMAGE": {"SOPInstanceUID": first.SOPInstanceUID},
    }[level]
    expected = [first] if level == "IMAGE" else [first, second_instance]
    result = client(pacs).get(query, level=level)
    assert contents(result.datasets) == contents(expected)


def test_get_into_output_dir_writes_readable_files(
    pacs: EmbeddedPacs, studies: dict[str, list[Dataset]], tmp_path: Path
) -> None:
    uid, expected = study_a(studies)
    out = tmp_path / "retrieved" / "study"
    result = client(pacs).get({"StudyInstanceUID": uid}, output_dir=out)
    assert result.completed == 2 and result.datasets == ()
    assert sorted(result.paths) == sorted(out / f"{ds.SOPInstanceUID}.dcm" for ds in expected)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in result.paths)
    assert contents(pydicom.dcmread(path) for path in result.paths) == contents(expected)


def test_get_and_store_share_one_association(pacs: EmbeddedPacs) -> None:
    dataset = ct_dataset(seed=7)
    with client(pacs).associate(retrieve=True) as session:
        assert session.store(dataset) == 0
        result = session.get({"StudyInstanceUID": dataset.StudyInstanceUID})
        assert session.find({"StudyInstanceUID": dataset.StudyInstanceUID}) != []
    assert contents(result.datasets) == contents([dataset])
    (record,) = pacs.wait_for_records(1)
    assert record.dimse == ["C-STORE", "C-GET", "C-FIND"]


def test_get_needs_a_retrieve_association(
    pacs: EmbeddedPacs, second: EmbeddedPacs, studies: dict[str, list[Dataset]]
) -> None:
    uid, expected = study_a(studies)
    with client(pacs).associate() as session:
        with pytest.raises(DimseFailure) as info:
            session.get({"StudyInstanceUID": uid})
        assert "retrieve=True" in str(info.value)
        # The default association proposes C-MOVE, which needs nothing more.
        assert session.move({"StudyInstanceUID": uid}, destination="SECOND").completed == 2
    (record,) = after_store(pacs)
    assert record.dimse == ["C-MOVE"]
    assert contents(second.datasets) == contents(expected)


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_get_refuses_a_uid_that_would_leave_output_dir(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    evil = ct_dataset(seed=9)
    evil.SOPInstanceUID = "1.2.3/../../../evil"
    pacs._store.add(evil)  # as if stored by a careless PACS; C-STORE would have refused it
    out = tmp_path / "out"
    with pytest.raises(DimseFailure) as info:
        client(pacs).get({"StudyInstanceUID": evil.StudyInstanceUID}, output_dir=out)
    assert info.value.status == 0xA702  # every sub-operation failed
    assert "is not a UID" in str(info.value)
    assert list(out.iterdir()) == []
    assert not list(tmp_path.glob("**/evil*"))


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_get_with_some_failed_sub_operations_is_a_warning(
    pacs: EmbeddedPacs, tmp_path: Path
) -> None:
    good = ct_dataset(seed=10)
    evil = ct_dataset(study_uid=good.StudyInstanceUID, seed=11)
    evil.SOPInstanceUID = "../evil"
    client(pacs).store(good)
    pacs._store.add(evil)
    result = client(pacs).get({"StudyInstanceUID": good.StudyInstanceUID}, output_dir=tmp_path)
    assert (result.status, result.completed, result.failed) == (0xB000, 1, 1)
    assert result.failed_instances == ("../evil",)
    assert result.paths == (tmp_path / f"{good.SOPInstanceUID}.dcm",)


# --- C-MOVE ------------------------------------------------------------------------------------


def test_move_sends_the_study_to_the_destination(
    pacs: EmbeddedPacs, second: EmbeddedPacs, studies: dict[str, list[Dataset]]
) -> None:
    uid, expected = study_a(studies)
    result = client(pacs).move({"StudyInstanceUID": uid}, destination="SECOND")
    assert (result.status, result.completed, result.failed, result.warning) == (0, 2, 0, 0)
    assert result.datasets == () and result.paths == ()
    (moved,) = second.wait_for_records(1)
    assert (moved.calling_ae_title, moved.called_ae_title) == (pacs.ae_title, "SECOND")
    assert moved.dimse == ["C-STORE", "C-STORE"] and moved.ended == "released"
    assert contents(second.datasets) == contents(expected)
    (record,) = after_store(pacs)
    assert record.dimse == ["C-MOVE"] and record.principal == "alice"


def test_move_to_an_unknown_destination(
    pacs: EmbeddedPacs, second: EmbeddedPacs, studies: dict[str, list[Dataset]]
) -> None:
    uid, _ = study_a(studies)
    with pytest.raises(DimseFailure) as info:
        client(pacs).move({"StudyInstanceUID": uid}, destination="NOWHERE")
    assert info.value.status == 0xA801
    assert "'NOWHERE'" in str(info.value) and "unknown to the peer" in str(info.value)
    after_store(pacs)
    assert second.records == []


def test_move_to_an_unreachable_destination(studies: dict[str, list[Dataset]]) -> None:
    with socket.socket() as probe:  # a port on which nothing listens
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    dataset = ct_dataset(seed=5)
    with EmbeddedPacs(users=USERS, move_destinations={"GONE": ("127.0.0.1", closed)}) as pacs:
        client(pacs).store(dataset)
        with pytest.raises(DimseFailure) as info:
            client(pacs).move({"StudyInstanceUID": dataset.StudyInstanceUID}, destination="GONE")
    assert info.value.status == 0xA801


def test_move_destination_is_checked() -> None:
    with pytest.raises(ValueError, match="1-16"):
        EmbeddedPacs(move_destinations={"A_TITLE_FAR_TOO_LONG": ("127.0.0.1", 104)})
    with pytest.raises(ValueError, match="1-65535"):
        EmbeddedPacs(move_destinations={"DEST": ("127.0.0.1", 0)})


# --- Both --------------------------------------------------------------------------------------


def test_nothing_matching_is_zero_sub_operations(
    pacs: EmbeddedPacs, second: EmbeddedPacs, studies: dict[str, list[Dataset]]
) -> None:
    query = {"StudyInstanceUID": generate_uid()}
    got = client(pacs).get(query)
    moved = client(pacs).move(query, destination="SECOND")
    for result in (got, moved):
        assert (result.status, result.completed, result.failed) == (0, 0, 0)
        assert result.datasets == ()
    after_store(pacs, 2)
    assert second.records == []  # nothing to send: no association to the destination


def test_retrieve_by_any_key(
    pacs: EmbeddedPacs, second: EmbeddedPacs, studies: dict[str, list[Dataset]]
) -> None:
    _, expected = study_a(studies)
    got = client(pacs).get({"PatientID": "TEST-0001"}, level="STUDY")
    assert contents(got.datasets) == contents(expected)
    moved = client(pacs).move({"PatientID": "TEST-0001"}, destination="SECOND")
    assert moved.completed == 2 and contents(second.datasets) == contents(expected)


@pytest.mark.parametrize("operation", ["get", "move"])
def test_identifier_without_a_key_is_refused(
    pacs: EmbeddedPacs, studies: dict[str, list[Dataset]], operation: str
) -> None:
    query = {"StudyInstanceUID": "", "PatientName": ""}  # universal matching only
    sdk = client(pacs)
    retrieve = sdk.get if operation == "get" else partial(sdk.move, destination="SECOND")
    with pytest.raises(DimseFailure) as info:
        retrieve(query, level="STUDY")
    assert info.value.status == 0xA900
    assert "needs a key to match" in str(info.value)


def test_bad_arguments_are_value_errors(pacs: EmbeddedPacs) -> None:
    with pytest.raises(ValueError, match="query level"):
        client(pacs).get({"StudyInstanceUID": "1.2.3"}, level="FRAME")
    with pytest.raises(ValueError, match="AE title"):
        client(pacs).move({"StudyInstanceUID": "1.2.3"}, destination="")


def test_cli_move_destination_flag() -> None:
    args = _parser().parse_args(
        ["--move-destination", "SECOND=127.0.0.1:11113", "--move-destination", "B=::1:104"]
    )
    assert dict(args.move_destination) == {"SECOND": ("127.0.0.1", 11113), "B": ("::1", 104)}
    with pytest.raises(SystemExit):
        _parser().parse_args(["--move-destination", "SECOND=127.0.0.1"])
