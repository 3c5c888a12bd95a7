"""One study in by one protocol and out by the other, through the DICOMweb test stack.

In by STOW through each authenticating proxy (dicomweb-client on a plain ``requests`` session),
out by C-GET straight from Orthanc's DICOM port (pynetdicom); in by C-STORE, out by QIDO and WADO
through the proxy. Same instance, same pixel data. No SDK code.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydicom import Dataset
from pydicom.uid import CTImageStorage
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet  # type: ignore[attr-defined]

from client_sdk.testing import ct_dataset
from tests.orthanc_peer import OrthancPeer
from tests.web_helpers import (
    HTTP_TIMEOUT,
    access_line,
    session,
)
from tests.web_servers import ApacheProxy

# The shared fixtures (orthanc, the proxies, signing_key, kerberos_ticket, authed) by name.
pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


def dicomweb(proxy: ApacheProxy, auth: Any) -> Any:
    from dicomweb_client import DICOMwebClient

    return DICOMwebClient(proxy.url, session=session(auth), timeout=HTTP_TIMEOUT)


def study(seed: int) -> Dataset:
    ds = ct_dataset(patient_id=f"WEB-{seed}", seed=seed)
    # dicomweb-client writes the dataset as is: without a preamble there is no "DICM" and
    # Orthanc stores a file it cannot serve again by WADO.
    ds.preamble = b"\0" * 128
    return ds


def dimse_ae() -> AE:
    ae = AE(ae_title="WEBTEST")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = HTTP_TIMEOUT
    return ae


def c_get_study(orthanc: OrthancPeer, study_uid: str) -> list[Dataset]:
    received: list[Dataset] = []

    def on_store(event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds)
        return 0x0000

    ae = dimse_ae()
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate(
        "127.0.0.1",
        orthanc.dicom_port,
        ae_title=orthanc.ae_title,
        ext_neg=[build_role(CTImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established, orthanc.describe()
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    try:
        statuses = [
            status.Status
            for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet)
            if status
        ]
    finally:
        assoc.release()
    assert statuses[-1] == 0x0000, (statuses, orthanc.describe())
    return received


def c_store(orthanc: OrthancPeer, ds: Dataset) -> None:
    ae = dimse_ae()
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", orthanc.dicom_port, ae_title=orthanc.ae_title)
    assert assoc.is_established, orthanc.describe()
    try:
        status = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status and status.Status == 0x0000, (status, orthanc.describe())


def test_stow_through_the_proxy_then_c_get(
    orthanc: OrthancPeer, authed: tuple[ApacheProxy, Any]
) -> None:
    proxy, auth = authed
    sent = study(seed=1)
    mark = len(proxy.access_log())
    response = dicomweb(proxy, auth).store_instances([sent])
    assert not response.get("FailedSOPSequence"), (response, proxy.describe())
    (stored,) = response.ReferencedSOPSequence
    assert stored.ReferencedSOPInstanceUID == sent.SOPInstanceUID

    (got,) = c_get_study(orthanc, sent.StudyInstanceUID)
    assert got.SOPInstanceUID == sent.SOPInstanceUID
    assert got.PatientID == sent.PatientID
    assert got.PixelData == sent.PixelData
    # It went through the proxy, authenticated: the user column is not "-" (Negotiate has a
    # 401 before it).
    posted = access_line(proxy, mark, '"POST /dicom-web/studies HTTP/1.1"', status=200)
    assert not posted.startswith("200 - "), posted


def test_c_store_then_wado_through_the_proxy(
    orthanc: OrthancPeer, authed: tuple[ApacheProxy, Any]
) -> None:
    proxy, auth = authed
    sent = study(seed=2)
    c_store(orthanc, sent)

    client = dicomweb(proxy, auth)
    found = client.search_for_studies(search_filters={"StudyInstanceUID": sent.StudyInstanceUID})
    assert len(found) == 1, proxy.describe()
    got = client.retrieve_instance(
        sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID
    )
    assert got.SOPInstanceUID == sent.SOPInstanceUID
    assert got.PixelData == sent.PixelData
