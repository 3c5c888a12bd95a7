"""A real OpenID Provider for the tests: panva's ``oidc-provider`` (tests/oidc_op/server.js).

:func:`start_oidc_provider` writes a configuration (users, five clients, the PACS as a resource
server, token lifetimes) into a folder, starts ``node server.js`` on 127.0.0.1 on a port the
system chooses, waits (bounded) for its ready line and stops it at the end. The ``oidc_provider``
fixture is one such provider for the whole session. What the tests get is a
:class:`RunningOidcProvider`: the issuer, the clients (ids, secrets, the private key of the
``private_key_jwt`` client), the users, and the person's part of a login done over HTTP like a
browser would (:mod:`tests.oidc_browser`), plus ``rotate_keys()``.

Access tokens are RFC 9068 JWTs (``typ`` ``at+jwt``) whose ``aud`` is ``PACS_AUDIENCE``, the
audience the embedded PACS checks (``tests.conftest.AUDIENCE``). oidc-provider needs a resource
indicator (RFC 8707) to issue a JWT, and a resource indicator must be an absolute URI, so the PACS
is the resource ``PACS_RESOURCE``, mapped to that audience. A request that names no resource gets
it as well (the provider's default resource; ``default_resource=False`` turns that off, and such a
request then gets an opaque token).

Without Node or without ``npm ci`` having run in tests/oidc_op, the fixture skips with the fix
(under ``CI=true`` it fails instead).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.oidc_browser import Browser

if TYPE_CHECKING:  # imported by conftest before its plugin tests.tls_certs: no import at run time
    from tests.tls_certs import CertificateFiles

__all__ = [
    "OIDC_USERS",
    "PACS_AUDIENCE",
    "PACS_RESOURCE",
    "PACS_SCOPE",
    "OidcClient",
    "RunningOidcProvider",
    "oidc_provider",
    "oidc_provider_tls",
    "start_oidc_provider",
]

OP_DIR = Path(__file__).resolve().parent / "oidc_op"
PACS_AUDIENCE = "EMBEDDED_PACS"  # = tests.conftest.AUDIENCE (not imported: conftest imports us)
PACS_RESOURCE = "urn:dicom-identity:embedded-pacs"
PACS_SCOPE = "dicom"
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"  # native client: any port matches (RFC 8252)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OIDC_USERS = {"alice": "alice-pässword-1", "jürgen": "jürgen's pässword 2"}
START_TIMEOUT = 15.0  # seconds for node to load oidc-provider and print its ready line
FAST_TTL = {"AccessToken": 300, "ClientCredentials": 300, "DeviceCode": 600}


@dataclass(frozen=True)
class OidcClient:
    """A client registered at the provider. Secrets are test values, kept out of the repr."""

    client_id: str
    auth_method: str  # token_endpoint_auth_method
    secret: str | None = field(default=None, repr=False)
    private_key_pem: bytes | None = field(default=None, repr=False)  # private_key_jwt, PKCS#8
    key_id: str | None = None  # the kid of that key in the client's registered JWKS
    redirect_uri: str | None = None


def _private_key_jwt_client(client_id: str) -> tuple[OidcClient, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    public_jwk.update(kid=f"{client_id}-key-1", alg="RS256", use="sig")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    client = OidcClient(client_id, "private_key_jwt", private_key_pem=pem, key_id=public_jwk["kid"])
    return client, {"jwks": {"keys": [public_jwk]}}


def default_clients() -> tuple[dict[str, OidcClient], list[dict[str, Any]]]:
    """The five clients by role (post, basic, private_key_jwt, device, browser) and their
    metadata for the provider's configuration."""
    service: dict[str, Any] = {"grant_types": ["client_credentials"], "scope": PACS_SCOPE}
    service |= {"response_types": [], "redirect_uris": []}
    jwt_client, jwt_extra = _private_key_jwt_client("pacs-service-jwt")
    clients = {
        "post": OidcClient("pacs-service-post", "client_secret_post", secret="post secret+1&x=y"),
        # ':', '/' and '%41' in the secret: Basic credentials must be form-urlencoded first
        "basic": OidcClient("pacs-service-basic", "client_secret_basic", secret="basic:sec/2%41"),
        "private_key_jwt": jwt_client,
        "device": OidcClient("dicom-identity-device", "none"),
        "browser": OidcClient("dicom-identity-desktop", "none", redirect_uri=LOOPBACK_REDIRECT),
    }
    native = {"application_type": "native", "token_endpoint_auth_method": "none"}
    metadata: list[dict[str, Any]] = [
        {
            **service,
            "client_id": clients[role].client_id,
            "client_secret": clients[role].secret,
            "token_endpoint_auth_method": clients[role].auth_method,
        }
        for role in ("post", "basic")
    ]
    metadata += [
        {
            **service,
            **jwt_extra,
            "client_id": jwt_client.client_id,
            "token_endpoint_auth_method": "private_key_jwt",
        },
        {
            **native,
            "client_id": clients["device"].client_id,
            "grant_types": [DEVICE_GRANT, "refresh_token"],
            "response_types": [],
            "redirect_uris": [],
        },
        {
            **native,
            "client_id": clients["browser"].client_id,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [LOOPBACK_REDIRECT],
        },
    ]
    return clients, metadata


class RunningOidcProvider:
    """A started provider: its issuer, clients, users and the person's part of a login."""

    def __init__(
        self,
        issuer: str,
        clients: Mapping[str, OidcClient],
        *,
        ttl: Mapping[str, int],
        log_path: Path,
        stdout_extra: list[str],
        pid: int,
        started_in: float,
        ca_file: Path | None = None,
    ) -> None:
        self.issuer = issuer
        self.ca_file = ca_file  # over HTTPS: the CA that issued its certificate
        self.pid = pid
        self.started_in = started_in  # seconds from the start of node to its ready line
        self.clients = dict(clients)
        self.users = dict(OIDC_USERS)
        self.audience = PACS_AUDIENCE
        self.resource = PACS_RESOURCE
        self.scope = PACS_SCOPE
        self.ttl = dict(ttl)
        self.log_path = log_path
        self._stdout_extra = stdout_extra
        self._discovery: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"RunningOidcProvider(issuer={self.issuer!r})"

    def session(self) -> requests.Session:
        """A plain HTTP session for the tests' own requests (no proxy from the environment)."""
        session = requests.Session()
        session.trust_env = False
        if self.ca_file is not None:
            session.verify = str(self.ca_file)
        return session

    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            with self.session() as s:
                url = f"{self.issuer}/.well-known/openid-configuration"
                answer = s.get(url, timeout=5)
                answer.raise_for_status()
                self._discovery = dict(answer.json())
        return self._discovery

    def endpoint(self, name: str) -> str:
        """A discovery URL by name: ``token``, ``jwks``, ``device_authorization``, ..."""
        key = "jwks_uri" if name == "jwks" else f"{name}_endpoint"
        return str(self.discovery()[key])

    def public_key_pem(self, kid: str | None = None) -> bytes:
        """A signing key of the JWKS in PEM (by default the first: the one that signs now), for
        a verifier that takes a fixed key, like ``EmbeddedPacs(jwt_key=...)``."""
        with self.session() as s:
            answer = s.get(self.endpoint("jwks"), timeout=5)
            answer.raise_for_status()
            keys = answer.json()["keys"]
        jwk = keys[0] if kid is None else next(k for k in keys if k["kid"] == kid)
        key = RSAAlgorithm.from_jwk(jwk)
        assert isinstance(key, rsa.RSAPublicKey)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def approve_device(self, user_code: str, login: str, password: str) -> None:
        """The person enters ``user_code`` on the verification page, logs in and consents."""
        with Browser(self.issuer) as browser:
            browser.approve_device(user_code, login, password)

    def deny_device(self, user_code: str) -> None:
        """The person enters ``user_code`` and presses "Abort": the poller gets access_denied."""
        with Browser(self.issuer) as browser:
            browser.deny_device(user_code)

    def complete_browser_login(
        self,
        authorization_url: str,
        login: str,
        password: str,
        *,
        approve: bool = True,
        call_callback: bool = False,
    ) -> str:
        """A browser opened at ``authorization_url``: login, consent (or abort when ``approve``
        is false); returns the redirect to the loopback callback, requested when
        ``call_callback`` is true."""
        with Browser(self.issuer) as browser:
            return browser.complete_login(
                authorization_url,
                login,
                password,
                approve=approve,
                call_callback=call_callback,
            )

    def rotate_keys(self, *, keep_old: bool = True) -> str:
        """A new signing key signs from now on; returns its kid. ``keep_old``: the previous
        keys stay in the JWKS (tokens they signed still verify)."""
        with self.session() as s:
            answer = s.post(
                f"{self.issuer}/__test/rotate-keys",
                params={"keep_old": "true" if keep_old else "false"},
                timeout=10,
            )
            answer.raise_for_status()
            return str(answer.json()["kid"])

    def stdout_noise(self) -> list[str]:
        """Lines the server wrote to stdout after its ready line (there should be none)."""
        return list(self._stdout_extra)

    def log(self) -> str:
        """What the server wrote to stderr."""
        return self.log_path.read_text(errors="replace")

    def token_requests(self) -> list[dict[str, Any]]:
        """Every request its token endpoint answered so far, in order: ``outcome`` (issued or
        refused), ``grant_type``, the form's ``keys``, ``auth_scheme`` (of the Authorization
        header), ``client_id``, and the values of ``scope``, ``resource`` and ``audience``. A
        test that shares the session's provider counts from its own start (``len()`` first)."""
        prefix = "oidc_op: token request "
        return [
            json.loads(line.removeprefix(prefix))
            for line in self.log().splitlines()
            if line.startswith(prefix)
        ]


def node_setup_missing() -> str | None:
    """Why the provider cannot start here (with the fix), or None."""
    if shutil.which("node") is None:
        return "node is not installed: apt-get install nodejs npm, then scripts/bootstrap.sh"
    if not (OP_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        return f"oidc-provider is not installed: run scripts/bootstrap.sh (or npm ci in {OP_DIR})"
    return None


def _read_ready_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first line of stdout, waited for with a bound; '' when the process exits first."""
    assert proc.stdout is not None
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no ready line within {timeout} s")
            if selector.select(remaining):
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    return ""
                buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    if rest.strip():
        raise AssertionError(f"output on stdout after the ready line: {rest!r}")
    return line.decode()


def _drain(stream: Any, into: list[str]) -> None:
    for line in stream:
        into.append(line.decode(errors="replace").rstrip("\n"))


@contextlib.contextmanager
def start_oidc_provider(
    workdir: Path,
    *,
    ttl: Mapping[str, int] | None = None,
    default_resource: bool = True,
    keep_old_keys: bool = True,
    extra_clients: Sequence[Mapping[str, Any]] = (),
    tls: CertificateFiles | None = None,
) -> Iterator[RunningOidcProvider]:
    """Start a provider with its configuration and log in ``workdir``; stopped at the end.
    ``ttl`` overrides token lifetimes in seconds (AccessToken, ClientCredentials, DeviceCode,
    RefreshToken, IdToken, ...); ``extra_clients`` are more client metadata; ``tls``: served
    over HTTPS with that server certificate (the issuer is then ``https://127.0.0.1:PORT``)."""
    why = node_setup_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the OpenID Provider cannot run: {why}")
        pytest.skip(why)
    clients, metadata = default_clients()
    lifetimes = {**FAST_TTL, **(ttl or {})}
    users = {
        login: {"password": pw, "claims": {"name": login.title()}}
        for login, pw in OIDC_USERS.items()
    }
    config = {
        "users": users,
        "clients": [*metadata, *extra_clients],
        "resources": {PACS_RESOURCE: {"audience": PACS_AUDIENCE, "scope": PACS_SCOPE}},
        "default_resource": PACS_RESOURCE if default_resource else None,
        "ttl": lifetimes,
        "keep_old_keys": keep_old_keys,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "oidc-op.json"
    config_path.write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
    log_path = workdir / "oidc-op.log"
    argv = ["node", str(OP_DIR / "server.js"), "--config", str(config_path), "--port", "0"]
    if tls is not None:
        argv += ["--tls-cert", str(tls.cert_file), "--tls-key", str(tls.key_file)]
    scheme = "https" if tls is not None else "http"
    started = time.monotonic()
    drain: threading.Thread | None = None
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*argv, "--exit-with-stdin"],  # exits if this test run dies and stdin closes
            cwd=OP_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    try:
        line = _read_ready_line(proc, START_TIMEOUT)
        if not line.startswith(f"listening on {scheme}://127.0.0.1:"):
            proc.wait(timeout=5)
            raise AssertionError(
                f"{' '.join(argv)} did not start (exit {proc.returncode}, stdout {line!r}):\n"
                + log_path.read_text(errors="replace")
            )
        extra: list[str] = []
        drain = threading.Thread(target=_drain, args=(proc.stdout, extra), daemon=True)
        drain.start()
        yield RunningOidcProvider(
            line.removeprefix("listening on "),
            clients,
            ttl=lifetimes,
            log_path=log_path,
            stdout_extra=extra,
            pid=proc.pid,
            started_in=time.monotonic() - started,
            ca_file=tls.ca_file if tls is not None else None,
        )
    finally:
        _stop(proc)
        if drain is not None:
            drain.join(timeout=5)  # stdout is at its end: stdout_noise() is complete now
        _close_pipes(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOidcProvider]:
    """One real OpenID Provider on 127.0.0.1 for the whole test session."""
    with start_oidc_provider(tmp_path_factory.mktemp("oidc-op")) as provider:
        yield provider


@pytest.fixture(scope="session")
def oidc_provider_tls(
    tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles
) -> Iterator[RunningOidcProvider]:
    """The same provider over HTTPS for the whole test session, with the server certificate of
    the session's test CA (``certs``: ``certs.ca_file`` verifies it)."""
    with start_oidc_provider(tmp_path_factory.mktemp("oidc-op-tls"), tls=certs) as provider:
        yield provider
