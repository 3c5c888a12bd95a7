"""The cases of the OIDC secret matrix (``tests/test_secret_matrix_oidc.py``): what each case
works with (:class:`Matrix`), the secrets it met by name (:data:`NAMES`), and the cases
themselves (:data:`CASES`: run, expected result, the names it must meet), against the real
OpenID Provider and, for what it never does, the scripted one (tests/hostile_oidc.py)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from client_sdk import Client, Peer, Policy, TlsConfig, XmlFileAuditSink
from client_sdk.testing import EmbeddedPacs
from providers import OidcLoginProvider, Secret, Target, TokenEndpointProvider
from tests.conftest import AUDIENCE
from tests.hostile_oidc import DROP, HostileOp, Seen, running
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider
from tests.oidc_login_helpers import Person, make_login
from tests.oidc_requests import post, refresh
from tests.secret_matrix_support import ErrorKeeper, Gathered, attempt, walk
from tests.timeouts import LOCAL
from tests.tls_certs import CertificateFiles

NAMES = (
    "refresh token",
    "access token",
    "ID token",
    "device code",
    "PKCE verifier",
    "client_secret_post",
    "client_secret_basic",
    "private key",
    "client assertion",
)
TOKEN_FIELDS = {
    "access_token": "access token",
    "refresh_token": "refresh token",
    "id_token": "ID token",
    "device_code": "device code",
}
WRONG_SECRET = "wr0ng-oidc-client-secret+/Ü"
SERVICE = "oidc-matrix.test"
TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")
ROLE_AUTH = {"post": "client-secret", "basic": "client-secret-basic"}
serving = contextlib.contextmanager(running)  # the scripted provider, served in a with block


class Clock:
    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


@dataclass
class Matrix:
    """What a case works with, and the secrets it met, by name."""

    op: RunningOidcProvider
    seen: Gathered
    keeper: ErrorKeeper
    keyring: Any
    tmp_path: Path
    pacs: Callable[[str], EmbeddedPacs]
    certs: CertificateFiles
    named: dict[str, list[bytes | str]] = field(default_factory=dict)
    providers: list[object] = field(default_factory=list)

    def secret(self, name: str, value: Secret | str | bytes | None) -> None:
        assert name in NAMES, name
        if isinstance(value, Secret):
            value = value.reveal()
        if value and value not in self.named.setdefault(name, []):
            self.named[name].append(value)
            self.keeper.secrets.append(value)

    def private_key(self, pem: bytes) -> None:
        """The PEM, one line of its body, and the DER it encodes."""
        self.secret("private key", pem)
        self.secret("private key", pem.splitlines()[3])
        key = serialization.load_pem_private_key(pem, None)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.secret("private key", der)

    def client(self, provider: Any, mode: str = "standard") -> Client:
        pacs = self.pacs(mode)
        pacs.clear()
        self.providers.append(provider)
        tls = TlsConfig(ca_file=self.certs.ca_file, server_hostname="localhost")
        client = Client(
            Peer(pacs.host, pacs.port, pacs.ae_title, tls=tls if mode == "tls" else None),
            identity=provider,
            policy=Policy(),
            timeouts=LOCAL,
            audit=XmlFileAuditSink(self.tmp_path / "audit.xml"),
        )
        self.seen += [repr(client), str(client), repr(provider), str(provider)]
        return client

    def token_provider(
        self, role: str, *, url: str | None = None, **kw: Any
    ) -> TokenEndpointProvider:
        client = self.op.clients[role]
        if role in ROLE_AUTH:
            secret = kw.pop("secret", client.secret)
            self.keyring.set_password(SERVICE, client.client_id, secret)
            self.secret(f"client_secret_{role}", secret)
            kw |= {"client_secret_keyring": (SERVICE, client.client_id), "auth": ROLE_AUTH[role]}
        else:
            pem = kw.pop("pem", client.private_key_pem)
            self.private_key(pem)
            path = self.tmp_path / f"key-{len(self.providers)}.pem"
            path.write_bytes(pem)
            path.chmod(0o600)
            kw |= {"auth": "private-key-jwt", "client_key_file": path}
            kw.setdefault("client_key_id", client.key_id)
        provider = TokenEndpointProvider(
            url or self.op.endpoint("token"),
            client_id=client.client_id,
            scope="dicom",
            audience=AUDIENCE,
            positive_response=True,
            keyring_backend=self.keyring,
            timeout=5.0,
            **kw,
        )
        self.providers.append(provider)
        return provider

    def logged_in(self, op: RunningOidcProvider | None = None, **kw: Any) -> OidcLoginProvider:
        op = op or self.op
        person = Person(op)
        kw.setdefault("positive_response", True)
        provider = make_login(op, self.keyring, self.tmp_path, prompt=person, **kw)
        self.providers.append(provider)
        provider.login()
        person.join()
        self.secret("refresh token", self.keyring.get_password(*provider.keyring_entry))
        return provider


# --- the cases: client credentials -------------------------------------------------------------


def accepted(role: str, mode: str = "standard") -> Callable[[Matrix], str]:
    def run(m: Matrix) -> str:
        return walk(m.client(m.token_provider(role), mode), m.seen, m.keeper)

    return run


def wrong_secret(role: str) -> Callable[[Matrix], str]:
    def run(m: Matrix) -> str:
        m.secret(f"client_secret_{role}", m.op.clients[role].secret)
        return walk(m.client(m.token_provider(role, secret=WRONG_SECRET)), m.seen, m.keeper)

    return run


def wrong_key(m: Matrix) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    m.private_key(cast(bytes, m.op.clients["private_key_jwt"].private_key_pem))
    return walk(m.client(m.token_provider("private_key_jwt", pem=pem)), m.seen, m.keeper)


def quoted_back(role: str) -> Callable[[Matrix], str]:
    """A token endpoint that quotes what authenticated the client in its error."""

    def reply(seen: Seen) -> tuple[int, dict[str, Any]]:
        quoted = " ".join(v for v in (seen.authorization, *seen.form.values()) if v and len(v) > 8)
        return 401, {"error": "invalid_client", "error_description": f"bad: {quoted}"}

    def run(m: Matrix) -> str:
        with serving(HostileOp(token_reply=reply)) as op:
            provider = m.token_provider(role, url=f"{op.url}/token")
            return walk(m.client(provider), m.seen, m.keeper)

    return run


def mandatory_refresh_with_the_provider_gone(m: Matrix) -> str:
    clock = Clock()
    with start_oidc_provider(m.tmp_path / "own-op") as own:
        m.op, shared = own, m.op
        provider = m.token_provider("private_key_jwt", clock=clock)
        m.op = shared
        first = attempt(lambda: provider.negotiate(TARGET), m.seen, m.keeper)
    clock.ahead = 300 - 30  # the mandatory window of the token (5 min)
    return f"{first} " + walk(m.client(provider), m.seen, m.keeper)


# --- the cases: login --------------------------------------------------------------------------


def login_accepted(flow: str, mode: str = "standard") -> Callable[[Matrix], str]:
    def run(m: Matrix) -> str:
        if flow == "device":
            provider = m.logged_in()
        else:

            def browser(url: str) -> None:
                m.op.complete_browser_login(url, "alice", m.op.users["alice"], call_callback=True)

            provider = make_login(
                m.op,
                m.keyring,
                m.tmp_path,
                "browser",
                open_browser=browser,
                prompt=lambda shown: m.seen.append(repr(shown)),
                positive_response=True,
            )
            m.providers.append(provider)
            result = attempt(provider.login, m.seen, m.keeper)
            assert result == "ok", result
            m.secret("refresh token", m.keyring.get_password(*provider.keyring_entry))
        m.seen.append(repr(provider.whoami()))
        return walk(m.client(provider, mode), m.seen, m.keeper)

    return run


def login_denied(m: Matrix) -> str:
    person = Person(m.op, act="deny")
    provider = make_login(m.op, m.keyring, m.tmp_path, prompt=person)
    m.providers.append(provider)
    result = attempt(provider.login, m.seen, m.keeper)
    person.join()
    return result


def login_for_another_audience(m: Matrix) -> str:
    person = Person(m.op)
    provider = make_login(m.op, m.keyring, m.tmp_path, prompt=person, audience="OTHER_PACS")
    m.providers.append(provider)
    result = attempt(provider.login, m.seen, m.keeper)
    person.join()
    return result


def refresh_refused(how: str) -> Callable[[Matrix], str]:
    """The stored refresh token revoked, spent elsewhere (rotated), or logged out; then a new
    process (a new provider on the same keyring) associates."""

    def run(m: Matrix) -> str:
        first = m.logged_in()
        stored = m.keyring.get_password(*first.keyring_entry)
        if how == "revoked":
            revoke = {"client_id": m.op.clients["device"].client_id, "token": stored}
            assert post(m.op, "revocation", revoke).status_code == 200
        elif how == "rotated":
            answer = refresh(m.op, "device", stored)
            assert answer.status_code == 200, answer.text
            for key, name in TOKEN_FIELDS.items():
                m.secret(name, answer.json().get(key))
        else:
            m.seen.append(repr(first.logout()))
        later = make_login(
            m.op,
            m.keyring,
            m.tmp_path,
            login_command="dicom-identity login x",
            positive_response=True,
        )
        return walk(m.client(later), m.seen, m.keeper)

    return run


def login_refresh_with_the_provider_gone(m: Matrix) -> str:
    clock = Clock()
    with start_oidc_provider(m.tmp_path / "own-op") as own:
        provider = m.logged_in(own, clock=clock)
        first = attempt(lambda: provider.negotiate(TARGET), m.seen, m.keeper)
        expires_at = provider.whoami().expires_at
    assert expires_at is not None
    clock.ahead = expires_at - clock() - 30  # the mandatory window
    return f"{first} " + walk(m.client(provider), m.seen, m.keeper)


def hostile_login(what: str) -> Callable[[Matrix], str]:
    """An ID token for another nonce (browser flow), or a connection dropped mid-poll."""

    def run(m: Matrix) -> str:
        with serving(HostileOp()) as op:
            if what == "dropped":
                op.polls = [(400, {"error": "authorization_pending"}), DROP]
            else:
                op.id_claims = {"nonce": "a-nonce-of-another-login"}
            provider = OidcLoginProvider(
                op.url,
                client_id=op.client_id,
                scopes="openid offline_access dicom",
                audience=AUDIENCE,
                flow="device" if what == "dropped" else "browser",
                keyring_backend=m.keyring,
                lock_dir=m.tmp_path / "locks",
                poll_interval=0.05,
                timeout=3.0,
                login_timeout=10.0,
                prompt=lambda shown: m.seen.append(repr(shown)),
                open_browser=op.open_browser,
            )
            m.providers.append(provider)
            result = attempt(provider.login, m.seen, m.keeper)
        for value in op.issued:
            m.secret(issued_name(value, op.client_id), value)
        return result

    return run


def issued_name(value: str, client_id: str) -> str:
    """What the scripted provider gave out: a device code, a refresh token, or a JWT (an ID
    token when it is for the client, else an access token)."""
    if value.startswith("hostile-device-code"):
        return "device code"
    if value.startswith("hostile-refresh"):
        return "refresh token"
    claims = jwt.decode(value, options={"verify_signature": False})
    return "ID token" if claims.get("aud") == client_id else "access token"


Case = tuple[Callable[[Matrix], str], str, tuple[str, ...]]
ACCESS, CREDENTIALS = "access token", ("client assertion", "private key")
CASES: dict[str, Case] = {
    "post-accepted": (accepted("post"), "ok:confirmed", ("client_secret_post", ACCESS)),
    "post-accepted-tls": (accepted("post", "tls"), "ok:confirmed", ("client_secret_post", ACCESS)),
    "basic-accepted": (accepted("basic"), "ok:confirmed", ("client_secret_basic", ACCESS)),
    "jwt-accepted": (accepted("private_key_jwt"), "ok:confirmed", (*CREDENTIALS, ACCESS)),
    "basic-echoed-by-the-pacs": (accepted("basic", "echo"), "ServerResponseMissing", (ACCESS,)),
    "jwt-rejected-by-the-pacs": (
        accepted("private_key_jwt", "rejecting"),
        "AuthenticationRejected",
        (*CREDENTIALS, ACCESS),
    ),
    "post-wrong-secret": (wrong_secret("post"), "TokenRequestRejected", ("client_secret_post",)),
    "basic-wrong-secret": (wrong_secret("basic"), "TokenRequestRejected", ("client_secret_basic",)),
    "jwt-wrong-key": (wrong_key, "TokenRequestRejected", CREDENTIALS),
    "basic-quoted-back": (quoted_back("basic"), "TokenRequestRejected", ("client_secret_basic",)),
    "post-quoted-back": (quoted_back("post"), "TokenRequestRejected", ("client_secret_post",)),
    "jwt-quoted-back": (quoted_back("private_key_jwt"), "TokenRequestRejected", CREDENTIALS),
    "jwt-provider-gone": (
        mandatory_refresh_with_the_provider_gone,
        "ok TokenEndpointUnreachable",
        (*CREDENTIALS, ACCESS),
    ),
    "device-login-accepted": (
        login_accepted("device"),
        "ok:confirmed",
        ("refresh token", ACCESS, "ID token", "device code"),
    ),
    "device-login-accepted-tls": (
        login_accepted("device", "tls"),
        "ok:confirmed",
        ("refresh token", ACCESS, "device code"),
    ),
    "browser-login-accepted": (
        login_accepted("browser"),
        "ok:confirmed",
        ("refresh token", ACCESS, "ID token", "PKCE verifier"),
    ),
    "login-echoed-by-the-pacs": (
        login_accepted("device", "echo"),
        "ServerResponseMissing",
        ("refresh token", ACCESS),
    ),
    "login-rejected-by-the-pacs": (
        login_accepted("device", "rejecting"),
        "AuthenticationRejected",
        ("refresh token", ACCESS),
    ),
    "login-denied": (login_denied, "LoginDenied", ("device code",)),
    "login-for-another-audience": (
        login_for_another_audience,
        "InvalidTokenResponse",
        (ACCESS, "refresh token", "ID token"),
    ),
    "refresh-token-revoked": (refresh_refused("revoked"), "LoginRequired", ("refresh token",)),
    "refresh-token-rotated": (refresh_refused("rotated"), "LoginRequired", ("refresh token",)),
    "logged-out": (refresh_refused("logged out"), "LoginRequired", ("refresh token",)),
    "login-refresh-provider-gone": (
        login_refresh_with_the_provider_gone,
        "ok TokenEndpointUnreachable",
        ("refresh token", ACCESS),
    ),
    "id-token-for-another-nonce": (
        hostile_login("nonce"),
        "InvalidIdToken",
        ("ID token", "refresh token", ACCESS, "PKCE verifier"),
    ),
    "dropped-mid-poll": (hostile_login("dropped"), "TokenEndpointUnreachable", ("device code",)),
}
