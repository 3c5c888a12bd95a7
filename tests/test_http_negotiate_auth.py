"""``providers._http_auth`` Negotiate (issue 18) against Apache's mod_auth_gssapi in front of
Orthanc's DICOMweb, with tickets of the k5test realm.

Every request has a context of its own and its token goes with the request (one round trip);
every reply's token is verified, on the later requests of an auth object too: a relay between
the client and Apache flips a byte of a later AP-REP, strips it, or replays an earlier one, and
each is refused (requests-kerberos, for comparison, takes the tampered later reply). A 401's
KRB-ERROR token is a refusal, not a success. No ticket: nothing is sent.

Over HTTPS (a TLS relay presents its own certificate, as a man in the middle would), the token
is bound to the certificate (tls-server-end-point): a real GSSAPI acceptor that checks bindings
accepts it with that certificate's binding and refuses it with another's; a reply over a
connection whose certificate changed is refused, and the next request binds to the new one.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from providers import CredentialUnavailable, KerberosProvider
from providers._http_auth import http_auth
from providers._http_auth_errors import HttpMutualAuthenticationFailed
from providers._negotiate_auth import HttpNegotiateAuth
from providers._tls_channel_binding import PREFIX, certificate_binding
from tests.apache_auth import http_service_keytab
from tests.http_auth_helpers import lines_for, logged, new_mark, qido
from tests.http_relay import (
    HttpRelay,
    Rewrite,
    flip_negotiate_token,
    negotiate_token,
    replace_negotiate_token,
    strip_negotiate_token,
)
from tests.tls_certs import CertificateFiles, make_certificates
from tests.web_servers import ApacheProxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


def negotiate(url: str, **kwargs: Any) -> Any:
    return http_auth(KerberosProvider(), url=url, hostname="localhost", **kwargs)


def test_every_reply_is_verified(negotiate_proxy: ApacheProxy, kerberos_ticket: str) -> None:
    auth = negotiate(negotiate_proxy.url)
    assert isinstance(auth, HttpNegotiateAuth)
    for _ in range(3):
        mark = new_mark()
        reply = qido(auth, negotiate_proxy.url, mark)
        assert reply.status_code == 200, negotiate_proxy.describe()
        assert reply.history == []  # the token went with the request: one round trip
        (line,) = logged(negotiate_proxy, mark, 1)
        assert line.startswith(f'200 {kerberos_ticket} "GET /dicom-web/studies?')
    assert "HTTP/localhost" in repr(auth)


def test_a_ticket_for_another_service_is_one_401(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    # A real ticket, for dicom/localhost: Apache's HTTP keytab cannot decrypt it. Its 401
    # carries a KRB-ERROR token: a refusal, not a reply to verify, and not retried.
    auth = HttpNegotiateAuth(
        KerberosProvider(), url=negotiate_proxy.url, hostname="localhost", service="dicom"
    )
    mark = new_mark()
    reply = qido(auth, negotiate_proxy.url, mark)
    assert reply.status_code == 401 and reply.history == []
    assert negotiate_token(f"WWW-Authenticate: {reply.headers['WWW-Authenticate']}".encode())
    logged(negotiate_proxy, mark, 1)


def test_no_ticket_sends_nothing(
    negotiate_proxy: ApacheProxy,
    kerberos_realm: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-ccache'}")
    mark = new_mark()
    with pytest.raises(CredentialUnavailable, match="kinit"):
        qido(negotiate(negotiate_proxy.url), negotiate_proxy.url, mark)
    assert lines_for(negotiate_proxy, mark) == []


def from_reply(index: int, tamper: Any) -> Rewrite:
    return lambda head, n: tamper(head) if n >= index else head


@pytest.mark.parametrize(
    "tamper",
    [flip_negotiate_token, strip_negotiate_token, "replayed"],
    ids=["flipped-byte", "stripped", "replayed-ap-rep"],
)
def test_a_tampered_later_reply_fails_mutual_authentication(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str, tamper: Any
) -> None:
    with HttpRelay(negotiate_proxy.port) as relay:
        url = f"{relay.url}/dicom-web"
        if tamper == "replayed":  # the first reply's AP-REP again: another context's

            def tamper(head: bytes) -> bytes:
                return replace_negotiate_token(head, negotiate_token(relay.heads[0]) or b"")

        relay.rewrite = from_reply(1, tamper)
        auth = negotiate(url)
        assert qido(auth, url).status_code == 200  # the first reply verifies
        with pytest.raises(HttpMutualAuthenticationFailed, match="is refused") as failed:
            qido(auth, url)
        assert "GET /dicom-web/studies" in str(failed.value)
        assert "limit=" not in str(failed.value)  # not the query: it can name a patient
        assert "HTTP/localhost" in str(failed.value)
        relay.rewrite = lambda head, n: head
        assert qido(auth, url).status_code == 200  # a new context: verified again
        assert len(relay.heads) == 3


def test_requests_kerberos_takes_a_tampered_later_reply(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    """What this fixes: requests-kerberos verifies the first reply of an auth object only (its
    requests go 401 then 200: replies 0 and 1 are the first request's)."""
    from tests.web_helpers import kerberos_auth

    with HttpRelay(negotiate_proxy.port, rewrite=from_reply(2, flip_negotiate_token)) as relay:
        url = f"{relay.url}/dicom-web"
        auth = kerberos_auth()
        assert qido(auth, url).status_code == 200
        tampered = qido(auth, url)
        assert tampered.status_code == 200  # taken as it is
        assert relay.heads[3] != flip_negotiate_token(relay.heads[3])  # it was tampered with


def test_optional_mutual_auth_takes_a_reply_without_a_token_and_verifies_one(
    negotiate_proxy: ApacheProxy, kerberos_ticket: str
) -> None:
    with HttpRelay(negotiate_proxy.port) as relay:
        url = f"{relay.url}/dicom-web"
        auth = negotiate(url, mutual_auth="optional")
        relay.rewrite = lambda head, n: strip_negotiate_token(head)
        assert qido(auth, url).status_code == 200
        relay.rewrite = lambda head, n: flip_negotiate_token(head)
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


# --- over TLS: channel bindings ------------------------------------------------------------------


def der(certs: CertificateFiles) -> bytes:
    return ssl.PEM_cert_to_DER_cert(certs.cert_file.read_text())


def test_the_binding_is_the_certificate_hash(tmp_path: Path) -> None:
    certificate = der(make_certificates(tmp_path))
    # ECDSA with SHA-256: the binding hashes the DER certificate with SHA-256 (RFC 5929 4.1)
    assert certificate_binding(certificate) == PREFIX + hashlib.sha256(certificate).digest()


def test_a_gssapi_acceptor_that_checks_bindings_takes_the_bound_token(
    kerberos_realm: Any, kerberos_ticket: str, tmp_path: Path
) -> None:
    import gssapi
    from gssapi.raw import ChannelBindings

    keytab = tmp_path / "http.keytab"
    http_service_keytab(kerberos_realm, keytab)
    acceptor_creds = gssapi.Credentials(usage="accept", store={"keytab": str(keytab)})
    auth = negotiate("https://127.0.0.1:8443/dicom-web")
    ours = certificate_binding(der(make_certificates(tmp_path / "ours")))
    theirs = certificate_binding(der(make_certificates(tmp_path / "theirs")))
    assert ours and theirs and ours != theirs

    def accept(binding: bytes, expected: bytes) -> Any:
        _, token = auth.new_context(binding)
        acceptor = gssapi.SecurityContext(
            creds=acceptor_creds,
            usage="accept",
            channel_bindings=ChannelBindings(application_data=expected),
        )
        acceptor.__DEFER_STEP_ERRORS__ = False  # raise now, not at the next step
        acceptor.step(token)
        return acceptor

    accepted = accept(ours, ours)
    assert accepted.complete and gssapi.RequirementFlag.channel_bound in accepted.actual_flags
    # A token bound to the certificate a man in the middle presented fails at the server.
    with pytest.raises(gssapi.exceptions.GSSError, match=r"[Ii]ncorrect channel bindings"):
        accept(theirs, ours)


@pytest.fixture
def tls_relay(negotiate_proxy: ApacheProxy, tmp_path: Path) -> Any:
    """A TLS relay in front of the Negotiate proxy, and a CA bundle the client trusts that
    holds the CAs of two certificates (the relay's, and the one it may renew to)."""
    first, second = make_certificates(tmp_path / "one"), make_certificates(tmp_path / "two")
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_text(first.ca_file.read_text() + second.ca_file.read_text())
    with HttpRelay(negotiate_proxy.port, tls=first.server_context()) as relay:
        yield relay, first, second, str(bundle)


def test_over_tls_the_token_is_bound_to_the_certificate_of_the_connection(
    tls_relay: Any, kerberos_ticket: str
) -> None:
    relay, first, second, bundle = tls_relay
    url = f"{relay.url}/dicom-web"
    auth = negotiate(url)
    # The first request learns the certificate: sent without a token, answered 401, sent again
    # bound to the certificate of that connection.
    reply = qido(auth, url, verify=bundle)
    assert reply.status_code == 200 and [r.status_code for r in reply.history] == [401]
    assert auth._binding == certificate_binding(der(first))
    # Later ones carry a bound token at once.
    assert qido(auth, url, verify=bundle).history == []
    # The server renews its certificate: the token bound to the old one came back over a
    # connection with the new one, so the reply is refused and the next request re-learns.
    relay.tls = second.server_context()
    with pytest.raises(HttpMutualAuthenticationFailed, match="certificate is not the one"):
        qido(auth, url, verify=bundle)
    reply = qido(auth, url, verify=bundle)
    assert reply.status_code == 200 and [r.status_code for r in reply.history] == [401]
    assert auth._binding == certificate_binding(der(second))


def test_channel_bindings_may_be_turned_off(tls_relay: Any, kerberos_ticket: str) -> None:
    relay, _, _, bundle = tls_relay
    url = f"{relay.url}/dicom-web"
    auth = negotiate(url, channel_bindings=False)
    for _ in range(2):
        reply = qido(auth, url, verify=bundle)
        assert reply.status_code == 200 and reply.history == []
    assert auth._binding is None
