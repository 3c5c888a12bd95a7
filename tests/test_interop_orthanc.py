"""The SDK against a real Orthanc (Debian's orthanc 1.10) on 127.0.0.1.

Orthanc ignores the User Identity item: it never verifies it and never answers it (no 59H item in
the A-ASSOCIATE-AC), so a requested positive response is always missing. Shown here:

* the default policy (ABORT) raises ``ServerResponseMissing`` and Orthanc logs the A-ABORT, for
  identity types 1, 2 and 5;
* with ``MissingResponse.WARN`` the SDK stores a study, finds it (C-FIND), and gets it back both
  by C-GET and by C-MOVE to an embedded PACS, with the same instances and pixel data;
* Orthanc's own C-MOVE sub-association to the destination carries no identity.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid

from client_sdk import (
    Client,
    Decision,
    MissingResponse,
    Peer,
    Policy,
    ServerResponseMissing,
)
from client_sdk.testing import EmbeddedPacs, ct_dataset
from providers import IdentityProvider, JwtFileProvider, PasswordProvider, UsernameProvider
from tests.conftest import AUDIENCE, make_jwt, require_program, write_token
from tests.orthanc_peer import OrthancPeer
from tests.timeouts import THIRD_PARTY

pytestmark = pytest.mark.interop

DUMMY_PASSWORD = "dummy-orthanc-passcode"  # Orthanc checks nothing: any value is "accepted"
ABORT_LINE = r"Association Aborted with AET DICOM_IDENTITY on IP 127\.0\.0\.1"
AC_DUMP = r"(?s)=+ BEGIN A-ASSOCIATE-AC =+\n(.*?)=+ END A-ASSOCIATE-AC =+"


@pytest.fixture(scope="module")
def destination() -> Iterator[EmbeddedPacs]:
    """The C-MOVE destination Orthanc knows as modality "SDK" (AE title SDKDEST)."""
    with EmbeddedPacs(ae_title="SDKDEST", port=0) as pacs:
        yield pacs


@pytest.fixture(scope="module")
def orthanc(
    tmp_path_factory: pytest.TempPathFactory, destination: EmbeddedPacs
) -> Iterator[OrthancPeer]:
    program = require_program("Orthanc", "orthanc")
    peer = OrthancPeer(
        program,
        tmp_path_factory.mktemp("orthanc"),
        modalities={"SDK": ("SDKDEST", "127.0.0.1", destination.port)},
        # DCMTK's association dumps: what Orthanc itself says it received and answered.
        extra_args=("--verbose", "--trace-dicom"),
    )
    with peer:
        yield peer


@contextmanager
def peer_log(orthanc: OrthancPeer, *more: EmbeddedPacs) -> Iterator[None]:
    """Any failure inside gets Orthanc's log (and the embedded PACS records) attached."""
    try:
        yield
    except Exception as exc:
        extra = "".join(f"\n{pacs!r} records: {pacs.records}" for pacs in more)
        raise AssertionError(f"{type(exc).__name__}: {exc}{extra}\n{orthanc.describe()}") from exc


def peer_of(orthanc: OrthancPeer) -> Peer:
    return Peer("127.0.0.1", orthanc.dicom_port, orthanc.ae_title)


def _username(tmp_path: Path) -> IdentityProvider:
    return UsernameProvider("alice", positive_response=True)


def _password(tmp_path: Path) -> IdentityProvider:
    return PasswordProvider("alice", DUMMY_PASSWORD, positive_response=True)


def _jwt(tmp_path: Path) -> IdentityProvider:
    path = write_token(tmp_path / "token.jwt", make_jwt())
    return JwtFileProvider(path, audience=AUDIENCE, positive_response=True)


@pytest.mark.parametrize(
    ("make_provider", "identity_type", "type_label"),
    [
        pytest.param(_username, 1, "username", id="type1"),
        pytest.param(_password, 2, "username+passcode", id="type2"),
        pytest.param(_jwt, 5, "jwt", id="type5"),
    ],
)
def test_orthanc_never_answers_so_the_default_policy_aborts(
    orthanc: OrthancPeer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make_provider: Callable[[Path], IdentityProvider],
    identity_type: int,
    type_label: str,
) -> None:
    caplog.set_level(logging.INFO, logger="client_sdk")
    client = Client(peer_of(orthanc), identity=make_provider(tmp_path), timeouts=THIRD_PARTY)
    before = orthanc.process.log_size()
    with peer_log(orthanc):
        with pytest.raises(ServerResponseMissing) as info:
            client.echo()
        message = str(info.value)
        assert "sent no user identity response" in message
        assert "association aborted" in message
        assert DUMMY_PASSWORD not in message
        outcomes = [r.getMessage() for r in caplog.records if r.name == "client_sdk.association"]
        assert any(
            f"identity={type_label} principal=" in line
            and "response=missing" in line
            and "decision=abort" in line
            for line in outcomes
        ), outcomes
        # Orthanc accepted the association, then saw our A-ABORT (not a release, not a reset).
        orthanc.process.wait_for(ABORT_LINE, after=before, timeout=10)
        # Orthanc's own dump of the A-ASSOCIATE-AC it sent: our item seen, no response in it.
        accept = orthanc.process.wait_for(AC_DUMP, after=before, timeout=5).group(1)
        assert f"Authentication mode {identity_type}:" in accept
        assert "Positive Response requested: Yes" in accept
        assert "User Identity Negotiation Response:  none" in accept
        if identity_type == 2:
            # A peer fact worth knowing: with --trace-dicom Orthanc (DCMTK) logs the passcode in
            # clear. Hence the dummy value; never point --trace-dicom at real credentials.
            assert f"Password: [{DUMMY_PASSWORD}]" in accept


def test_orthanc_store_find_get_move_with_warn_policy(
    orthanc: OrthancPeer, destination: EmbeddedPacs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="client_sdk")
    destination.wait_for_records(0)
    destination.clear()
    client = Client(
        peer_of(orthanc),
        identity=PasswordProvider("alice", DUMMY_PASSWORD, positive_response=True),
        policy=Policy(missing_response=MissingResponse.WARN),
        timeouts=THIRD_PARTY,
    )
    study, series = generate_uid(), generate_uid()
    sent: list[Dataset] = []
    for number in (1, 2, 3):
        ds = ct_dataset(study_uid=study, series_uid=series, patient_id="INTEROP-1", seed=number)
        ds.InstanceNumber = number
        sent.append(ds)
    expected = contents(sent)

    with peer_log(orthanc, destination):
        with client.associate() as session:
            assert session.outcome.decision is Decision.WARN
            assert not session.outcome.response_received
            statuses = [session.store(ds) for ds in sent]
        assert statuses == [0, 0, 0]

        studies = client.find(
            {"StudyInstanceUID": study, "PatientID": "", "NumberOfStudyRelatedInstances": ""},
            level="STUDY",
        )
        assert [str(s.StudyInstanceUID) for s in studies] == [study]
        assert str(studies[0].PatientID) == "INTEROP-1"
        assert int(studies[0].NumberOfStudyRelatedInstances) == len(sent)
        images = client.find(
            {"StudyInstanceUID": study, "SeriesInstanceUID": series, "SOPInstanceUID": ""},
            level="IMAGE",
        )
        assert sorted(str(i.SOPInstanceUID) for i in images) == sorted(expected)

        got = client.get({"StudyInstanceUID": study}, level="STUDY")
        assert (got.status, got.completed, got.failed) == (0, len(sent), 0), got
        assert contents(got.datasets) == expected

        moved = client.move({"StudyInstanceUID": study}, destination="SDKDEST", level="STUDY")
        assert (moved.status, moved.completed, moved.failed) == (0, len(sent), 0), moved
        assert moved.datasets == ()
        # Orthanc's sub-association to the destination: its own AE title, no identity at all.
        (record,) = destination.wait_for_records(1, timeout=10)
        assert record.calling_ae_title == orthanc.ae_title
        assert record.called_ae_title == "SDKDEST"
        assert record.identity_type is None
        assert record.dimse == ["C-STORE"] * len(sent)
        assert record.ended == "released"
        assert contents(destination.datasets) == expected

    # Every association (store, 2 finds, get, move) went on with one WARNING each.
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "client_sdk.association" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 5, warnings
    assert all("did not confirm the username+passcode identity of 'alice'" in w for w in warnings)
    assert not any(DUMMY_PASSWORD in r.getMessage() for r in caplog.records)


def contents(datasets: Iterator[Dataset] | list[Dataset] | tuple[Dataset, ...]) -> dict[str, bytes]:
    return {str(ds.SOPInstanceUID): bytes(ds.PixelData) for ds in datasets}


def test_a_port_taken_before_orthanc_binds_it_is_picked_again(tmp_path: Path) -> None:
    """The DICOM port picked for Orthanc is taken by another socket before Orthanc starts (as an
    outgoing connection's source port can be, on a busy machine): Orthanc exits saying so, and
    is started again on a new port, which answers a C-ECHO."""
    program = require_program("Orthanc", "orthanc")
    peer = OrthancPeer(program, tmp_path / "orthanc")
    taken = peer.dicom_port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        with peer:
            assert peer.dicom_port != taken
            assert "already in use" in peer.process.log()
            with Client(peer_of(peer), timeouts=THIRD_PARTY).associate() as session:
                assert session.echo() == 0x0000
