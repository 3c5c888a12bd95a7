"""The DICOMweb test stack (tests/web_servers.py) proven with plain ``requests``, no SDK code.

Orthanc with its DICOMweb plugin runs behind Apache proxies: Basic (mod_authn_file), Negotiate
(mod_auth_gssapi against the k5test realm), bearer JWTs (mod_oauth2: a fixed JWK, a JWKS URI, and
the tests' OpenID Provider) and none. Each accepts its credential and answers 401 with its
challenge to a wrong or missing one. Apache's process group is gone after the fixture ends.
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

from tests.conftest import poll
from tests.orthanc_peer import OrthancPeer
from tests.web_helpers import (
    AUDIENCE,
    BASIC_CHALLENGE,
    HTTP_TIMEOUT,
    KRB5_MECH_OID,
    PASSWORD,
    SUBJECT,
    access_since,
    bearer,
    kerberos_auth,
    make_token,
    public_jwk,
    qido,
    rsa_key,
    session,
)
from tests.web_servers import (
    DICOMWEB_ROOT,
    REALM_NAME,
    ApacheProxy,
    BasicAuth,
    BearerAuth,
    NoAuth,
    apache_proxy,
    require_file,
    serve_jwks,
)

# The shared fixtures (orthanc, the proxies, signing_key, kerberos_ticket, authed) by name.
pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def jwks_proxy(backend: str, signing_key: rsa.RSAPrivateKey) -> Iterator[ApacheProxy]:
    other = public_jwk(rsa_key(), "k0")  # a key set of two: the token's kid picks the key
    with (
        serve_jwks({"keys": [other, public_jwk(signing_key, "k1")]}) as jwks_uri,
        apache_proxy(backend, scheme=BearerAuth(jwks_uri=jwks_uri)) as proxy,
    ):
        yield proxy


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
        mark = len(proxy.access_log())
        reply = qido(proxy)
        assert reply.status_code == 200, proxy.describe()
        assert reply.json() == qido(backend.rstrip("/")).json()
        (line,) = access_since(proxy, mark, 1)
        assert line.startswith('200 - "GET /dicom-web/studies ')
        assert "WWW-Authenticate" not in reply.headers


# --- Basic ---------------------------------------------------------------------------------------


def test_basic_accepts_the_right_password(basic_proxy: ApacheProxy) -> None:
    mark = len(basic_proxy.access_log())
    reply = qido(basic_proxy, auth=("alice", PASSWORD))
    assert reply.status_code == 200, basic_proxy.describe()
    (line,) = access_since(basic_proxy, mark, 1)
    assert line.startswith('200 alice "GET /dicom-web/studies ')


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
    mark = len(negotiate_proxy.access_log())
    reply = qido(negotiate_proxy, auth=kerberos_auth())
    assert reply.status_code == 200, negotiate_proxy.describe()
    # The server's mutual-authentication token came back (and requests-kerberos verified it:
    # with REQUIRED it raises MutualAuthenticationError otherwise).
    assert reply.headers["WWW-Authenticate"].startswith("Negotiate ")
    assert len(reply.headers["WWW-Authenticate"]) > len("Negotiate ") + 20
    assert negotiate_proxy.principal == f"HTTP/localhost@{kerberos_ticket.split('@')[1]}"
    challenge, accepted = access_since(negotiate_proxy, mark, 2)
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
    mark = len(bearer_proxy.access_log())
    reply = qido(bearer_proxy, headers=bearer(make_token(signing_key)))
    assert reply.status_code == 200, bearer_proxy.describe()
    (line,) = access_since(bearer_proxy, mark, 1)
    assert line.startswith(f'200 {SUBJECT} "GET /dicom-web/studies ')
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


def test_bearer_access_token_of_the_openid_provider(oidc_provider: Any, backend: str) -> None:
    """mod_oauth2 takes the keys from the provider's JWKS; the token is an RFC 9068 JWT for the
    PACS audience, got by client credentials."""
    from tests.oidc_requests import client_credentials

    scheme = BearerAuth(jwks_uri=oidc_provider.endpoint("jwks"), audience=oidc_provider.audience)
    with apache_proxy(backend, scheme=scheme) as proxy:
        answer = client_credentials(oidc_provider, "post")
        assert answer.status_code == 200, answer.text
        token = answer.json()["access_token"]
        mark = len(proxy.access_log())
        reply = qido(proxy, headers=bearer(token))
        assert reply.status_code == 200, proxy.describe()
        client_id = oidc_provider.clients["post"].client_id
        (line,) = access_since(proxy, mark, 1)
        assert line.startswith(f'200 {client_id} "GET /dicom-web/studies ')
        # the same claims signed by a key the provider does not have
        forged = make_token(rsa_key(), kid=jwt.get_unverified_header(token)["kid"])
        assert qido(proxy, headers=bearer(forged)).status_code == 401


def test_a_missing_module_skips_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = Path("/usr/lib/apache2/modules/mod_no_such_module.so")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install libapache2-mod-x$"):
        require_file(missing, "libapache2-mod-x")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^CI=true and .*mod_no_such_module\.so is"):
        require_file(missing, "libapache2-mod-x")


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
