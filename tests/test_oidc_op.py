"""The real OpenID Provider the type-5 tests use (tests/oidc_op, oidc-provider 9): what it does, so
the SDK's tests can rely on it. No SDK code here: plain HTTP with requests, JWTs checked with
PyJWT's PyJWKClient against the provider's jwks_uri, the person's part done by the fixture's
browser helpers. Facts a client must cope with are asserted too (no ``interval`` in the device
answer, Basic credentials form-encoded first, a replayed refresh token ends the grant)."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from pynetdicom import AE
from pynetdicom.pdu_primitives import UserIdentityNegotiation

from client_sdk import VERIFICATION
from client_sdk.testing import EmbeddedPacs
from tests.conftest import AUDIENCE, free_port, poll
from tests.oidc_browser import DeviceCodeRejected, LoginRejected
from tests.oidc_fixtures import (
    DEVICE_GRANT,
    PACS_RESOURCE,
    RunningOidcProvider,
    start_oidc_provider,
)
from tests.oidc_requests import (
    HTTP_TIMEOUT,
    JWT_BEARER,
    active,
    authorization_url,
    client_assertion,
    client_credentials,
    device_login,
    device_poll,
    device_start,
    form_basic,
    jwks_kids,
    pkce,
    post,
    refresh,
    verified,
    verified_access_token,
)

pytestmark = pytest.mark.usefixtures("no_outside_connections", "no_proxy_from_environment")


@pytest.fixture
def no_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyJWKClient fetches with urllib, which would honour a proxy from the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# -- discovery ------------------------------------------------------------------------------------


def test_discovery_names_every_endpoint_and_method_the_sdk_uses(
    oidc_provider: RunningOidcProvider,
) -> None:
    op = oidc_provider
    doc = op.discovery()
    assert doc["issuer"] == op.issuer
    assert op.issuer.startswith("http://127.0.0.1:")
    for name in ("authorization", "token", "device_authorization", "revocation", "introspection"):
        assert op.endpoint(name).startswith(op.issuer + "/"), name
    assert doc["jwks_uri"].startswith(op.issuer + "/")
    assert {"authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT} <= set(
        doc["grant_types_supported"]
    )
    assert {"client_secret_post", "client_secret_basic", "private_key_jwt", "none"} <= set(
        doc["token_endpoint_auth_methods_supported"]
    )
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert op.audience == AUDIENCE  # the audience the embedded PACS checks


# -- client credentials with each client authentication method ------------------------------------


@pytest.mark.parametrize("role", ["post", "basic", "private_key_jwt"])
def test_client_credentials_gives_a_jwt_for_the_pacs(
    oidc_provider: RunningOidcProvider, role: str
) -> None:
    op = oidc_provider
    answer = client_credentials(op, role)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    claims = verified_access_token(op, body["access_token"])
    client_id = op.clients[role].client_id
    assert (claims["sub"], claims["client_id"], claims["scope"]) == (client_id, client_id, "dicom")
    assert claims["exp"] - claims["iat"] == body["expires_in"] == op.ttl["ClientCredentials"]


@pytest.mark.parametrize("role", ["post", "basic", "private_key_jwt"])
def test_client_credentials_refused_with_wrong_credentials(
    oidc_provider: RunningOidcProvider, role: str
) -> None:
    op = oidc_provider
    client = op.clients[role]
    data = {"grant_type": "client_credentials"}
    if role == "post":
        answer = post(op, "token", data | {"client_id": client.client_id, "client_secret": "wrong"})
    elif role == "basic":
        answer = post(op, "token", data, headers=form_basic(client.client_id, "wrong"))
    else:  # a valid assertion, replayed: its jti was used once already
        assert client_credentials(op, role).status_code == 200
        assertion = client_assertion(op)
        data |= {"client_assertion_type": JWT_BEARER}
        assert post(op, "token", data | {"client_assertion": assertion}).status_code == 200
        answer = post(op, "token", data | {"client_assertion": assertion})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"


def test_basic_credentials_are_form_urlencoded_first(oidc_provider: RunningOidcProvider) -> None:
    """The Basic client's secret holds ':', '/' and '%41': sent as it is (requests' auth tuple),
    the provider decodes '%41' to 'A' and refuses it; RFC 6749 2.3.1's encoding is accepted."""
    op = oidc_provider
    client = op.clients["basic"]
    assert client.secret is not None
    assert "%" in client.secret
    data = {"grant_type": "client_credentials"}
    naive = post(op, "token", data, auth=(client.client_id, client.secret))
    assert (naive.status_code, naive.json()["error"]) == (401, "invalid_client")
    assert post(op, "token", data, headers=form_basic(client.client_id, client.secret)).ok


def test_resource_indicator_named_or_defaulted_and_unknown_ones_refused(
    oidc_provider: RunningOidcProvider,
) -> None:
    op = oidc_provider
    named = client_credentials(op, "post", resource=PACS_RESOURCE)
    assert verified_access_token(op, named.json()["access_token"])["aud"] == AUDIENCE
    unknown = client_credentials(op, "post", resource="https://other.invalid/")
    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_target")
    not_a_uri = client_credentials(op, "post", resource=AUDIENCE)
    assert not_a_uri.json()["error"] == "invalid_target"
    assert "absolute URI" in not_a_uri.json()["error_description"]


# -- the device flow (RFC 8628) -------------------------------------------------------------------


def test_device_flow_approved_gives_access_id_and_refresh_tokens(
    oidc_provider: RunningOidcProvider,
) -> None:
    op = oidc_provider
    started = device_start(op)
    assert started["verification_uri"] == f"{op.issuer}/device"
    assert "interval" not in started  # this provider sends none: pollers fall back to 5 s
    pending = device_poll(op, started["device_code"])
    assert (pending.status_code, pending.json()["error"]) == (400, "authorization_pending")
    op.approve_device(started["user_code"], "jürgen", op.users["jürgen"])
    tokens = device_poll(op, started["device_code"]).json()
    access = verified_access_token(op, tokens["access_token"])
    assert (access["sub"], access["client_id"]) == ("jürgen", op.clients["device"].client_id)
    identity = verified(op, tokens["id_token"], audience=op.clients["device"].client_id, typ=None)
    assert identity["sub"] == "jürgen"
    assert "nonce" not in identity  # nothing carries a nonce in the device flow
    assert tokens["refresh_token"]
    again = device_poll(op, started["device_code"])  # used once: a replay is refused
    assert again.json()["error"] == "invalid_grant"


def test_device_flow_denied_gives_access_denied(oidc_provider: RunningOidcProvider) -> None:
    op = oidc_provider
    started = device_start(op)
    op.deny_device(started["user_code"])
    answer = device_poll(op, started["device_code"])
    assert (answer.status_code, answer.json()["error"]) == (400, "access_denied")
    with pytest.raises(DeviceCodeRejected) as refused:  # the code cannot be approved any more
        op.approve_device(started["user_code"], "alice", op.users["alice"])
    assert refused.value.reason == "AlreadyUsedError"


def test_wrong_user_code_and_wrong_password_are_refused(oidc_provider: RunningOidcProvider) -> None:
    op = oidc_provider
    with pytest.raises(DeviceCodeRejected) as unknown:
        op.approve_device("BCDF-GHJK", "alice", op.users["alice"])
    assert unknown.value.reason == "NotFoundError"
    started = device_start(op)
    with pytest.raises(LoginRejected):
        op.approve_device(started["user_code"], "alice", "not alice's password")
    assert device_poll(op, started["device_code"]).json()["error"] == "authorization_pending"


def test_short_lifetimes_from_the_config(tmp_path: Any) -> None:
    """Device codes and access tokens live as long as the configuration says, so expiry tests
    take a second or two."""
    ttl = {"DeviceCode": 1, "ClientCredentials": 7, "AccessToken": 5}
    with start_oidc_provider(tmp_path, ttl=ttl) as op:
        token = client_credentials(op, "post").json()
        claims = verified_access_token(op, token["access_token"])
        assert claims["exp"] - claims["iat"] == token["expires_in"] == 7
        user_token = verified_access_token(op, device_login(op)["access_token"])
        assert user_token["exp"] - user_token["iat"] == 5
        started = device_start(op)
        assert started["expires_in"] == 1

        def expired() -> bool:
            error = device_poll(op, started["device_code"]).json()["error"]
            assert error in ("authorization_pending", "expired_token")
            return bool(error == "expired_token")

        poll(expired, timeout=5, what="the device code to expire")
        with pytest.raises(DeviceCodeRejected) as late:
            op.approve_device(started["user_code"], "alice", op.users["alice"])
        assert late.value.reason == "ExpiredError"


# -- authorization code with PKCE on a loopback redirect ------------------------------------------


def test_browser_login_with_pkce_gives_tokens_and_the_nonce(
    oidc_provider: RunningOidcProvider,
) -> None:
    op = oidc_provider
    verifier, challenge = pkce()
    redirect = f"http://127.0.0.1:{free_port()}/callback"  # any port: RFC 8252 loopback
    nonce, state = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = authorization_url(
        op,
        redirect,
        challenge,
        state=state,
        nonce=nonce,
        prompt="consent",  # else offline_access is dropped: no refresh token
    )
    callback = op.complete_browser_login(url, "alice", op.users["alice"])
    assert callback.startswith(redirect + "?")
    query = parse_qs(urlsplit(callback).query)
    assert (query["state"], query["iss"]) == ([state], [op.issuer])
    exchange = {"grant_type": "authorization_code", "code": query["code"][0]}
    exchange |= {"redirect_uri": redirect, "client_id": op.clients["browser"].client_id}
    wrong = post(op, "token", exchange | {"code_verifier": pkce()[0]})
    assert wrong.json()["error"] == "invalid_grant"
    # A failed exchange does not consume the code here; the right verifier still works.
    tokens = post(op, "token", exchange | {"code_verifier": verifier}).json()
    assert verified_access_token(op, tokens["access_token"])["sub"] == "alice"
    identity = verified(op, tokens["id_token"], audience=op.clients["browser"].client_id, typ=None)
    assert (identity["sub"], identity["nonce"]) == ("alice", nonce)
    assert tokens["refresh_token"]


def test_browser_login_without_prompt_consent_gives_no_refresh_token(
    oidc_provider: RunningOidcProvider,
) -> None:
    op = oidc_provider
    verifier, challenge = pkce()
    redirect = "http://127.0.0.1:8/callback"
    url = authorization_url(op, redirect, challenge)
    code = parse_qs(urlsplit(op.complete_browser_login(url, "alice", op.users["alice"])).query)
    exchange = {
        "grant_type": "authorization_code",
        "code": code["code"][0],
        "redirect_uri": redirect,
    }
    exchange |= {"client_id": op.clients["browser"].client_id, "code_verifier": verifier}
    tokens = post(op, "token", exchange).json()
    assert "access_token" in tokens
    assert "refresh_token" not in tokens


def test_browser_login_denied_and_callback_called(oidc_provider: RunningOidcProvider) -> None:
    """Abort on the consent page: the callback gets error=access_denied. With
    ``call_callback`` the browser requests the callback, as the SDK's listener will see it."""
    op = oidc_provider
    seen: list[str] = []

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with HTTPServer(("127.0.0.1", 0), Callback) as listener:
        listener.timeout = HTTP_TIMEOUT
        one_request = threading.Thread(target=listener.handle_request)
        one_request.start()
        redirect = f"http://127.0.0.1:{listener.server_address[1]}/callback"
        url = authorization_url(op, redirect, pkce()[1], state="s1")
        callback = op.complete_browser_login(
            url, "alice", op.users["alice"], approve=False, call_callback=True
        )
        one_request.join(HTTP_TIMEOUT)
    query = parse_qs(urlsplit(callback).query)
    assert (query["error"], query["state"]) == (["access_denied"], ["s1"])
    assert seen == [urlsplit(callback).path + "?" + urlsplit(callback).query]


def test_the_embedded_pacs_accepts_the_providers_access_token(
    oidc_provider: RunningOidcProvider, embedded_pacs_factory: Callable[..., EmbeddedPacs]
) -> None:
    """A person's token, over DICOM as user identity type 5, verified by the embedded PACS with
    the provider's current key, audience and issuer."""
    op = oidc_provider
    pacs = embedded_pacs_factory(
        jwt_key=op.public_key_pem(), jwt_audience=AUDIENCE, jwt_issuer=op.issuer
    )
    item = UserIdentityNegotiation()
    item.user_identity_type = 5
    item.primary_field = device_login(op, "jürgen")["access_token"].encode()
    item.positive_response_requested = True
    ae = AE(ae_title="TEST_SCU")
    ae.acse_timeout = ae.network_timeout = ae.connection_timeout = HTTP_TIMEOUT
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate("127.0.0.1", pacs.port, ae_title=pacs.ae_title, ext_neg=[item])
    assert assoc.is_established
    assoc.release()
    (record,) = pacs.wait_for_records(1)
    assert (record.identity_type, record.verified, record.principal) == (5, True, "jürgen")


# -- refresh tokens: rotation, reuse, revocation --------------------------------------------------


def test_refresh_rotates_the_token_and_a_replay_ends_the_grant(
    oidc_provider: RunningOidcProvider,
) -> None:
    """The public client's refresh token changes on each use. Using an old one again is taken as
    theft: refused, and the grant is revoked, so the newest refresh token dies as well (why two
    processes must not refresh with the same token)."""
    op = oidc_provider
    first = device_login(op)["refresh_token"]
    answer = refresh(op, "device", first)
    assert answer.status_code == 200, answer.text
    renewed = answer.json()
    assert renewed["refresh_token"] != first
    assert verified_access_token(op, renewed["access_token"])["sub"] == "alice"
    replay = refresh(op, "device", first)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_grant")
    assert refresh(op, "device", renewed["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoked_refresh_token_is_refused(oidc_provider: RunningOidcProvider) -> None:
    op = oidc_provider
    tokens = device_login(op)
    assert active(op, tokens["refresh_token"])
    revoke = {"client_id": op.clients["device"].client_id, "token": tokens["refresh_token"]}
    answer = post(op, "revocation", revoke | {"token_type_hint": "refresh_token"})
    assert answer.status_code == 200, answer.text
    assert not active(op, tokens["refresh_token"])
    assert refresh(op, "device", tokens["refresh_token"]).json()["error"] == "invalid_grant"


# -- key rotation ---------------------------------------------------------------------------------


def test_key_rotation_signs_with_a_new_kid(tmp_path: Any) -> None:
    with start_oidc_provider(tmp_path) as op:
        before = client_credentials(op, "post").json()["access_token"]
        old_kid = jwt.get_unverified_header(before)["kid"]
        assert jwks_kids(op) == [old_kid]
        grant = device_login(op)
        new_kid = op.rotate_keys()
        assert new_kid != old_kid
        assert jwks_kids(op) == [new_kid, old_kid]
        after = client_credentials(op, "basic").json()["access_token"]
        assert jwt.get_unverified_header(after)["kid"] == new_kid
        verified_access_token(op, after)
        verified_access_token(op, before)  # the old key is still published
        # Grants made before the rotation carry over: the refresh token works, the new key signs.
        renewed = refresh(op, "device", grant["refresh_token"]).json()
        assert jwt.get_unverified_header(renewed["access_token"])["kid"] == new_kid
        assert jwt.get_unverified_header(renewed["id_token"])["kid"] == new_kid

        newest = op.rotate_keys(keep_old=False)
        assert jwks_kids(op) == [newest]
        with pytest.raises(jwt.PyJWKClientError):
            verified_access_token(op, after)


# -- the process: quiet, stopped ------------------------------------------------------------------


def test_stdout_holds_only_the_ready_line_and_the_process_stops(tmp_path: Any) -> None:
    with start_oidc_provider(tmp_path) as op:
        assert op.started_in < 10
        client_credentials(op, "post")
        device_login(op)
        post(op, "token", {"grant_type": "client_credentials", "client_id": "nobody"})
        url = authorization_url(op, "http://127.0.0.1:9/callback", pkce()[1])
        with pytest.raises(LoginRejected):
            op.complete_browser_login(url, "alice", "wrong")
        op.rotate_keys()
        client_credentials(op, "basic")
    # Stopped: the process is gone, and all it wrote to stdout has been read.
    with pytest.raises(ProcessLookupError):
        os.kill(op.pid, 0)
    assert op.stdout_noise() == []
    assert "server_error" not in op.log()


def test_missing_packages_skip_with_the_fix_or_fail_under_ci(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.oidc_fixtures as fixtures

    monkeypatch.setattr(fixtures, "OP_DIR", tmp_path / "oidc_op")  # no node_modules there
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"run scripts/bootstrap\.sh"):
        start_oidc_provider(tmp_path).__enter__()
    monkeypatch.setenv("PATH", str(tmp_path))  # no node either
    with pytest.raises(pytest.skip.Exception, match="apt-get install nodejs npm"):
        start_oidc_provider(tmp_path).__enter__()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and the OpenID Provider cannot run"):
        start_oidc_provider(tmp_path).__enter__()
