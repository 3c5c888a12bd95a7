"""The DICOMweb test stack (tests/web_servers.py) proven with plain ``requests``, no SDK code.

Orthanc with its DICOMweb plugin runs behind three Apache proxies: Basic (mod_authn_file), Negotiate
(mod_auth_gssapi against the k5test realm) and bearer JWTs (mod_oauth2, a fixed JWK and a JWKS URI).
Each accepts its credential and answers 401 with its challenge to a wrong or missing one; a study
goes in by STOW through a proxy and out by C-GET from Orthanc's DICOM port, and in by C-STORE and
out by WADO through a proxy. Apache's process group is gone after the fixture ends.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from pydicom import Dataset
from pydicom.uid import CTImageStorage
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet  # type: ignore[attr-defined]

from client_sdk.testing.datasets import ct_dataset
from tests.conftest import poll
from tests.orthanc_peer import OrthancPeer
from tests.web_servers import (
    DICOMWEB_ROOT,
    REALM_NAME,
    ApacheProxy,
    BasicAuth,
    BearerAuth,
    NegotiateAuth,
    NoAuth,
    apache_proxy,
    orthanc_dicomweb,
    serve_jwks,
)

pytestmark = pytest.mark.interop

PASSWORD = "correct horse battery staple"
AUDIENCE = "DICOMWEB"
SUBJECT = "alice@example.org"
BASIC_CHALLENGE = f'Basic realm="{REALM_NAME}"'
HTTP_TIMEOUT = 20.0
KRB5_MECH_OID = bytes.fromhex("06092a864886f712010202")  # DER of 1.2.840.113554.1.2.2


def session(auth: Any = None) -> requests.Session:
    """No proxy or netrc from the environment: only 127.0.0.1 is contacted."""
    s = requests.Session()
    s.trust_env = False
    s.auth = auth
    return s


def qido(proxy_or_url: ApacheProxy | str, **kwargs: Any) -> requests.Response:
    base = proxy_or_url.url if isinstance(proxy_or_url, ApacheProxy) else proxy_or_url
    auth = kwargs.pop("auth", None)
    with session(auth) as s:
        return s.get(f"{base}/studies", timeout=HTTP_TIMEOUT, **kwargs)


# --- servers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancPeer]:
    with orthanc_dicomweb(tmp_path_factory.mktemp("orthanc-web")) as peer:
        yield peer


@pytest.fixture(scope="module")
def backend(orthanc: OrthancPeer) -> str:
    return orthanc.http_url + DICOMWEB_ROOT


@pytest.fixture(scope="module")
def basic_proxy(backend: str) -> Iterator[ApacheProxy]:
    with apache_proxy(backend, scheme=BasicAuth({"alice": PASSWORD, "bob": "another"})) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def negotiate_proxy(backend: str, kerberos_realm: Any) -> Iterator[ApacheProxy]:
    with apache_proxy(backend, scheme=NegotiateAuth(kerberos_realm)) as proxy:
        yield proxy


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture(scope="module")
def bearer_proxy(backend: str, signing_key: rsa.RSAPrivateKey) -> Iterator[ApacheProxy]:
    scheme = BearerAuth(jwk=public_jwk(signing_key, "k1"), audience=AUDIENCE)
    with apache_proxy(backend, scheme=scheme) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def jwks_proxy(backend: str, signing_key: rsa.RSAPrivateKey) -> Iterator[ApacheProxy]:
    other = public_jwk(rsa_key(), "k0")  # a key set of two: the token's kid picks the key
    with (
        serve_jwks({"keys": [other, public_jwk(signing_key, "k1")]}) as jwks_uri,
        apache_proxy(backend, scheme=BearerAuth(jwks_uri=jwks_uri)) as proxy,
    ):
        yield proxy


def make_token(
    key: rsa.RSAPrivateKey, *, kid: str = "k1", lifetime: float | None = 300, **claims: Any
) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"sub": SUBJECT, "aud": AUDIENCE, "iat": now}
    if lifetime is not None:
        body["exp"] = now + int(lifetime)
    body.update(claims)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class BearerAuthHeader(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def kerberos_auth(service: str = "HTTP") -> Any:
    from requests_kerberos import REQUIRED, HTTPKerberosAuth

    return HTTPKerberosAuth(
        mutual_authentication=REQUIRED, hostname_override="localhost", service=service
    )


@pytest.fixture
def kerberos_ticket(kerberos_realm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh ticket for the realm's user in a cache of this test's own."""
    ccache = kerberos_realm.kinit(ccache=str(tmp_path / "ccache"))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    return str(kerberos_realm.user)


def last_access(proxy: ApacheProxy, count: int) -> list[str]:
    """The last ``count`` access-log lines, once written (Apache logs after it replies)."""
    poll(lambda: len(proxy.access_log()) >= count, timeout=5, what="the access log")
    return proxy.access_log()[-count:]


# --- the servers answer ---------------------------------------------------------------------------


def test_orthanc_answers_dicomweb_directly(orthanc: OrthancPeer, backend: str) -> None:
    reply = qido(backend.rstrip("/"))
    assert reply.status_code == 200, orthanc.describe()
    assert reply.headers["Content-Type"].startswith("application/dicom+json")
    assert isinstance(reply.json(), list)
    assert orthanc.started_in is not None and orthanc.started_in < 15


def test_nothing_but_the_dicomweb_root_is_served(basic_proxy: ApacheProxy) -> None:
    with session(("alice", PASSWORD)) as s:
        assert (
            s.get(f"http://127.0.0.1:{basic_proxy.port}/", timeout=HTTP_TIMEOUT).status_code == 403
        )
        # Orthanc's REST API is behind the same port only under /dicom-web/.
        reply = s.get(f"http://127.0.0.1:{basic_proxy.port}/system", timeout=HTTP_TIMEOUT)
        assert reply.status_code == 403


def test_the_proxy_without_auth_passes_every_request(orthanc: OrthancPeer, backend: str) -> None:
    with apache_proxy(backend, scheme=NoAuth()) as proxy:
        reply = qido(proxy)
        assert reply.status_code == 200, proxy.describe()
        assert reply.json() == qido(backend.rstrip("/")).json()
        assert last_access(proxy, 1)[0].startswith('200 - "GET /dicom-web/studies ')
        assert "WWW-Authenticate" not in reply.headers


# --- Basic ---------------------------------------------------------------------------------------


def test_basic_accepts_the_right_password(basic_proxy: ApacheProxy) -> None:
    reply = qido(basic_proxy, auth=("alice", PASSWORD))
    assert reply.status_code == 200, basic_proxy.describe()
    assert reply.json() == qido(basic_proxy, auth=("alice", PASSWORD)).json()
    assert last_access(basic_proxy, 1)[0].startswith('200 alice "GET /dicom-web/studies ')


@pytest.mark.parametrize(
    "credential",
    [("alice", "wrong password"), ("bob", PASSWORD), ("mallory", PASSWORD), None],
    ids=["wrong-password", "other-users-password", "unknown-user", "none"],
)
def test_basic_refuses_a_wrong_or_missing_credential(
    basic_proxy: ApacheProxy, credential: tuple[str, str] | None
) -> None:
    reply = qido(basic_proxy, auth=credential)
    assert reply.status_code == 401, basic_proxy.describe()
    assert reply.headers["WWW-Authenticate"] == BASIC_CHALLENGE


# --- Negotiate -----------------------------------------------------------------------------------


def test_negotiate_accepts_a_ticket_with_mutual_authentication(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    reply = qido(negotiate_proxy, auth=kerberos_auth())
    assert reply.status_code == 200, negotiate_proxy.describe()
    # The server's mutual-authentication token came back (and requests-kerberos verified it:
    # with REQUIRED it raises MutualAuthenticationError otherwise).
    assert reply.headers["WWW-Authenticate"].startswith("Negotiate ")
    assert len(reply.headers["WWW-Authenticate"]) > len("Negotiate ") + 20
    assert negotiate_proxy.principal == f"HTTP/localhost@{kerberos_ticket.split('@')[1]}"
    challenge, accepted = last_access(negotiate_proxy, 2)
    assert challenge.startswith('401 - "GET /dicom-web/studies ')
    assert accepted.startswith(f'200 {kerberos_ticket} "GET /dicom-web/studies ')


def test_negotiate_challenges_a_request_without_a_token(negotiate_proxy: ApacheProxy) -> None:
    reply = qido(negotiate_proxy)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Negotiate"


def test_negotiate_refuses_a_ticket_for_another_service(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    # A real ticket, for the PACS's dicom/localhost: the HTTP keytab cannot decrypt it.
    reply = qido(negotiate_proxy, auth=kerberos_auth(service="dicom"))
    assert reply.status_code == 401, negotiate_proxy.describe()
    scheme, _, token = reply.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Negotiate"
    # mod_auth_gssapi answers with the failed context's output: a Kerberos KRB-ERROR (RFC 4121
    # token id 03 00, then [APPLICATION 30]) whose error-code is 35, KRB_AP_ERR_NOT_US.
    raw = base64.b64decode(token)
    assert raw[2:13] == KRB5_MECH_OID and raw[13:16] == b"\x03\x00\x7e", raw
    assert b"\xa6\x03\x02\x01\x23" in raw, raw
    assert "gss_accept_sec_context() failed" in negotiate_proxy.process.log()


def test_negotiate_refuses_a_garbage_token(negotiate_proxy: ApacheProxy) -> None:
    reply = qido(negotiate_proxy, headers={"Authorization": "Negotiate YIIBAAAAAAAA"})
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Negotiate"


# --- Bearer (mod_oauth2) -------------------------------------------------------------------------


def test_bearer_accepts_a_signed_token(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey
) -> None:
    reply = qido(bearer_proxy, headers=bearer(make_token(signing_key)))
    assert reply.status_code == 200, bearer_proxy.describe()
    assert last_access(bearer_proxy, 1)[0].startswith(f'200 {SUBJECT} "GET /dicom-web/studies ')
    # aud may be a list that holds the audience
    listed = make_token(signing_key, aud=["OTHER", AUDIENCE])
    assert qido(bearer_proxy, headers=bearer(listed)).status_code == 200


def test_bearer_challenges_a_request_without_a_token(bearer_proxy: ApacheProxy) -> None:
    reply = qido(bearer_proxy)
    assert reply.status_code == 401
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{REALM_NAME}"')
    assert 'error="invalid_request"' in challenge


def _wrong_key(key: rsa.RSAPrivateKey) -> str:
    return make_token(rsa_key())


def _expired(key: rsa.RSAPrivateKey) -> str:
    return make_token(key, lifetime=-5)


def _no_exp(key: rsa.RSAPrivateKey) -> str:
    return make_token(key, lifetime=None)


def _tampered(key: rsa.RSAPrivateKey) -> str:
    header, body, signature = make_token(key).split(".")
    claims = json.loads(jwt.utils.base64url_decode(body))
    forged = jwt.utils.base64url_encode(json.dumps({**claims, "sub": "root"}).encode()).decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "make", [_wrong_key, _expired, _no_exp, _tampered], ids=lambda f: f.__name__.strip("_")
)
def test_bearer_refuses_an_invalid_token(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, make: Callable[..., str]
) -> None:
    reply = qido(bearer_proxy, headers=bearer(make(signing_key)))
    assert reply.status_code == 401, bearer_proxy.describe()
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{REALM_NAME}"')
    assert 'error="invalid_token"' in challenge


def test_bearer_forbids_a_token_for_another_audience(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey
) -> None:
    reply = qido(bearer_proxy, headers=bearer(make_token(signing_key, aud="SOMEONE-ELSE")))
    # Authenticated, not authorized: 403 (AuthzSendForbiddenOnFailure), not a challenge.
    assert reply.status_code == 403, bearer_proxy.describe()
    assert "WWW-Authenticate" not in reply.headers


def test_bearer_token_is_refused_once_it_expires(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey
) -> None:
    """mod_oauth2 caches verified tokens by default; the proxy turns that off (expiry=0)."""
    issued = int(time.time())
    token = make_token(signing_key, lifetime=1)
    assert qido(bearer_proxy, headers=bearer(token)).status_code == 200
    # mod_oauth2 compares whole seconds: wait (bounded) until "now" is past exp.
    poll(lambda: int(time.time()) > issued + 1, timeout=5, what="the token's exp")
    reply = qido(bearer_proxy, headers=bearer(token))
    assert reply.status_code == 401, bearer_proxy.describe()
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    assert "JWT expired" in bearer_proxy.process.log()


def test_bearer_keys_from_a_jwks_uri(
    jwks_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey
) -> None:
    assert qido(jwks_proxy, headers=bearer(make_token(signing_key))).status_code == 200
    # the right key id with another key's signature, and an unknown key id
    assert qido(jwks_proxy, headers=bearer(make_token(rsa_key()))).status_code == 401
    unknown_kid = make_token(signing_key, kid="nobody")
    assert qido(jwks_proxy, headers=bearer(unknown_kid)).status_code == 401
    assert qido(jwks_proxy, headers=bearer(_expired(signing_key))).status_code == 401


# --- one study in by one protocol, out by the other ----------------------------------------------


@pytest.fixture(params=["basic", "negotiate", "bearer"])
def authed(
    request: pytest.FixtureRequest, signing_key: rsa.RSAPrivateKey
) -> tuple[ApacheProxy, Any]:
    """(proxy, requests auth) for each scheme."""
    scheme = request.param
    if scheme == "basic":
        return request.getfixturevalue("basic_proxy"), ("alice", PASSWORD)
    if scheme == "negotiate":
        request.getfixturevalue("kerberos_ticket")
        return request.getfixturevalue("negotiate_proxy"), kerberos_auth()
    return request.getfixturevalue("bearer_proxy"), BearerAuthHeader(make_token(signing_key))


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
    response = dicomweb(proxy, auth).store_instances([sent])
    assert not response.get("FailedSOPSequence"), (response, proxy.describe())
    (stored,) = response.ReferencedSOPSequence
    assert stored.ReferencedSOPInstanceUID == sent.SOPInstanceUID

    (got,) = c_get_study(orthanc, sent.StudyInstanceUID)
    assert got.SOPInstanceUID == sent.SOPInstanceUID
    assert got.PatientID == sent.PatientID
    assert got.PixelData == sent.PixelData
    assert any(
        line.startswith("200 ") and "POST /dicom-web/studies" in line for line in proxy.access_log()
    )


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


# --- lifecycle -----------------------------------------------------------------------------------


def test_apache_stops_with_its_workers(backend: str) -> None:
    with apache_proxy(backend, scheme=BasicAuth({"alice": PASSWORD})) as proxy:
        assert proxy.started_in is not None and proxy.started_in < 15
        members = proxy.group_pids()
        assert len(members) >= 2, proxy.describe()  # the parent and at least one worker
        port = proxy.port
        assert qido(proxy, auth=("alice", PASSWORD)).status_code == 200
    assert not proxy.group_alive()
    assert all(not Path(f"/proc/{pid}").exists() for pid in members)
    with pytest.raises(requests.ConnectionError):
        qido(f"http://127.0.0.1:{port}{DICOMWEB_ROOT}".rstrip("/"))
    assert not proxy.folder.exists()
