"""``DicomWebClient.find`` and ``get`` at SERIES and IMAGE level (issue 18) against the real
Apache (Basic) + Orthanc stack: QIDO-RS ``/series`` and ``/instances`` filtered by the UIDs,
WADO-RS of one series and of one instance, each request seen in Apache's access log. One study of
two series (two instances, then one) goes in by C-STORE straight to Orthanc."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom import Dataset
from pydicom.uid import generate_uid

from client_sdk import Client, DicomWebClient, Peer
from client_sdk.testing import ct_dataset
from providers import PasswordProvider
from tests.orthanc_peer import OrthancPeer
from tests.web_helpers import PASSWORD, access_line
from tests.web_servers import ApacheProxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def two_series(orthanc: OrthancPeer) -> list[Dataset]:
    """Instances a and b in series 1, c in series 2, of one study."""
    study, first, second = generate_uid(), generate_uid(), generate_uid()
    instances = [
        ct_dataset(patient_id="LEVELS-1", study_uid=study, series_uid=series, seed=seed)
        for seed, series in ((501, first), (502, first), (503, second))
    ]
    dimse = Client(Peer("127.0.0.1", orthanc.dicom_port, orthanc.ae_title), audit=None)
    assert dimse.store(*instances) == [0x0000] * 3
    return instances


def web(proxy: ApacheProxy) -> DicomWebClient:
    return DicomWebClient(proxy.url, PasswordProvider("alice", PASSWORD), timeout=20)


def logged(proxy: ApacheProxy, mark: int, request: str) -> str:
    """The first request line after ``mark`` that starts with ``request``, with status 200,
    once Apache has logged it."""
    return access_line(proxy, mark, f'"{request}', status=200).split('"')[1]


def test_find_series_of_a_study(basic_proxy: ApacheProxy, two_series: list[Dataset]) -> None:
    a, _, c = two_series
    mark = len(basic_proxy.access_log())
    with web(basic_proxy) as client:
        found = client.find(
            {"StudyInstanceUID": a.StudyInstanceUID, "SeriesInstanceUID": ""}, level="SERIES"
        )
    assert {str(ds.SeriesInstanceUID) for ds in found} == {a.SeriesInstanceUID, c.SeriesInstanceUID}
    assert a.StudyInstanceUID in logged(basic_proxy, mark, "GET /dicom-web/series?")


def test_find_instances_of_a_series(basic_proxy: ApacheProxy, two_series: list[Dataset]) -> None:
    a, b, _ = two_series
    keys = {
        "StudyInstanceUID": a.StudyInstanceUID,
        "SeriesInstanceUID": a.SeriesInstanceUID,
        "SOPInstanceUID": "",
    }
    mark = len(basic_proxy.access_log())
    with web(basic_proxy) as client:
        found = client.find(keys, level="IMAGE")
    assert {str(ds.SOPInstanceUID) for ds in found} == {a.SOPInstanceUID, b.SOPInstanceUID}
    assert a.SeriesInstanceUID in logged(basic_proxy, mark, "GET /dicom-web/instances?")


def test_get_one_series(
    basic_proxy: ApacheProxy, two_series: list[Dataset], tmp_path: Path
) -> None:
    a, b, _ = two_series
    keys = {"StudyInstanceUID": a.StudyInstanceUID, "SeriesInstanceUID": a.SeriesInstanceUID}
    mark = len(basic_proxy.access_log())
    with web(basic_proxy) as client:
        result = client.get(keys, level="SERIES", output_dir=tmp_path)
    assert result.completed == 2
    assert sorted(p.name for p in result.paths) == sorted(
        f"{ds.SOPInstanceUID}.dcm" for ds in (a, b)
    )
    for sent in (a, b):
        assert pydicom.dcmread(tmp_path / f"{sent.SOPInstanceUID}.dcm").PixelData == sent.PixelData
    wado = f"GET /dicom-web/studies/{a.StudyInstanceUID}/series/{a.SeriesInstanceUID} "
    assert logged(basic_proxy, mark, wado)


def test_get_one_instance(basic_proxy: ApacheProxy, two_series: list[Dataset]) -> None:
    _, b, _ = two_series
    keys = {
        "StudyInstanceUID": b.StudyInstanceUID,
        "SeriesInstanceUID": b.SeriesInstanceUID,
        "SOPInstanceUID": b.SOPInstanceUID,
    }
    mark = len(basic_proxy.access_log())
    with web(basic_proxy) as client:
        result = client.get(keys, level="IMAGE")
    (got,) = result.datasets
    assert got.SOPInstanceUID == b.SOPInstanceUID and got.PixelData == b.PixelData
    wado = (
        f"GET /dicom-web/studies/{b.StudyInstanceUID}/series/{b.SeriesInstanceUID}"
        f"/instances/{b.SOPInstanceUID} "
    )
    assert logged(basic_proxy, mark, wado)
