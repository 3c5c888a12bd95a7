"""``client.associate(services=...)`` proposes only the contexts of the named services (issue 16),
against the embedded PACS and DCMTK storescp."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import UID

from client_sdk import (
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    VERIFICATION,
    Client,
    DimseFailure,
    Peer,
    Session,
)
from client_sdk.testing import CT_IMAGE_STORAGE, EmbeddedPacs, ct_dataset
from tests.dcmtk_peers import DcmtkPeers
from tests.fixtures_pacs import client_for
from tests.timeouts import LOCAL

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def proposed(session: Session) -> list[str]:
    return [str(cx.abstract_syntax) for cx in session.association.requestor.requested_contexts]


def test_echo_and_store_ct_propose_three_contexts(pacs: EmbeddedPacs) -> None:
    client = client_for(pacs)
    with client.associate(services={"echo", "store:CT"}) as session:
        assert sorted(proposed(session)) == sorted([VERIFICATION, CT_IMAGE_STORAGE, ENHANCED_CT])
        assert session.echo() == 0x0000
        assert session.store(ct_dataset()) == 0x0000
        mr = ct_dataset(seed=1)
        mr.SOPClassUID = mr.file_meta.MediaStorageSOPClassUID = UID(MR_IMAGE_STORAGE)
        with pytest.raises(DimseFailure, match="impossible"):
            session.store(mr)  # not named, not proposed
    assert [r.dimse for r in pacs.wait_for_records(1)] == [["C-ECHO", "C-STORE"]]


def test_each_name_and_its_contexts(pacs: EmbeddedPacs) -> None:
    client = client_for(pacs)
    with client.associate(services="move") as session:
        assert proposed(session) == [STUDY_ROOT_FIND, STUDY_ROOT_MOVE]
    with client.associate(services=["find", "store:MRImageStorage"]) as session:
        assert proposed(session) == [STUDY_ROOT_FIND, MR_IMAGE_STORAGE]
        assert session.find({"PatientID": "nobody"}) == []
    with client.associate(services=[f"store:{CT_IMAGE_STORAGE}"], sop_classes=[VERIFICATION]) as s:
        assert proposed(s) == [VERIFICATION, CT_IMAGE_STORAGE]  # both, sop_classes first
    with client.associate(services={"store"}) as session:
        assert len(proposed(session)) == 120  # the default storage classes
    with client.associate(services={"get"}) as session:  # as retrieve=True
        assert proposed(session)[0] == STUDY_ROOT_GET
        assert any(cx.as_scp for cx in session.association.accepted_contexts)
        assert len(session.get({"PatientID": "nobody"}).datasets) == 0


@pytest.mark.parametrize(
    ("services", "error", "text"),
    [
        ("stor", ValueError, "unknown service 'stor'"),
        (["echo", "store:XX"], ValueError, "after store: give a modality (CT, MR"),
        (["store:1..2"], ValueError, "a SOP Class UID"),
        ([], ValueError, "names no service"),
        ([7], TypeError, "not 7"),
    ],
)
def test_an_unknown_service_sends_nothing(
    pacs: EmbeddedPacs, services: object, error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as raised:
        client_for(pacs).associate(services=services)  # type: ignore[arg-type]
    assert text in str(raised.value)
    assert pacs.records == []


def test_storescp_gets_what_was_named(tmp_path: Path) -> None:
    with DcmtkPeers(tmp_path) as dcmtk:
        scp = dcmtk.storescp()
        client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), timeouts=LOCAL)
        try:
            with client.associate(services=("echo", "store:ct")) as session:
                assert len(proposed(session)) == 3
                assert session.echo() == 0x0000
                assert session.store(ct_dataset()) == 0x0000
        except BaseException:
            print(dcmtk.reports())
            raise
