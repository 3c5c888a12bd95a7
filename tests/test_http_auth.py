"""The providers' HTTP auth objects (issue 18) against real servers: Orthanc's DICOMweb behind
Apache with Basic (mod_authn_file), Negotiate (mod_auth_gssapi, the k5test realm) and Bearer
(mod_oauth2: a fixed key, and the JWKS of the tests' OpenID Provider, oidc-provider).

Each scheme succeeds and fails on a wrong credential; a refused bearer token is renewed once (the
JWT file read again after an agent rewrote it, the token endpoint asked for a new one) and a
second 401 is the answer, never a loop; every Negotiate reply is verified, the later requests of
an auth object too (a relay tampers with them); a password or token over plain HTTP to a
non-loopback name is refused with nothing sent; SAML is refused, saying why. The debug outputs
and channel bindings are tested in tests/test_http_auth_debug.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
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
    TokenEndpointProvider,
    TokenRequestRejected,
    UsernameProvider,
)
from providers.http_auth import http_auth
from providers.http_auth_errors import (
    HttpAuthUnsupported,
    HttpAuthWrongOrigin,
    HttpMutualAuthenticationFailed,
    InsecureHttpAuth,
)
from tests.conftest import poll, write_token
from tests.http_relay import (
    HttpRelay,
    flip_negotiate_token,
    negotiate_token,
    replace_negotiate_token,
    strip_negotiate_token,
)
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider
from tests.web_helpers import (
    HTTP_TIMEOUT,
    PASSWORD,
    SUBJECT,
    access_since,
    make_token,
    public_jwk,
    rsa_key,
    session,
)
from tests.web_servers import ApacheProxy, BearerAuth, apache_proxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop

SERVICE = "dicomweb-test"


def qido(auth: Any, url: str, **kwargs: Any) -> requests.Response:
    with session(auth) as s:
        return s.get(f"{url}/studies", timeout=HTTP_TIMEOUT, **kwargs)


def log_mark(proxy: ApacheProxy) -> int:
    return len(proxy.access_log())


def no_more_lines(proxy: ApacheProxy, expected: int) -> None:
    """Apache wrote ``expected`` lines and no more (it logs a request after answering it: the
    lines of every request answered so far are there once the count is reached)."""
    poll(lambda: len(proxy.access_log()) >= expected, timeout=5, what="the access log")
    assert len(proxy.access_log()) == expected, proxy.access_log()[-5:]


def send_with_hook(
    auth: Any, url: str, hook: Callable[[requests.Response], None]
) -> requests.Response:
    """GET ``url`` with ``hook`` on the answer before the auth object's own hook (as an agent
    acting while the request is on its way)."""

    def first(response: requests.Response, **kwargs: Any) -> requests.Response:
        hook(response)
        return response

    with session() as s:
        prepared = s.prepare_request(requests.Request("GET", url, hooks={"response": [first]}))
        auth(prepared)
        return s.send(prepared, timeout=HTTP_TIMEOUT)


# --- Basic ---------------------------------------------------------------------------------------


@pytest.fixture
def keyring_provider(file_keyring: Any) -> KeyringPasswordProvider:
    file_keyring.set_password(SERVICE, "alice", PASSWORD)
    return KeyringPasswordProvider(SERVICE, "alice", backend=file_keyring)


def test_basic_with_the_keyring_password(
    basic_proxy: ApacheProxy, keyring_provider: KeyringPasswordProvider
) -> None:
    auth = http_auth(keyring_provider, url=basic_proxy.url)
    mark = log_mark(basic_proxy)
    for _ in range(3):
        reply = qido(auth, basic_proxy.url)
        assert reply.status_code == 200, basic_proxy.describe()
        assert reply.history == []
    assert all(
        line.startswith('200 alice "GET /dicom-web/studies ')
        for line in access_since(basic_proxy, mark, 3)
    )
    assert "alice" in repr(auth) and PASSWORD not in repr(auth)


def test_basic_with_a_password_given_by_the_caller(basic_proxy: ApacheProxy) -> None:
    reply = qido(
        http_auth(PasswordProvider("bob", "another"), url=basic_proxy.url), basic_proxy.url
    )
    assert reply.status_code == 200


def test_basic_wrong_password_is_one_401(basic_proxy: ApacheProxy, file_keyring: Any) -> None:
    file_keyring.set_password(SERVICE, "alice", "not the password")
    auth = http_auth(
        KeyringPasswordProvider(SERVICE, "alice", backend=file_keyring), url=basic_proxy.url
    )
    mark = log_mark(basic_proxy)
    reply = qido(auth, basic_proxy.url)
    assert reply.status_code == 401
    assert reply.history == []  # the keyring was read again: the same password, no retry
    no_more_lines(basic_proxy, mark + 1)


def test_basic_password_changed_in_the_keyring_is_sent_once_more(
    basic_proxy: ApacheProxy, file_keyring: Any
) -> None:
    file_keyring.set_password(SERVICE, "alice", "the old password")
    auth = http_auth(
        KeyringPasswordProvider(SERVICE, "alice", backend=file_keyring), url=basic_proxy.url
    )
    assert qido(auth, basic_proxy.url).status_code == 401
    file_keyring.set_password(SERVICE, "alice", PASSWORD)  # the password is changed
    mark = log_mark(basic_proxy)
    reply = qido(auth, basic_proxy.url)
    assert reply.status_code == 200
    assert [r.status_code for r in reply.history] == [401]
    refused, accepted = access_since(basic_proxy, mark, 2)
    assert refused.startswith("401 alice ") and accepted.startswith("200 alice ")
    # and from now on the new password goes first
    assert qido(auth, basic_proxy.url).history == []


def test_basic_unknown_keyring_entry_is_a_typed_error(
    basic_proxy: ApacheProxy, file_keyring: Any
) -> None:
    auth = http_auth(
        KeyringPasswordProvider(SERVICE, "nobody", backend=file_keyring), url=basic_proxy.url
    )
    mark = log_mark(basic_proxy)
    with pytest.raises(CredentialUnavailable, match=f"keyring set {SERVICE} nobody"):
        qido(auth, basic_proxy.url)
    no_more_lines(basic_proxy, mark)  # nothing reached Apache


# --- plain HTTP and origins --------------------------------------------------------------------


def _connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import socket

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
def test_password_and_token_over_plain_http_off_loopback_are_refused_with_nothing_sent(
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_keyring_access: list[str],
    signing_key: rsa.RSAPrivateKey,
) -> None:
    connects = _connects(monkeypatch)
    token_file = write_token(tmp_path / "token.jwt", make_token(signing_key))
    for provider in (KeyringPasswordProvider(SERVICE, "alice"), JwtFileProvider(token_file)):
        auth = http_auth(provider, url=url)
        with pytest.raises(InsecureHttpAuth, match="over plain HTTP") as refused:
            qido(auth, url)
        assert "nothing was sent" in str(refused.value)
    assert connects == []  # no connection, no DNS lookup reached a socket
    assert no_keyring_access == []  # the password was not even read


def test_a_localhost_name_is_accepted_when_the_transport_checks_the_address(
    basic_proxy: ApacheProxy, keyring_provider: KeyringPasswordProvider
) -> None:
    from providers.http_deadline import DeadlineAdapter

    url = basic_proxy.url.replace("127.0.0.1", "localhost")
    auth = http_auth(keyring_provider, url=url, transport_checks_loopback=True)
    with session(auth) as s:
        s.mount("http://", DeadlineAdapter())  # closes a non-loopback connection unwritten
        assert s.get(f"{url}/studies", timeout=HTTP_TIMEOUT).status_code == 200


def test_plain_http_may_be_allowed_explicitly(keyring_provider: KeyringPasswordProvider) -> None:
    auth = http_auth(
        keyring_provider, url="http://pacs.example.org/dicom-web", allow_plain_http=True
    )
    prepared = requests.Request("GET", "http://pacs.example.org/dicom-web/studies").prepare()
    assert auth(prepared).headers["Authorization"].startswith("Basic ")  # not sent anywhere


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


# --- Bearer: a JWT file --------------------------------------------------------------------------


def test_bearer_from_a_jwt_file(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(signing_key))
    auth = http_auth(JwtFileProvider(path), url=bearer_proxy.url)
    mark = log_mark(bearer_proxy)
    assert qido(auth, bearer_proxy.url).status_code == 200
    (line,) = access_since(bearer_proxy, mark, 1)
    assert line.startswith(f'200 {SUBJECT} "GET /dicom-web/studies ')


def test_bearer_token_signed_by_another_key_is_one_401(
    bearer_proxy: ApacheProxy, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(rsa_key()))
    auth = http_auth(JwtFileProvider(path), url=bearer_proxy.url)
    mark = log_mark(bearer_proxy)
    reply = qido(auth, bearer_proxy.url)
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    assert reply.history == []  # the file was read again: the same token, no retry
    no_more_lines(bearer_proxy, mark + 1)


def test_expired_token_in_a_jwt_file_is_replaced_by_the_rotated_one_once(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    # Expired 5 s ago: within the provider's leeway (30 s), so it is sent; the server refuses it.
    path = write_token(tmp_path / "token.jwt", make_token(signing_key, lifetime=-5))
    auth = http_auth(JwtFileProvider(path), url=bearer_proxy.url)
    fresh = make_token(signing_key)
    mark = log_mark(bearer_proxy)
    # The agent rotates the file while the refused request is on its way back.
    reply = send_with_hook(
        auth,
        f"{bearer_proxy.url}/studies",
        lambda r: write_token(path, fresh) if r.status_code == 401 else None,
    )
    assert reply.status_code == 200, bearer_proxy.describe()
    assert [r.status_code for r in reply.history] == [401]
    assert reply.request.headers["Authorization"] == f"Bearer {fresh}"
    assert "JWT expired" in bearer_proxy.process.log()
    refused, accepted = access_since(bearer_proxy, mark, 2)
    assert refused.startswith("401 - ") and accepted.startswith(f"200 {SUBJECT} ")


def test_a_second_401_after_the_jwt_file_was_read_again_is_the_answer(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(signing_key, lifetime=-5))
    auth = http_auth(JwtFileProvider(path), url=bearer_proxy.url)
    also_bad = make_token(rsa_key())  # the agent writes a token the server does not trust
    mark = log_mark(bearer_proxy)
    reply = send_with_hook(
        auth,
        f"{bearer_proxy.url}/studies",
        lambda r: write_token(path, also_bad) if r.status_code == 401 else None,
    )
    assert reply.status_code == 401
    assert [r.status_code for r in reply.history] == [401]
    no_more_lines(bearer_proxy, mark + 2)  # two requests, never a third


def test_bearer_for_another_audience_is_forbidden_without_a_retry(
    bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    path = write_token(tmp_path / "token.jwt", make_token(signing_key, aud="ELSEWHERE"))
    reply = qido(http_auth(JwtFileProvider(path), url=bearer_proxy.url), bearer_proxy.url)
    assert reply.status_code == 403 and reply.history == []


# --- Bearer: the token endpoint of a real OpenID Provider -----------------------------------------


def endpoint_provider(
    op: RunningOidcProvider, keyring: Any, *, secret: str | None = None, **kwargs: Any
) -> TokenEndpointProvider:
    client = op.clients["post"]
    keyring.set_password("oidc-test", client.client_id, secret or client.secret)
    return TokenEndpointProvider(
        op.endpoint("token"),
        client_id=client.client_id,
        client_secret_keyring=("oidc-test", client.client_id),
        scope=op.scope,
        audience=op.audience,
        keyring_backend=keyring,
        **kwargs,
    )


@pytest.fixture(scope="module")
def oidc_proxy(backend: str, oidc_provider: RunningOidcProvider) -> Iterator[ApacheProxy]:
    scheme = BearerAuth(jwks_uri=oidc_provider.endpoint("jwks"), audience=oidc_provider.audience)
    with apache_proxy(backend, scheme=scheme) as proxy:
        yield proxy


def test_bearer_from_the_token_endpoint(
    oidc_proxy: ApacheProxy, oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    auth = http_auth(endpoint_provider(oidc_provider, file_keyring), url=oidc_proxy.url)
    mark = log_mark(oidc_proxy)
    replies = [qido(auth, oidc_proxy.url) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200], oidc_proxy.describe()
    sent = {r.request.headers["Authorization"] for r in replies}
    assert len(sent) == 1  # the provider's cache: one token for the three
    client_id = oidc_provider.clients["post"].client_id
    assert all(line.startswith(f"200 {client_id} ") for line in access_since(oidc_proxy, mark, 3))


def test_a_wrong_client_secret_sends_nothing_to_the_server(
    oidc_proxy: ApacheProxy, oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    provider = endpoint_provider(oidc_provider, file_keyring, secret="not the client secret")
    mark = log_mark(oidc_proxy)
    with pytest.raises(TokenRequestRejected, match="invalid_client"):
        qido(http_auth(provider, url=oidc_proxy.url), oidc_proxy.url)
    no_more_lines(oidc_proxy, mark)


def test_a_token_the_server_refuses_is_renewed_once_and_a_second_401_is_the_answer(
    backend: str, oidc_provider: RunningOidcProvider, file_keyring: Any
) -> None:
    # A proxy that trusts another key: every token of the provider is invalid there.
    with apache_proxy(backend, scheme=BearerAuth(jwk=public_jwk(rsa_key(), "k1"))) as proxy:
        auth = http_auth(endpoint_provider(oidc_provider, file_keyring), url=proxy.url)
        mark = log_mark(proxy)
        reply = qido(auth, proxy.url)
        assert reply.status_code == 401
        assert [r.status_code for r in reply.history] == [401]
        first, second = reply.history[0].request, reply.request
        assert first.headers["Authorization"] != second.headers["Authorization"]  # renewed
        no_more_lines(proxy, mark + 2)


class FrozenClock:
    """The provider's clock, a minute behind and stopped: its cached token never reaches its
    refresh window (the ``expires_in`` of the answer counts from this clock), while the
    server's real clock passes the token's ``exp``."""

    def __init__(self) -> None:
        self.now = time.time() - 60

    def __call__(self) -> float:
        return self.now


def test_an_expired_token_from_the_endpoint_is_renewed_once(
    backend: str, tmp_path: Path, file_keyring: Any
) -> None:
    with start_oidc_provider(tmp_path / "op", ttl={"ClientCredentials": 1}) as op:
        scheme = BearerAuth(jwks_uri=op.endpoint("jwks"), audience=op.audience)
        with apache_proxy(backend, scheme=scheme) as proxy:
            auth = http_auth(
                endpoint_provider(op, file_keyring, clock=FrozenClock()), url=proxy.url
            )
            first = qido(auth, proxy.url)
            assert first.status_code == 200 and first.history == []
            issued = first.request.headers["Authorization"]
            import jwt

            exp = jwt.decode(issued.split()[1], options={"verify_signature": False})["exp"]
            poll(lambda: int(time.time()) > exp, timeout=5, what="the token's exp")
            mark = log_mark(proxy)
            second = qido(auth, proxy.url)
            assert second.status_code == 200, proxy.describe()
            assert [r.request.headers["Authorization"] for r in second.history] == [issued]
            assert second.request.headers["Authorization"] != issued
            refused, accepted = access_since(proxy, mark, 2)
            assert refused.startswith("401 - ") and accepted.startswith("200 ")


# --- Negotiate -----------------------------------------------------------------------------------


def negotiate(proxy_url: str, **kwargs: Any) -> Any:
    return http_auth(KerberosProvider(), url=proxy_url, hostname="localhost", **kwargs)


def test_negotiate_every_reply_verified(negotiate_proxy: ApacheProxy, kerberos_ticket: str) -> None:
    auth = negotiate(negotiate_proxy.url)
    mark = log_mark(negotiate_proxy)
    replies = [qido(auth, negotiate_proxy.url) for _ in range(3)]
    assert [r.status_code for r in replies] == [200, 200, 200], negotiate_proxy.describe()
    # The token goes with the request: one round trip each, a new context (token) each time.
    assert all(r.history == [] for r in replies)
    assert len({r.request.headers["Authorization"] for r in replies}) == 3
    lines = access_since(negotiate_proxy, mark, 3)
    assert all(line.startswith(f'200 {kerberos_ticket} "GET ') for line in lines)


def test_negotiate_ticket_for_another_service_is_one_401(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    from providers.negotiate_auth import HttpNegotiateAuth

    # A real ticket, for dicom/localhost: Apache's HTTP keytab cannot decrypt it. Its 401 carries
    # a KRB-ERROR token, which is a refusal, not a reply to verify.
    auth = HttpNegotiateAuth(
        KerberosProvider(), url=negotiate_proxy.url, hostname="localhost", service="dicom"
    )
    mark = log_mark(negotiate_proxy)
    reply = qido(auth, negotiate_proxy.url)
    assert reply.status_code == 401 and reply.history == []
    assert negotiate_token(f"WWW-Authenticate: {reply.headers['WWW-Authenticate']}".encode())
    no_more_lines(negotiate_proxy, mark + 1)


def test_negotiate_without_a_ticket_sends_nothing(
    negotiate_proxy: ApacheProxy,
    kerberos_realm: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-ccache'}")
    mark = log_mark(negotiate_proxy)
    with pytest.raises(CredentialUnavailable, match="kinit"):
        qido(negotiate(negotiate_proxy.url), negotiate_proxy.url)
    no_more_lines(negotiate_proxy, mark)


def _tamper_from(second: Callable[[bytes], bytes]) -> Callable[[bytes, int], bytes]:
    return lambda head, index: second(head) if index >= 1 else head


@pytest.mark.parametrize(
    "tamper",
    [flip_negotiate_token, strip_negotiate_token, "replayed"],
    ids=["flipped-byte", "stripped", "replayed-ap-rep"],
)
def test_a_tampered_reply_on_a_later_request_fails_mutual_authentication(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str, tamper: Any
) -> None:
    with HttpRelay(negotiate_proxy.port) as relay:
        url = f"{relay.url}/dicom-web"
        if tamper == "replayed":  # the AP-REP of the first reply, again: another context's
            tamper = lambda head: replace_negotiate_token(  # noqa: E731
                head, negotiate_token(relay.heads[0]) or b""
            )
        relay.rewrite = _tamper_from(tamper)
        auth = negotiate(url)
        assert qido(auth, url).status_code == 200  # the first reply verifies
        with pytest.raises(HttpMutualAuthenticationFailed, match="refused") as failed:
            qido(auth, url)
        assert "GET /dicom-web/studies" in str(failed.value)
        assert "HTTP/localhost" in str(failed.value)
        relay.rewrite = lambda head, index: head
        assert qido(auth, url).status_code == 200  # a new context: verified again
        assert len(relay.heads) == 3


def test_requests_kerberos_would_take_the_tampered_later_reply(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    """What this fixes: requests-kerberos checks the first reply of an auth object only."""
    from tests.web_helpers import kerberos_auth

    with HttpRelay(negotiate_proxy.port, rewrite=_tamper_from(flip_negotiate_token)) as relay:
        url = f"{relay.url}/dicom-web"
        auth = kerberos_auth()
        assert qido(auth, url).status_code == 200
        assert qido(auth, url).status_code == 200  # tampered, and taken


def test_optional_mutual_auth_takes_a_reply_without_a_token_but_verifies_one(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    with HttpRelay(negotiate_proxy.port) as relay:
        url = f"{relay.url}/dicom-web"
        auth = negotiate(url, mutual_auth="optional")
        relay.rewrite = lambda head, index: strip_negotiate_token(head)
        assert qido(auth, url).status_code == 200
        relay.rewrite = lambda head, index: flip_negotiate_token(head)
        with pytest.raises(HttpMutualAuthenticationFailed):
            qido(auth, url)


def test_concurrent_requests_through_one_auth_object_each_verify(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    auth = negotiate(negotiate_proxy.url)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            statuses.append(qido(auth, negotiate_proxy.url).status_code)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and statuses == [200] * 6


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
