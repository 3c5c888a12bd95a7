"""The secret matrix for HTTP (issue 18): each scheme of ``providers._http_auth`` runs against the
real Apache proxies with every debug output on, and no secret appears in any of it, in any
encoding.

On: ``http.client.HTTPConnection.debuglevel = 1`` (http.client then prints every request head,
``Authorization`` included, and every reply header to stdout: captured with ``capfd``), the
``requests``, ``urllib3``, ``spnego`` and ``providers`` loggers at DEBUG (``caplog``). Searched,
with :func:`tests.test_secret_leaks.find_leaks` (raw, hex, base64 at each alignment, URL and form
encoding, JSON and repr escapes): stdout, stderr, the log, the auth object's ``repr`` and each
error formatted with its frames' locals (as Sentry or ``pytest --showlocals`` would). The
secrets: the passwords (right and wrong), the bearer tokens (good and refused), the client
secret and the token endpoint's token, every Kerberos token sent and received.

The controls: the debug output was really on (the request line and a redacted ``Authorization``
are in stdout), and without the redaction the same request prints the password, which the
search finds.
"""

from __future__ import annotations

import builtins
import http.client
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from providers import (
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    TokenEndpointProvider,
)
from providers._http_auth import http_auth
from providers._http_auth_errors import HttpMutualAuthenticationFailed
from providers._http_debug_scrub import redact_http_credentials
from tests.conftest import write_token
from tests.http_relay import HttpRelay, flip_negotiate_token, negotiate_token
from tests.leak_search import find_leaks, planted
from tests.oidc_fixtures import RunningOidcProvider
from tests.web_helpers import HTTP_TIMEOUT, PASSWORD, make_token, rsa_key, session
from tests.web_servers import ApacheProxy, BearerAuth, apache_proxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop

WRONG_PASSWORD = "wrong pässword+/=canary"


@pytest.fixture
def debug_everything(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[pytest.LogCaptureFixture]:
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    with caplog.at_level(logging.DEBUG):
        for name in ("urllib3", "requests", "spnego", "providers"):
            caplog.set_level(logging.DEBUG, logger=name)
        yield caplog


class Seen:
    """What a case shows, and the secrets to look for in it."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.secrets: list[bytes | str] = []

    def __repr__(self) -> str:
        return f"<Seen: {len(self.texts)} texts>"

    def request(self, auth: Any, url: str) -> requests.Response | None:
        """GET ``url``/studies; an error is shown (``str``, ``repr``, locals) and returned as
        None. The Authorization sent and any Negotiate token received become secrets."""
        self.texts.append(repr(auth))
        try:
            with session(auth) as s:
                reply = s.get(f"{url}/studies", timeout=HTTP_TIMEOUT)
        except Exception as exc:
            formatted = traceback.TracebackException.from_exception(exc, capture_locals=True)
            self.texts += [str(exc), repr(exc), "".join(formatted.format())]
            return None
        for answer in [*reply.history, reply]:
            header = answer.request.headers.get("Authorization", "")
            self.secrets += [header, header.partition(" ")[2]] if header else []
            token = negotiate_token(
                f"WWW-Authenticate: {answer.headers.get('WWW-Authenticate')}".encode()
            )
            self.secrets += [token] if token else []
        return reply

    def search(self, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
        """Everything shown, after the control that the search finds each secret."""
        captured = capfd.readouterr()
        text = "\n".join([captured.out, captured.err, caplog.text, *self.texts])
        for secret in self.secrets:
            raw = secret.encode() if isinstance(secret, str) else secret
            for form, planted_text in planted(raw).items():
                assert find_leaks(planted_text, [secret]), f"the search would miss {form}"
        assert find_leaks(text, self.secrets) == []
        # The debug output was on: http.client printed the request head, redacted.
        assert "send: b'GET /dicom-web/studies HTTP/1.1" in captured.out
        assert "Authorization: " in captured.out and "[redacted]" in captured.out
        return captured.out


def test_basic(
    debug_everything: Any,
    capfd: pytest.CaptureFixture[str],
    basic_proxy: ApacheProxy,
    file_keyring: Any,
) -> None:
    seen = Seen()
    seen.secrets += [PASSWORD, WRONG_PASSWORD]
    file_keyring.set_password("svc", "alice", PASSWORD)
    file_keyring.set_password("svc", "wrong", WRONG_PASSWORD)
    right = KeyringPasswordProvider("svc", "alice", backend=file_keyring)
    wrong = KeyringPasswordProvider("svc", "wrong", backend=file_keyring)
    reply = seen.request(http_auth(right, url=basic_proxy.url), basic_proxy.url)
    assert reply is not None and reply.status_code == 200
    reply = seen.request(http_auth(wrong, url=basic_proxy.url), basic_proxy.url)
    assert reply is not None and reply.status_code == 401
    out = seen.search(capfd, debug_everything)
    assert "Authorization: Basic [redacted]" in out


def test_bearer_from_a_jwt_file(
    debug_everything: Any,
    capfd: pytest.CaptureFixture[str],
    bearer_proxy: ApacheProxy,
    signing_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    seen = Seen()
    good, refused = make_token(signing_key), make_token(rsa_key())
    seen.secrets += [good, refused]
    for token, status in ((good, 200), (refused, 401)):
        path = write_token(tmp_path / f"{status}.jwt", token)
        reply = seen.request(
            http_auth(JwtFileProvider(path), url=bearer_proxy.url), bearer_proxy.url
        )
        assert reply is not None and reply.status_code == status
    assert "Authorization: Bearer [redacted]" in seen.search(capfd, debug_everything)


def test_bearer_from_the_token_endpoint(
    debug_everything: Any,
    capfd: pytest.CaptureFixture[str],
    backend: str,
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
) -> None:
    seen = Seen()
    client = oidc_provider.clients["post"]
    assert client.secret is not None
    seen.secrets.append(client.secret)
    file_keyring.set_password("oidc", client.client_id, client.secret)
    provider = TokenEndpointProvider(
        oidc_provider.endpoint("token"),
        client_id=client.client_id,
        client_secret_keyring=("oidc", client.client_id),
        scope=oidc_provider.scope,
        audience=oidc_provider.audience,
        keyring_backend=file_keyring,
    )
    scheme = BearerAuth(jwks_uri=oidc_provider.endpoint("jwks"), audience=oidc_provider.audience)
    with apache_proxy(backend, scheme=scheme) as proxy:
        reply = seen.request(http_auth(provider, url=proxy.url), proxy.url)
        assert reply is not None and reply.status_code == 200
    seen.search(capfd, debug_everything)


def test_negotiate(
    debug_everything: Any,
    capfd: pytest.CaptureFixture[str],
    negotiate_proxy: ApacheProxy,
    kerberos_ticket: str,
) -> None:
    seen = Seen()
    with HttpRelay(negotiate_proxy.port) as relay:
        url = f"{relay.url}/dicom-web"
        auth = http_auth(KerberosProvider(), url=url, hostname="localhost")
        for _ in range(2):
            reply = seen.request(auth, url)
            assert reply is not None and reply.status_code == 200
        relay.rewrite = lambda head, index: flip_negotiate_token(head)
        assert seen.request(auth, url) is None  # mutual authentication failed
        seen.secrets += [t for head in relay.heads if (t := negotiate_token(head))]
        # and the tampered token as the client got it (held by the frames of the failure)
        seen.secrets.append(negotiate_token(flip_negotiate_token(relay.heads[-1])) or b"")
    assert len(seen.secrets) >= 6  # two tokens sent (header, credential), two received
    assert any(HttpMutualAuthenticationFailed.__name__ in text for text in seen.texts)
    out = seen.search(capfd, debug_everything)
    assert "Authorization: Negotiate [redacted]" in out
    assert "header: WWW-Authenticate: Negotiate [redacted]" in out


def test_the_search_finds_the_password_without_the_redaction(
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    basic_proxy: ApacheProxy,
    file_keyring: Any,
) -> None:
    """The control: http.client's own print shows the Basic header, and the search finds the
    password in it."""
    file_keyring.set_password("svc", "alice", PASSWORD)
    auth = http_auth(
        KeyringPasswordProvider("svc", "alice", backend=file_keyring), url=basic_proxy.url
    )
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    monkeypatch.setattr(http.client, "print", builtins.print)
    with session(auth) as s:
        assert s.get(f"{basic_proxy.url}/studies", timeout=HTTP_TIMEOUT).status_code == 200
    out = capfd.readouterr().out
    assert find_leaks(out, [PASSWORD])


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (
            "send: b'GET / HTTP/1.1\\r\\nAuthorization: Basic YWxpY2U6cHc=\\r\\n\\r\\n'",
            "send: b'GET / HTTP/1.1\\r\\nAuthorization: Basic [redacted]\\r\\n\\r\\n'",
        ),
        (
            'send: b"GET /x\'y HTTP/1.1\\r\\nauthorization: Bearer abc.def.ghi\\r\\n"',
            'send: b"GET /x\'y HTTP/1.1\\r\\nauthorization: Bearer [redacted]\\r\\n"',
        ),
        (
            "header: WWW-Authenticate: Negotiate oYGJMIGGoAMKAQ==",
            "header: WWW-Authenticate: Negotiate [redacted]",
        ),
        ("header: Proxy-Authorization: opaque-value", "header: Proxy-Authorization: [redacted]"),
        (
            'header: WWW-Authenticate: Bearer realm="x", error="invalid_token"',
            'header: WWW-Authenticate: Bearer realm="x", error="invalid_token"',
        ),
    ],
)
def test_the_redaction_of_a_debug_line(line: str, shown: str) -> None:
    assert redact_http_credentials(line) == shown
