"""Fixtures of the DICOMweb stack tests, loaded with ``pytest_plugins = ["tests.web_fixtures"]``.

One Orthanc with DICOMweb per test module, and behind it one Apache per scheme: ``basic_proxy``
(users alice and bob), ``negotiate_proxy`` (the k5test realm's HTTP/localhost), ``bearer_proxy``
(a fixed RSA JWK, audience ``AUDIENCE``). ``authed`` gives each (proxy, requests auth) in turn;
``kerberos_ticket`` kinits the realm's user into a cache of the test's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.orthanc_peer import OrthancPeer
from tests.web_helpers import (
    AUDIENCE,
    PASSWORD,
    BearerAuthHeader,
    kerberos_auth,
    make_token,
    public_jwk,
    rsa_key,
)
from tests.web_servers import (
    DICOMWEB_ROOT,
    ApacheProxy,
    BasicAuth,
    BearerAuth,
    NegotiateAuth,
    apache_proxy,
    orthanc_dicomweb,
)


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


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture(scope="module")
def bearer_proxy(backend: str, signing_key: rsa.RSAPrivateKey) -> Iterator[ApacheProxy]:
    scheme = BearerAuth(jwk=public_jwk(signing_key, "k1"), audience=AUDIENCE)
    with apache_proxy(backend, scheme=scheme) as proxy:
        yield proxy


@pytest.fixture
def kerberos_ticket(kerberos_realm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh ticket for the realm's user in a cache of this test's own."""
    ccache = kerberos_realm.kinit(ccache=str(tmp_path / "ccache"))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{ccache}")
    return str(kerberos_realm.user)


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
