"""The authentication side of the test proxies (tests/web_servers.py): one dataclass per scheme,
and what each adds to Apache: modules, directives, files the workers read, environment.

* ``BasicAuth(users)``: mod_auth_basic + mod_authn_file, an htpasswd file made by ``htpasswd``;
* ``NegotiateAuth(realm)``: mod_auth_gssapi with an ``HTTP/localhost`` keytab from the k5test realm;
* ``BearerAuth(jwk=... | jwks_uri=..., audience=...)``: mod_oauth2 verifying JWT signatures, with
  ``exp`` required and no verification cache (else a verified token stays accepted past its exp);
  a token for another audience is forbidden (403);
* ``NoAuth()``: no authentication (what the proxy alone costs).

``serve_jwks`` serves a JWKS document on 127.0.0.1 where the tests' OpenID Provider is not running.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from tests.conftest import require_program

__all__ = [
    "AuthSetup",
    "BasicAuth",
    "BearerAuth",
    "NegotiateAuth",
    "NoAuth",
    "ProxyAuth",
    "apache_quote",
    "auth_setup",
    "http_service_keytab",
    "serve_jwks",
]

COMMON_MODULES = (
    ("mpm_event", "apache2-bin"),
    ("authn_core", "apache2-bin"),
    ("authz_core", "apache2-bin"),
    ("authz_user", "apache2-bin"),
    ("headers", "apache2-bin"),
    ("proxy", "apache2-bin"),
    ("proxy_http", "apache2-bin"),
)

# Makes a file or folder the workers' own (www-data when Apache runs as root), with a mode.
GiveToWorkers = Callable[[Path, int], Path]


@dataclass(frozen=True)
class BasicAuth:
    """mod_auth_basic + mod_authn_file; ``users`` maps user names to passwords."""

    users: Mapping[str, str]
    # bcrypt is what a real deployment uses; apr1 (MD5, 1000 rounds) is cheaper per request.
    password_hash: Literal["bcrypt", "apr1"] = "bcrypt"
    scheme: Literal["basic"] = field(default="basic", init=False)


@dataclass(frozen=True)
class NegotiateAuth:
    """mod_auth_gssapi accepting Kerberos for ``HTTP/<service_host>@<realm>`` (a KerberosRealm
    from client_sdk.testing._kerberos_realm, e.g. the ``kerberos_realm`` fixture)."""

    realm: Any
    service_host: str = "localhost"
    scheme: Literal["negotiate"] = field(default="negotiate", init=False)


@dataclass(frozen=True)
class BearerAuth:
    """mod_oauth2: a JWT signed by the key ``jwk`` (a public JWK as a dict), or by a key of the
    JWKS at ``jwks_uri``; ``exp`` is required; ``audience`` is required in ``aud`` when given."""

    jwk: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    audience: str | None = None
    scheme: Literal["bearer"] = field(default="bearer", init=False)

    def __post_init__(self) -> None:
        if (self.jwk is None) == (self.jwks_uri is None):
            raise ValueError("BearerAuth takes exactly one of jwk and jwks_uri")


@dataclass(frozen=True)
class NoAuth:
    """No authentication: what the proxy alone costs."""

    scheme: Literal["none"] = field(default="none", init=False)


ProxyAuth = BasicAuth | NegotiateAuth | BearerAuth | NoAuth


def http_service_keytab(realm: Any, keytab: Path, *, host: str = "localhost") -> str:
    """Create ``HTTP/<host>`` in the k5test realm (once per realm) and write its keytab;
    returns the principal."""
    principal = f"HTTP/{host}@{realm.name}"
    k5 = realm._k5  # KerberosRealm keeps its k5test realm private; the tests may use it
    shown = subprocess.run(
        [k5.kadmin_local, "-q", f"getprinc {principal}"],
        env=dict(realm.env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if f"Principal: {principal}" not in shown.stdout:
        k5.addprinc(principal)
    k5.extract_keytab(principal, str(keytab))  # -norandkey: the same keys every time
    return principal


@dataclass
class AuthSetup:
    """What a scheme adds to the proxy: (module, package) pairs to load, the directives of the
    protected location, environment variables for Apache, and the service principal if any."""

    modules: list[tuple[str, str]]
    directives: str
    env: dict[str, str] = field(default_factory=dict)
    principal: str | None = None


def apache_quote(value: str) -> str:
    """One Apache directive argument, in double quotes."""
    if any(c in value for c in '"\\\n\r'):
        raise ValueError(f"cannot quote {value!r} for an Apache config")
    return f'"{value}"'


def auth_setup(scheme: ProxyAuth, folder: Path, give_to_workers: GiveToWorkers) -> AuthSetup:
    """Write the files ``scheme`` needs into ``folder``; return what Apache must be told."""
    common = list(COMMON_MODULES)
    if isinstance(scheme, NoAuth):
        return AuthSetup(common, "Require all granted")
    if isinstance(scheme, BasicAuth):
        htpasswd = give_to_workers(write_htpasswd(scheme, folder / "htpasswd"), 0o600)
        return AuthSetup(
            [*common, ("auth_basic", "apache2-bin"), ("authn_file", "apache2-bin")],
            "AuthType Basic\nAuthBasicProvider file\n"
            f"AuthUserFile {apache_quote(str(htpasswd))}\nRequire valid-user",
        )
    if isinstance(scheme, NegotiateAuth):
        return _negotiate(scheme, folder, give_to_workers)
    return AuthSetup([*common, ("oauth2", "libapache2-mod-oauth2")], _bearer(scheme))


def _negotiate(scheme: NegotiateAuth, folder: Path, give_to_workers: GiveToWorkers) -> AuthSetup:
    keytab = folder / "http.keytab"
    principal = http_service_keytab(scheme.realm, keytab, host=scheme.service_host)
    give_to_workers(keytab, 0o600)
    # k5test's realm folder is root-only: the workers get a readable copy of krb5.conf and a
    # replay cache of their own.
    krb5_conf = folder / "krb5.conf"
    shutil.copyfile(scheme.realm.env["KRB5_CONFIG"], krb5_conf)
    krb5_conf.chmod(0o644)
    rcache = folder / "rcache"
    rcache.mkdir()
    give_to_workers(rcache, 0o700)
    return AuthSetup(
        [*COMMON_MODULES, ("auth_gssapi", "libapache2-mod-auth-gssapi")],
        "AuthType GSSAPI\nGssapiAllowedMech krb5\nGssapiBasicAuth Off\n"
        f"GssapiCredStore {apache_quote(f'keytab:{keytab}')}\nRequire valid-user",
        env={"KRB5_CONFIG": str(krb5_conf), "KRB5RCACHEDIR": str(rcache)},
        principal=principal,
    )


def _bearer(scheme: BearerAuth) -> str:
    # expiry=0: no cache of verification results (a cached token outlives its exp).
    options = "verify.exp=required&expiry=0"
    if scheme.jwk is not None:
        jwk = json.dumps(dict(scheme.jwk), separators=(",", ":"))
        verify = f"OAuth2TokenVerify jwk '{jwk}' {options}"
    else:
        assert scheme.jwks_uri is not None
        verify = (
            f"OAuth2TokenVerify jwks_uri {apache_quote(scheme.jwks_uri)} "
            f"{options}&jwks_uri.expiry=60"
        )
    require = "Require valid-user"
    if scheme.audience is not None:
        # A valid token for another audience is authenticated but not authorized: 403, not
        # Apache's default of a 401 without any challenge.
        require = (
            "AuthzSendForbiddenOnFailure On\n<RequireAll>\nRequire valid-user\n"
            f"Require oauth2_claim {apache_quote('aud:' + scheme.audience)}\n</RequireAll>"
        )
    return f"AuthType oauth2\n{verify}\n{require}"


def write_htpasswd(scheme: BasicAuth, path: Path) -> Path:
    program = require_program("htpasswd", "apache2-utils")
    flag = ["-B", "-C", "5"] if scheme.password_hash == "bcrypt" else ["-m"]
    for index, (user, password) in enumerate(scheme.users.items()):
        create = ["-c"] if index == 0 else []
        # -i: the password on stdin, not in argv where ps would show it
        subprocess.run(
            [program, "-i", *create, *flag, str(path), user],
            input=password.encode(),
            capture_output=True,
            timeout=30,
            check=True,
        )
    return path


# --- a JWKS document for mod_oauth2's jwks_uri ---------------------------------------------------


@contextlib.contextmanager
def serve_jwks(jwks: Mapping[str, Any]) -> Iterator[str]:
    """Serve ``jwks`` at ``http://127.0.0.1:PORT/jwks.json`` (where the OpenID Provider of the
    tests is not running); yields that URL."""
    body = json.dumps(dict(jwks)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/jwks.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
