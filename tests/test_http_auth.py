"""``providers._http_auth`` (issue 18): Basic against the real Apache proxy (mod_authn_file in
front of Orthanc's DICOMweb), where a credential may go, and what has no HTTP scheme.

Basic succeeds with the keyring's password and with one given by the caller, and a wrong one is
one 401 (the keyring is read again, the same password is not sent again); a password changed in
the keyring meanwhile is sent once more. A password or token over plain HTTP to a non-loopback
name is refused with nothing read and nothing sent, unless allowed; a credential goes to its own
origin only. SAML, a bare username and a chain are refused, saying why.

Bearer: tests/test_http_bearer_auth.py; Negotiate: tests/test_http_negotiate_auth.py; the debug
outputs: tests/test_http_auth_debug.py.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from providers import (
    CredentialUnavailable,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    PasswordProvider,
    ProviderChain,
    SamlFileProvider,
    UsernameProvider,
)
from providers._http_auth import http_auth
from providers._http_auth_errors import HttpAuthUnsupported, HttpAuthWrongOrigin, InsecureHttpAuth
from tests.conftest import poll, write_token
from tests.http_auth_helpers import lines_for, logged, new_mark, qido
from tests.web_helpers import HTTP_TIMEOUT, PASSWORD, make_token, session
from tests.web_servers import ApacheProxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop

SERVICE = "dicomweb-test"


@pytest.fixture
def keyring_provider(file_keyring: Any) -> KeyringPasswordProvider:
    file_keyring.set_password(SERVICE, "alice", PASSWORD)
    return KeyringPasswordProvider(SERVICE, "alice", backend=file_keyring)


# --- Basic ---------------------------------------------------------------------------------------


def test_basic_with_the_keyring_password(
    basic_proxy: ApacheProxy, keyring_provider: KeyringPasswordProvider
) -> None:
    auth = http_auth(keyring_provider, url=basic_proxy.url)
    for _ in range(3):
        mark = new_mark()
        reply = qido(auth, basic_proxy.url, mark)
        assert reply.status_code == 200, basic_proxy.describe()
        assert reply.history == []
        (line,) = logged(basic_proxy, mark, 1)
        assert line.startswith('200 alice "GET /dicom-web/studies?')
    assert "alice" in repr(auth) and PASSWORD not in repr(auth)


def test_basic_with_a_password_given_by_the_caller(basic_proxy: ApacheProxy) -> None:
    auth = http_auth(PasswordProvider("bob", "another"), url=basic_proxy.url)
    assert qido(auth, basic_proxy.url).status_code == 200


def test_basic_wrong_password_is_one_401(basic_proxy: ApacheProxy, file_keyring: Any) -> None:
    file_keyring.set_password(SERVICE, "alice", "not the password")
    provider = KeyringPasswordProvider(SERVICE, "alice", backend=file_keyring)
    mark = new_mark()
    reply = qido(http_auth(provider, url=basic_proxy.url), basic_proxy.url, mark)
    assert reply.status_code == 401
    assert reply.history == []  # the keyring was read again: the same password, no retry
    (line,) = logged(basic_proxy, mark, 1)
    assert line.startswith("401 alice ")


def test_basic_password_changed_in_the_keyring_is_sent_once_more(
    basic_proxy: ApacheProxy, file_keyring: Any
) -> None:
    file_keyring.set_password(SERVICE, "alice", "the old password")
    provider = KeyringPasswordProvider(SERVICE, "alice", backend=file_keyring)
    auth = http_auth(provider, url=basic_proxy.url)
    assert qido(auth, basic_proxy.url).status_code == 401
    file_keyring.set_password(SERVICE, "alice", PASSWORD)  # the password is changed
    mark = new_mark()
    reply = qido(auth, basic_proxy.url, mark)
    assert reply.status_code == 200
    assert [r.status_code for r in reply.history] == [401]
    refused, accepted = logged(basic_proxy, mark, 2)
    assert refused.startswith("401 alice ") and accepted.startswith("200 alice ")
    assert qido(auth, basic_proxy.url).history == []  # the new password goes first now


def test_basic_unknown_keyring_entry_is_a_typed_error(
    basic_proxy: ApacheProxy, file_keyring: Any
) -> None:
    provider = KeyringPasswordProvider(SERVICE, "nobody", backend=file_keyring)
    mark = new_mark()
    with pytest.raises(CredentialUnavailable, match=f"keyring set {SERVICE} nobody"):
        qido(http_auth(provider, url=basic_proxy.url), basic_proxy.url, mark)
    assert lines_for(basic_proxy, mark) == []  # nothing was sent (so nothing is logged late)


# --- plain HTTP and origins ----------------------------------------------------------------------


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every socket connect of the test (they still happen)."""
    seen: list[Any] = []
    real = socket.socket.connect

    def record(self: socket.socket, address: Any) -> None:
        seen.append(address)
        real(self, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    return seen


@pytest.mark.parametrize(
    "url",
    [
        "http://pacs.example.org/dicom-web",
        "http://10.1.2.3:8042/dicom-web",
        "http://localhost:8042/dicom-web",
        "http://localhost.:8042/dicom-web",
    ],
)
def test_password_or_token_over_plain_http_off_loopback_is_refused_with_nothing_sent(
    url: str,
    tmp_path: Path,
    connects: list[Any],
    no_keyring_access: list[str],
    signing_key: rsa.RSAPrivateKey,
) -> None:
    token_file = write_token(tmp_path / "token.jwt", make_token(signing_key))
    for provider in (KeyringPasswordProvider(SERVICE, "alice"), JwtFileProvider(token_file)):
        with pytest.raises(InsecureHttpAuth, match="over plain HTTP") as refused:
            qido(http_auth(provider, url=url), url)
        assert "nothing was sent" in str(refused.value)
    assert connects == []  # not even a connection was made
    assert no_keyring_access == []  # the password was not even read


def test_a_localhost_name_when_the_transport_checks_the_address(
    basic_proxy: ApacheProxy, keyring_provider: KeyringPasswordProvider
) -> None:
    from providers._http_deadline import DeadlineAdapter

    url = basic_proxy.url.replace("127.0.0.1", "localhost")
    auth = http_auth(keyring_provider, url=url, transport_checks_loopback=True)
    with session(auth) as s:
        s.mount("http://", DeadlineAdapter())  # closes a non-loopback connection unwritten
        assert s.get(f"{url}/studies", timeout=HTTP_TIMEOUT).status_code == 200


def test_plain_http_may_be_allowed_explicitly(keyring_provider: KeyringPasswordProvider) -> None:
    url = "http://pacs.example.org/dicom-web"
    auth = http_auth(keyring_provider, url=url, allow_plain_http=True)
    prepared = requests.Request("GET", f"{url}/studies").prepare()  # never sent
    assert auth(prepared).headers["Authorization"].startswith("Basic ")


def test_a_credential_goes_to_its_own_origin_only(
    basic_proxy: ApacheProxy, backend: str, keyring_provider: KeyringPasswordProvider
) -> None:
    """Orthanc's QIDO answers point at Orthanc itself: the proxy's password must not follow."""
    auth = http_auth(keyring_provider, url=basic_proxy.url)
    with pytest.raises(HttpAuthWrongOrigin, match=r"made for http://127\.0\.0\.1:"):
        qido(auth, backend.rstrip("/"))
    other_port = basic_proxy.url.replace(str(basic_proxy.port), str(basic_proxy.port + 1))
    with pytest.raises(HttpAuthWrongOrigin):
        qido(auth, other_port)
    with pytest.raises(HttpAuthWrongOrigin):
        qido(auth, basic_proxy.url.replace("http://", "https://"))


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        http_auth(PasswordProvider("bob", "another"), url="ftp://pacs.example.org/")


# --- what has no HTTP scheme ---------------------------------------------------------------------


def test_saml_is_refused_saying_why(tmp_path: Path) -> None:
    provider = SamlFileProvider(tmp_path / "assertion.xml")
    with pytest.raises(HttpAuthUnsupported, match="no standard HTTP binding") as refused:
        http_auth(provider, url="https://pacs.example.org/dicom-web")
    assert "TokenEndpointProvider" in str(refused.value) and "DIMSE" in str(refused.value)


@pytest.mark.parametrize(
    ("provider", "says"),
    [
        (UsernameProvider("alice"), "no proof"),
        (ProviderChain([UsernameProvider("alice")]), "give http_auth the provider"),
    ],
    ids=["username", "chain"],
)
def test_sources_without_an_http_scheme_are_refused(provider: Any, says: str) -> None:
    with pytest.raises(HttpAuthUnsupported, match=says):
        http_auth(provider, url="https://pacs.example.org/dicom-web")


# --- with dicomweb-client ------------------------------------------------------------------------


def logged_since(proxy: ApacheProxy, mark: int, count: int) -> list[str]:
    """The DICOMweb lines after the first ``mark`` lines, once ``count`` are there."""

    def since() -> list[str]:
        return [line for line in proxy.access_log()[mark:] if " /dicom-web/" in line]

    poll(lambda: len(since()) >= count, timeout=5, what=f"{count} lines")
    return since()


@pytest.mark.parametrize("scheme", ["basic", "bearer", "negotiate"])
def test_dicomweb_client_stores_finds_and_retrieves_through_each_auth_object(
    scheme: str,
    request: pytest.FixtureRequest,
    keyring_provider: KeyringPasswordProvider,
    signing_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    """dicomweb-client (the ecosystem's DICOMweb client) takes the auth object on its session:
    STOW-RS, QIDO-RS and WADO-RS, each request authenticated (and with Negotiate, each reply
    verified; the STOW body goes once, with the token)."""
    from dicomweb_client import DICOMwebClient

    from client_sdk.testing import ct_dataset

    if scheme == "basic":
        proxy: ApacheProxy = request.getfixturevalue("basic_proxy")
        auth = http_auth(keyring_provider, url=proxy.url)
    elif scheme == "bearer":
        proxy = request.getfixturevalue("bearer_proxy")
        token = write_token(tmp_path / "token.jwt", make_token(signing_key))
        auth = http_auth(JwtFileProvider(token), url=proxy.url)
    else:
        request.getfixturevalue("kerberos_ticket")
        proxy = request.getfixturevalue("negotiate_proxy")
        auth = http_auth(KerberosProvider(), url=proxy.url, hostname="localhost")
    sent = ct_dataset(patient_id=f"HTTP-AUTH-{scheme}", seed=len(scheme))
    sent.preamble = b"\0" * 128  # else no "DICM", and Orthanc cannot serve it by WADO
    mark = len(proxy.access_log())
    with session(auth) as s:
        client = DICOMwebClient(proxy.url, session=s, timeout=HTTP_TIMEOUT)
        stored = client.store_instances([sent])
        assert not stored.get("FailedSOPSequence"), (stored, proxy.describe())
        found = client.search_for_studies(
            search_filters={"StudyInstanceUID": sent.StudyInstanceUID}
        )
        assert len(found) == 1
        got = client.retrieve_instance(
            sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID
        )
    assert got.SOPInstanceUID == sent.SOPInstanceUID and got.PixelData == sent.PixelData
    # Three requests, each answered at once (no 401 first): the STOW body went once.
    requests_made = [line for line in logged_since(proxy, mark, 3) if "/ready" not in line]
    assert [line.split('"')[1].split()[0] for line in requests_made] == ["POST", "GET", "GET"]
    assert all(line.startswith("200 ") and not line.startswith("200 - ") for line in requests_made)
