"""``client_sdk.DicomWebClient`` (issue 18, step 2) against the real Apache+Orthanc stack, with
each scheme from the providers (Basic from a password, Bearer from a JWT file, Negotiate from a
Kerberos ticket): echo, find, get and store as for ``Client``; the same study in by STOW and out
by C-GET straight from Orthanc (``Client``), and in by C-STORE and out by WADO; a broken file
never sent; one audit event per call, with the identity of the provider."""

from __future__ import annotations

import http.client
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pydicom
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydicom import Dataset

from client_sdk import (
    AuditEvent,
    Client,
    DicomWebClient,
    EventOutcome,
    HttpAuthenticationRejected,
    InvalidDicomFile,
    Peer,
)
from client_sdk.testing import ct_dataset
from providers import JwtFileProvider, KerberosProvider, PasswordProvider
from tests.conftest import write_token
from tests.leak_search import find_leaks, planted
from tests.orthanc_peer import OrthancPeer
from tests.secret_exposure import exposure, outcome
from tests.web_helpers import PASSWORD, SUBJECT, access_since, make_token
from tests.web_servers import ApacheProxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


class Events:
    """An audit sink that keeps what it is given (the sink is not under test here)."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture(params=["basic", "negotiate", "bearer"])
def web(
    request: pytest.FixtureRequest, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> tuple[DicomWebClient, Events, str]:
    """(client, its audit events, the principal) for each scheme."""
    events = Events()
    scheme = request.param
    if scheme == "basic":
        proxy: ApacheProxy = request.getfixturevalue("basic_proxy")
        client = DicomWebClient(proxy.url, PasswordProvider("alice", PASSWORD), audit=events)
        return client, events, "alice"
    if scheme == "negotiate":
        principal = request.getfixturevalue("kerberos_ticket")
        proxy = request.getfixturevalue("negotiate_proxy")
        client = DicomWebClient(
            proxy.url, KerberosProvider(), kerberos_hostname="localhost", audit=events
        )
        return client, events, principal
    proxy = request.getfixturevalue("bearer_proxy")
    token = write_token(tmp_path / "token.jwt", make_token(signing_key))
    return DicomWebClient(proxy.url, JwtFileProvider(token), audit=events), events, SUBJECT


_SEEDS = {"PasswordProvider": 100, "KerberosProvider": 200, "JwtFileProvider": 300}


def study(seed: int) -> Dataset:
    return ct_dataset(patient_id=f"WEBC-{seed}", seed=seed)


def dimse(orthanc: OrthancPeer) -> Client:
    return Client(Peer("127.0.0.1", orthanc.dicom_port, orthanc.ae_title), audit=None)


def test_echo_and_one_audit_event_per_call(web: tuple[DicomWebClient, Events, str]) -> None:
    client, events, principal = web
    with client:
        assert client.echo() == 0x0000
        assert client.echo() == 0x0000
    assert [e.outcome for e in events.events] == [EventOutcome.SUCCESS] * 2
    event = events.events[0]
    assert event.peer_host == "127.0.0.1" and event.failure == ""
    assert event.principal == principal  # the bearer token's subject too
    assert f"principal='{principal}'" in client.outcome().summary()


def test_stow_then_c_get_from_orthanc(
    web: tuple[DicomWebClient, Events, str], orthanc: OrthancPeer, tmp_path: Path
) -> None:
    client, _, _ = web
    sent = study(seed=_SEEDS[type(client.identity).__name__] + 10)
    path = tmp_path / "in.dcm"
    sent.save_as(path, enforce_file_format=True)
    with client:
        assert client.store(path) == [0x0000]
    got = dimse(orthanc).get({"StudyInstanceUID": sent.StudyInstanceUID})
    (instance,) = got.datasets
    assert instance.SOPInstanceUID == sent.SOPInstanceUID
    assert instance.PixelData == sent.PixelData


def test_c_store_then_find_and_wado(
    web: tuple[DicomWebClient, Events, str], orthanc: OrthancPeer, tmp_path: Path
) -> None:
    client, events, _ = web
    sent = study(seed=_SEEDS[type(client.identity).__name__] + 20)
    assert dimse(orthanc).store(sent) == [0x0000]
    with client:
        (match,) = client.find({"PatientID": sent.PatientID, "StudyInstanceUID": ""})
        assert match.StudyInstanceUID == sent.StudyInstanceUID
        result = client.get({"PatientID": sent.PatientID}, output_dir=tmp_path / "out")
    assert result.completed == 1
    (written,) = result.paths
    assert written.name == f"{sent.SOPInstanceUID}.dcm"
    got = pydicom.dcmread(written)
    assert got.SOPInstanceUID == sent.SOPInstanceUID and got.PixelData == sent.PixelData
    assert len(events.events) == 2


def test_store_many_goes_on_past_a_broken_file(
    basic_proxy: ApacheProxy, orthanc: OrthancPeer, tmp_path: Path
) -> None:
    good, other = study(seed=3001), study(seed=3002)
    paths = [tmp_path / "good.dcm", tmp_path / "broken.dcm", tmp_path / "other.dcm"]
    good.save_as(paths[0], enforce_file_format=True)
    other.save_as(paths[2], enforce_file_format=True)
    paths[1].write_bytes(paths[2].read_bytes()[:-100])  # truncated: never sent
    seen: list[str] = []
    with DicomWebClient(basic_proxy.url, PasswordProvider("alice", PASSWORD)) as client:
        report = client.store_many(paths, progress=lambda r: seen.append(r.result))
    assert seen == ["stored", "failed", "stored"]
    assert report.stored == 2 and isinstance(report.failed[0].error, InvalidDicomFile)
    found = dimse(orthanc).find({"PatientID": "WEBC-300*", "StudyInstanceUID": ""})
    assert {str(ds.StudyInstanceUID) for ds in found} == {
        good.StudyInstanceUID,
        other.StudyInstanceUID,
    }


def test_a_wrong_password_is_rejected_and_audited(basic_proxy: ApacheProxy) -> None:
    events = Events()
    client = DicomWebClient(basic_proxy.url, PasswordProvider("alice", "wrong"), audit=events)
    mark = len(basic_proxy.access_log())
    started = time.monotonic()
    with client, pytest.raises(HttpAuthenticationRejected) as rejected:
        client.find({"PatientID": "*"})
    assert time.monotonic() - started < 5  # no back-off and retry
    # One request: the refused password is not sent again (dicomweb-client would retry it).
    assert access_since(basic_proxy, mark, 1)[0].startswith("401 ")
    assert len(basic_proxy.access_log()) == mark + 1
    assert rejected.value.challenges[0].is_scheme("Basic")
    (event,) = events.events
    assert event.outcome != EventOutcome.SUCCESS
    assert event.failure == "HttpAuthenticationRejected" and event.principal == "alice"


def test_patient_level_is_refused_saying_why(basic_proxy: ApacheProxy) -> None:
    client = DicomWebClient(basic_proxy.url, PasswordProvider("alice", PASSWORD))
    with client, pytest.raises(ValueError, match="no patient level"):
        client.find({"PatientID": "X"}, level="PATIENT")


def test_the_repr_holds_no_password(basic_proxy: ApacheProxy) -> None:
    client: Any = DicomWebClient(basic_proxy.url, PasswordProvider("alice", PASSWORD))
    assert PASSWORD not in repr(client) and PASSWORD not in repr(client.session)
    client.close()


def test_the_kerberos_example(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str, orthanc: OrthancPeer
) -> None:
    sent = study(seed=4000)
    assert dimse(orthanc).store(sent) == [0x0000]
    example = Path(__file__).resolve().parent.parent / "examples" / "dicomweb_kerberos.py"
    args = ["--url", negotiate_proxy.url, "--service-host", "localhost"]
    result = subprocess.run(
        [sys.executable, str(example), *args, "--patient-id", sent.PatientID],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # inherits KRB5CCNAME and the realm's KRB5_CONFIG
    assert result.returncode == 0, result.stderr
    assert f"principal='{kerberos_ticket}'" in result.stdout
    assert "response=verified decision=confirmed studies=1" in result.stdout
    assert f"StudyInstanceUID={sent.StudyInstanceUID}" in result.stdout


@pytest.mark.parametrize("trusted", [True, False], ids=["accepted", "refused"])
def test_no_token_in_debug_output_errors_or_audit_events(
    bearer_proxy: ApacheProxy,
    signing_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    trusted: bool,
) -> None:
    key = signing_key if trusted else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = make_token(key)
    path = write_token(tmp_path / "token.jwt", token)
    events = Events()
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    with caplog.at_level(logging.DEBUG):
        for name in ("urllib3", "requests", "providers", "client_sdk", "dicomweb_client"):
            caplog.set_level(logging.DEBUG, logger=name)
        client = DicomWebClient(bearer_proxy.url, JwtFileProvider(path), audit=events)
        with client:
            shown = outcome(lambda: client.find({"PatientID": "*"}))
    texts = [repr(client), *(repr(e.as_dict()) for e in events.events)]
    if isinstance(shown, BaseException):
        texts.append(exposure(shown))
    assert isinstance(shown, list) == trusted
    captured = capfd.readouterr()
    text = "\n".join([captured.out, captured.err, caplog.text, *texts])
    assert "send: b'GET /dicom-web/studies" in captured.out  # the debug output was on
    signature = token.rsplit(".", 1)[1]
    for form, planted_text in planted(token.encode()).items():
        assert find_leaks(planted_text, [token]), f"the search would miss {form}"
    assert find_leaks(text, [token, signature]) == []
