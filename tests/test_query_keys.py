"""Query keys (``-k``): DCMTK's forms parsed into a checked identifier, and the command line that
refuses what it cannot send as given (exit 3, before any association).

The parser's tables are pure logic; the rest runs the installed ``dicom-identity`` against the
embedded PACS, and DCMTK's findscu against a pynetdicom SCP for parity on the wire.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind  # type: ignore[attr-defined]

from client_sdk import Client, ConfigError, Peer, QueryKeyError, parse_query_keys
from client_sdk.testing import EmbeddedPacs, ct_dataset
from providers import UsernameProvider
from tests.conftest import require_program
from tests.installed_cli import run_cli
from tests.timeouts import OPERATIONS

CT = "1.2.840.10008.5.1.4.1.1.2"

# --- the parser: accepted forms and the identifier each gives ------------------------------------

ACCEPTED: list[tuple[list[str], dict[str, Any]]] = [
    (["PatientID=123"], {"00100020": {"vr": "LO", "Value": ["123"]}}),
    (["0010,0020=123"], {"00100020": {"vr": "LO", "Value": ["123"]}}),
    (["(0010,0020)=123"], {"00100020": {"vr": "LO", "Value": ["123"]}}),
    (["(0010,0020)=123", "PatientID=123"], {"00100020": {"vr": "LO", "Value": ["123"]}}),
    (["StudyInstanceUID="], {"0020000D": {"vr": "UI"}}),
    (["StudyInstanceUID"], {"0020000D": {"vr": "UI"}}),
    (["0020,000d"], {"0020000D": {"vr": "UI"}}),
    (
        ["ReferencedStudySequence[0].ReferencedSOPClassUID=" + CT],
        {"00081110": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": [CT]}}]}},
    ),
    (
        ["(0008,1110)[0].(0008,1150)="],
        {"00081110": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI"}}]}},
    ),
    (
        ["0008,1110[0].0008,1150"],
        {"00081110": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI"}}]}},
    ),
    (
        [
            "ReferencedStudySequence[0].ReferencedSOPClassUID=" + CT,
            "(0008,1110)[0].ReferencedSOPInstanceUID=",
        ],
        {
            "00081110": {
                "vr": "SQ",
                "Value": [{"00081150": {"vr": "UI", "Value": [CT]}, "00081155": {"vr": "UI"}}],
            }
        },
    ),
    (["ReferencedStudySequence="], {"00081110": {"vr": "SQ", "Value": []}}),
    (["ReferencedStudySequence[0]"], {"00081110": {"vr": "SQ", "Value": [{}]}}),
    (
        ["ProcedureCodeSequence[0].CodeValue=CT*"],
        {"00081032": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": ["CT*"]}}]}},
    ),
    (["StudyDate=20240101-20241231"], {"00080020": {"vr": "DA", "Value": ["20240101-20241231"]}}),
    (["StudyDate=-20241231"], {"00080020": {"vr": "DA", "Value": ["-20241231"]}}),
    (["StudyDate=20240101-"], {"00080020": {"vr": "DA", "Value": ["20240101-"]}}),
    (["StudyTime=0800-1200"], {"00080030": {"vr": "TM", "Value": ["0800-1200"]}}),
    (
        ["AcquisitionDateTime=20240101-20241231"],
        {"0008002A": {"vr": "DT", "Value": ["20240101-20241231"]}},
    ),
    (["ModalitiesInStudy=CT\\MR"], {"00080061": {"vr": "CS", "Value": ["CT", "MR"]}}),
    (["Modality=C?"], {"00080060": {"vr": "CS", "Value": ["C?"]}}),
    (["StudyInstanceUID=1.2.3\\1.2.4"], {"0020000D": {"vr": "UI", "Value": ["1.2.3", "1.2.4"]}}),
    (["PatientName=Doe^J*"], {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^J*"}]}}),
    (["PatientAge=045Y"], {"00101010": {"vr": "AS", "Value": ["045Y"]}}),
    (["SliceThickness=2.5"], {"00180050": {"vr": "DS", "Value": [2.5]}}),
    (["Rows=512"], {"00280010": {"vr": "US", "Value": [512]}}),
    (["StudyDescription=Chest*"], {"00081030": {"vr": "LO", "Value": ["Chest*"]}}),
    (["QueryRetrieveLevel=STUDY"], {"00080052": {"vr": "CS", "Value": ["STUDY"]}}),
    (
        ["PatientName=Müller*"],
        {
            "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller*"}]},
        },
    ),
    (
        ["PatientName=Müller", "SpecificCharacterSet=ISO_IR 100"],
        {
            "00080005": {"vr": "CS", "Value": ["ISO_IR 100"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Müller"}]},
        },
    ),
    # A private data element, after or before its creator, with the VR of pydicom's dictionary.
    (
        ["0009,1001=X", "0009,0010=GEMS_IDEN_01"],
        {
            "00090010": {"vr": "LO", "Value": ["GEMS_IDEN_01"]},
            "00091001": {"vr": "LO", "Value": ["X"]},
        },
    ),
    (["SmallestImagePixelValue="], {"00280106": {"vr": "US"}}),
]


@pytest.mark.parametrize(("keys", "expected"), ACCEPTED, ids=lambda v: repr(v)[:60])
def test_accepted_forms_give_the_identifier(keys: list[str], expected: dict[str, Any]) -> None:
    assert parse_query_keys(keys, level="STUDY").to_json_dict() == expected


# --- the parser: refused forms and what the message must say -------------------------------------

REFUSED: list[tuple[list[str], list[str]]] = [
    (["PatientId=NOBODY"], ["'PatientId'", "did you mean PatientID?", "case-sensitive"]),
    (["patientname=x"], ["did you mean PatientName?"]),
    (["PatientsName=x"], ["did you mean PatientName (0010,0010)?"]),
    (["StudyInstanceUid="], ["did you mean StudyInstanceUID?"]),
    (["Nonsense=1"], ["unknown keyword 'Nonsense'", "GGGG,EEEE"]),
    (["0010,020=1"], ["not a well-formed tag", "did you mean 0010,0020 (PatientID)?"]),
    (["(0010,0020=1"], ["not a well-formed tag", "0010,0020"]),
    (["00100020=1"], ["neither a keyword nor a tag"]),
    (["0010,9999=1"], ["(0010,9999) is not in the DICOM dictionary"]),
    (["0009,1001=X"], ["private tag (0009,1001)", "-k 0009,0010=CREATOR"]),
    (["0009,0010=NOT_KNOWN", "0009,1001=X"], ["'NOT_KNOWN'", "Dataset.add_new"]),
    (["CommandGroupLength=1"], ["not a query key"]),
    (["0008,0000="], ["group length"]),
    (["=123"], ["no attribute before '='"]),
    (
        ["PatientID=A", "0010,0020=B"],
        ["-k '0010,0020=B'", "-k 'PatientID=A'", "give each key once"],
    ),
    (["PatientID=A", "PatientID"], ["-k 'PatientID=A'", "give each key once"]),
    (
        ["ReferencedStudySequence[1].ReferencedSOPClassUID="],
        ["one item (PS3.4 C.2.2.2.6)", "ReferencedStudySequence[0]"],
    ),
    (["ReferencedStudySequence[*].ReferencedSOPClassUID="], ["item wildcard", "[0]"]),
    (["ReferencedStudySequence[x].ReferencedSOPClassUID="], ["write ReferencedStudySequence[0]"]),
    (["ReferencedStudySequence[0"], ["not a path element"]),
    (
        ["ReferencedStudySequence.ReferencedSOPClassUID="],
        ["write ReferencedStudySequence[0].ReferencedSOPClassUID"],
    ),
    (["PatientID[0].PatientName="], ["(0010,0020) PatientID is not a sequence (VR LO)"]),
    (["ReferencedStudySequence=1.2"], ["is a sequence: it takes no value"]),
    (["ReferencedStudySequence[0]=1.2"], ["is a sequence: it takes no value"]),
    (
        ["StudyDate=2024*"],
        ["does not take the wildcards", "a range is written StudyDate=20240101-20241231"],
    ),
    (["StudyDate=202402*"], ["StudyDate=20240201-20240229"]),
    (["StudyDate=2024"], ["not a valid DA", "StudyDate=20240101-20241231"]),
    (["StudyDate=20241301"], ["not a valid DA", "YYYYMMDD"]),
    (["StudyDate=20241231-20240101"], ["starts after it ends", "StudyDate=20240101-20241231"]),
    (["StudyTime=12*"], ["does not take the wildcards", "StudyTime=080000-120000"]),
    (["StudyTime=1200-0800"], ["starts after it ends", "StudyTime=0800-1200"]),
    (["StudyTime=2500"], ["not a valid TM"]),
    (["StudyInstanceUID=1.2.*"], ["VR UI", "does not take the wildcards", "whole UID"]),
    (["StudyInstanceUID=1.02"], ["not a valid UI", "no leading zero"]),
    (["StudyInstanceUID=1." + "2" * 70], ["not a valid UI", "up to 64"]),
    (["StudyInstanceUID=1.2\\\\1.3"], ["an empty value in the list"]),
    (["Modality=ct"], ["not a valid CS", "upper case: Modality=CT"]),
    (["Modality=" + "C" * 17], ["not a valid CS", "up to 16"]),
    (["PatientID=" + "x" * 65], ["not a valid LO", "up to 64"]),
    (["AccessionNumber=" + "1" * 17], ["not a valid SH", "up to 16"]),
    (["PatientName=A=B=C=D"], ["not a valid PN"]),
    (["PatientAge=45"], ["not a valid AS", "045Y"]),
    (["SliceThickness=thin"], ["not a valid DS"]),
    (["SliceThickness=2*"], ["VR DS", "does not take the wildcards"]),
    (["SeriesNumber=1a"], ["not a valid IS"]),
    (["Rows=big"], ["not an integer"]),
    (["Rows=70000"], ["does not fit VR US"]),
    (["PixelData=1"], ["only ask for it"]),
    (["SmallestImagePixelValue=5"], ["VR US or SS", "only ask for it"]),
    (["QueryRetrieveLevel=SERIES"], ["--level"]),
]


@pytest.mark.parametrize(("keys", "fragments"), REFUSED, ids=lambda v: repr(v)[:60])
def test_refused_forms_name_the_key_and_the_fix(keys: list[str], fragments: list[str]) -> None:
    with pytest.raises(QueryKeyError) as raised:
        parse_query_keys(keys, level="STUDY")
    message = str(raised.value)
    assert message.startswith(f"-k '{keys[-1][:120]}"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_a_refusal_is_a_config_error_exit_3() -> None:
    from client_sdk._cli.exit_codes import exit_code

    with pytest.raises(ConfigError) as raised:
        parse_query_keys(["PatientId=1"])
    assert exit_code(raised.value) == 3


def test_without_a_level_any_query_retrieve_level_is_kept() -> None:
    assert parse_query_keys(["QueryRetrieveLevel=SERIES"]).QueryRetrieveLevel == "SERIES"


def test_a_long_key_is_cut_in_the_message() -> None:
    with pytest.raises(QueryKeyError) as raised:
        parse_query_keys(["PatientID=" + "x" * 500])
    assert len(str(raised.value)) < 400


def test_the_mapping_api_refuses_a_key_that_is_not_a_keyword() -> None:
    from client_sdk._operations.identifier import query_identifier

    with pytest.raises(ValueError, match="'PatientId' is not a DICOM keyword; did you mean"):
        query_identifier({"PatientId": "NOBODY"}, "STUDY")
    with pytest.raises(ValueError, match="parse_query_keys"):
        query_identifier({"0010,0020": "NOBODY"}, "STUDY")


# --- the installed command line against the embedded PACS ----------------------------------------


@pytest.fixture
def dest() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(ae_title="DEST") as server:
        yield server


@pytest.fixture
def pacs(dest: EmbeddedPacs) -> Iterator[EmbeddedPacs]:
    """An embedded PACS holding two studies: QK-2024 (2024-03-15, two images) and QK-2023."""
    with EmbeddedPacs(users={"alice": "x"}, move_destinations={"DEST": dest.address}) as server:
        study = generate_uid()
        datasets = [
            ct_dataset(patient_id="QK-2024", study_uid=study, study_date="20240315", seed=1),
            ct_dataset(patient_id="QK-2024", study_uid=study, study_date="20240315", seed=2),
            ct_dataset(patient_id="QK-2023", study_date="20230101", seed=3),
        ]
        client = Client(
            Peer(server.host, server.port, server.ae_title),
            identity=UsernameProvider("alice"),
            timeouts=OPERATIONS,
        )
        client.store(*datasets)
        server.wait_for_records(1)
        yield server


@pytest.fixture
def config(tmp_path: Path, pacs: EmbeddedPacs) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[peers.local]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "alice"

[peers.local.timeouts]
connect = 5
acse = 5
dimse = 10
network = 10

[identities.alice]
type = "username"
username = "alice"
"""
    )
    return path


def dicom_identity(
    config: Path, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return run_cli("--config", str(config), "--json", *args, env=env, cwd=cwd)


def events(result: subprocess.CompletedProcess[str], kind: str) -> list[dict[str, Any]]:
    parsed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [event for event in parsed if event["event"] == kind]


def matched_patients(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    [association] = events(result, "association")
    found = [str(match.get("PatientID", "")) for match in events(result, "match")]
    assert association["matches"] == len(found)
    return sorted(found)


def test_a_tag_key_matches_on_its_tag(
    pacs: EmbeddedPacs, config: Path, env: dict[str, str], tmp_path: Path
) -> None:
    # 0.4.1 dropped "0010,0020=NOBODY" and returned every study.
    nobody = dicom_identity(
        config, env, tmp_path, "find", "local", "-k", "0010,0020=NOBODY", "-k", "StudyInstanceUID="
    )
    assert matched_patients(nobody) == []
    one = dicom_identity(
        config, env, tmp_path, "find", "local", "-k", "(0010,0020)=QK-2023", "-k", "StudyDate"
    )
    assert matched_patients(one) == ["QK-2023"]


def test_a_wrong_case_keyword_exits_3_naming_the_keyword_before_any_association(
    pacs: EmbeddedPacs, config: Path, env: dict[str, str], tmp_path: Path
) -> None:
    before = len(pacs.records)
    result = dicom_identity(config, env, tmp_path, "find", "local", "-k", "PatientId=NOBODY")
    assert result.returncode == 3, result.stderr
    assert "PatientId" in result.stderr and "did you mean PatientID?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    [error] = events(result, "error")
    assert error["error"] == "QueryKeyError" and error["exit_code"] == 3
    assert len(pacs.records) == before


def test_a_move_with_a_bad_key_sends_nothing(
    pacs: EmbeddedPacs, dest: EmbeddedPacs, config: Path, env: dict[str, str], tmp_path: Path
) -> None:
    before = len(pacs.records)
    refused = dicom_identity(
        config, env, tmp_path, "move", "local", "-k", "PatientId=QK-2024", "--destination", "DEST"
    )
    assert refused.returncode == 3, refused.stderr
    assert "did you mean PatientID?" in refused.stderr
    assert len(pacs.records) == before, "the PACS saw an association"
    assert dest.datasets == []
    # The same move with the right keyword associates and moves the study's two images.
    moved = dicom_identity(
        config, env, tmp_path, "move", "local", "-k", "PatientID=QK-2024", "--destination", "DEST"
    )
    assert moved.returncode == 0, moved.stderr
    assert len(pacs.wait_for_records(before + 1)) == before + 1
    assert len(dest.datasets) == 2


def test_a_date_with_a_wildcard_exits_3_and_a_range_matches(
    pacs: EmbeddedPacs, config: Path, env: dict[str, str], tmp_path: Path
) -> None:
    before = len(pacs.records)
    wildcard = dicom_identity(
        config, env, tmp_path, "find", "local", "-k", "StudyDate=2024*", "-k", "PatientID="
    )
    assert wildcard.returncode == 3, wildcard.stderr
    assert "StudyDate=20240101-20241231" in wildcard.stderr
    assert "pydicom" not in wildcard.stderr  # no library warning beside the one line
    assert len(pacs.records) == before
    year = dicom_identity(
        config,
        env,
        tmp_path,
        "find",
        "local",
        "-k",
        "StudyDate=20240101-20241231",
        "-k",
        "PatientID=",
    )
    assert matched_patients(year) == ["QK-2024"]
    until = dicom_identity(
        config, env, tmp_path, "find", "local", "-k", "StudyDate=-20231231", "-k", "PatientID"
    )
    assert matched_patients(until) == ["QK-2023"]


def test_get_refuses_a_bad_key_too(
    pacs: EmbeddedPacs, config: Path, env: dict[str, str], tmp_path: Path
) -> None:
    before = len(pacs.records)
    out = tmp_path / "got"
    result = dicom_identity(
        config, env, tmp_path, "get", "local", "-k", "StudyInstanceUID=1.2.*", "--output", str(out)
    )
    assert result.returncode == 3, result.stderr
    assert "whole UID" in result.stderr
    assert len(pacs.records) == before and not out.exists()


# --- parity with DCMTK's findscu: the same -k strings, the same identifier on the wire ------------

PARITY_KEYS = [
    "QueryRetrieveLevel=STUDY",
    "PatientID=QK*",
    "0010,0010=Doe^J*",
    "(0008,0020)=20240101-20241231",
    "StudyInstanceUID",
    "AccessionNumber=",
    "ModalitiesInStudy=CT\\MR",
    "ReferencedStudySequence[0].ReferencedSOPClassUID=" + CT,
    "(0008,1110)[0].(0008,1155)=",
    "0008,1032[0].0008,0100",
    "RequestAttributesSequence",
    "0040,0275[0]",
]


@pytest.fixture
def recording_scp() -> Iterator[tuple[int, list[Dataset]]]:
    """A pynetdicom Study Root C-FIND SCP that keeps each identifier it receives."""
    received: list[Dataset] = []

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        received.append(event.identifier)
        yield 0x0000, None

    ae = AE(ae_title="RECORDER")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find)]
    )
    assert server is not None
    try:
        yield int(server.server_address[1]), received
    finally:
        server.shutdown()


def test_findscu_key_strings_give_the_same_identifier(
    recording_scp: tuple[int, list[Dataset]],
) -> None:
    findscu = require_program("findscu", "dcmtk")
    port, received = recording_scp
    keys = [arg for key in PARITY_KEYS for arg in ("-k", key)]
    ran = subprocess.run(
        [findscu, "-S", "-aec", "RECORDER", *keys, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert ran.returncode == 0 and len(received) == 1, ran.stdout + ran.stderr
    client = Client(Peer("127.0.0.1", port, "RECORDER"), timeouts=OPERATIONS)
    client.find(parse_query_keys(PARITY_KEYS, level="STUDY"), level="STUDY")
    assert len(received) == 2
    from_findscu, from_sdk = (ds.to_json_dict() for ds in received)
    # Two pairs of keys land in one sequence each (0008,1110 and 0040,0275).
    assert len(from_sdk) == len(PARITY_KEYS) - 2
    assert from_sdk == from_findscu
