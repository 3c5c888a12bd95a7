"""The embedded PACS verifying JWTs with the keys of a JWKS URL (``EmbeddedPacs(jwt_jwks_url=)``,
``dicom-identity pacs --jwks-url``), end to end with the real OpenID Provider (tests/oidc_op):
device login -> access token -> association -> verified; the provider rotates its signing key
-> the next token names a new kid -> the PACS reads the JWKS again and verifies it. Also: a kid no
JWKS holds, a JWKS that cannot be read (bounded), and the installed command line."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from client_sdk import AssociationRejected, Client, Peer
from client_sdk.testing import EmbeddedPacs
from client_sdk.testing._jwks_keys import JwksKeys, JwksUnavailable
from providers import IdentityType, JwtFileProvider, Secret, Target
from tests.conftest import AUDIENCE, write_token
from tests.installed_cli import cli_command, run_cli
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider
from tests.oidc_login_helpers import Person, Witness, make_login
from tests.processes import background_command, listening

pytestmark = pytest.mark.usefixtures("no_outside_connections")

TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")


def jwks_pacs(op: RunningOidcProvider, factory: Callable[..., EmbeddedPacs]) -> EmbeddedPacs:
    return factory(jwt_jwks_url=op.endpoint("jwks"), jwt_audience=AUDIENCE, jwt_issuer=op.issuer)


def reads(pacs: EmbeddedPacs) -> int:
    keys = pacs._checker._jwks
    assert isinstance(keys, JwksKeys)
    return keys.reads


def kid_of(token: Any) -> str:
    value = token.reveal() if isinstance(token, Secret) else token
    return str(jwt.get_unverified_header(value)["kid"])


def test_device_login_token_verified_through_the_jwks_and_after_a_key_rotation(
    tmp_path: Path,
    file_keyring: Any,
    witness: Witness,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    # A provider of its own: rotating the session provider's key would touch other tests.
    with start_oidc_provider(tmp_path / "op") as op:
        person = Person(op, "jürgen")
        first = make_login(op, file_keyring, tmp_path, prompt=person)
        first.login()
        person.join()
        witness.stored(first, file_keyring)
        pacs = jwks_pacs(op, embedded_pacs_factory)
        old_token = first.negotiate(TARGET).request.primary
        witness.secret(old_token)
        with Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=first).associate() as s:
            assert s.outcome.identity_type is IdentityType.JWT
            assert s.outcome.principal == "jürgen"
            s.echo()
        assert reads(pacs) == 1

        new_kid = op.rotate_keys()
        assert new_kid != kid_of(old_token)
        later = make_login(op, file_keyring, tmp_path)  # a new process: refreshes from the keyring
        new_token = later.negotiate(TARGET).request.primary
        witness.secret(new_token)
        witness.stored(later, file_keyring)
        assert kid_of(new_token) == new_kid
        with Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=later).associate() as s:
            assert s.outcome.principal == "jürgen"
            s.echo()
        assert reads(pacs) == 2  # the unknown kid made it read the JWKS again, once
        # The old token still verifies (the provider keeps old keys) without another read.
        with Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=first).associate() as s:
            s.echo()
        assert reads(pacs) == 2
        records = pacs.wait_for_records(3)
        assert [(r.identity_type, r.principal, r.verified) for r in records] == [
            (5, "jürgen", True)
        ] * 3
    witness.assert_no_leaks()


def signed(tmp_path: Path, op: RunningOidcProvider, kid: str) -> Path:
    """A token for the PACS, from the provider's issuer, signed by a key the provider never had."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": op.issuer, "aud": AUDIENCE, "sub": "mallory", "iat": now, "exp": now + 300}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    return write_token(tmp_path / "forged.jwt", token)


def test_a_kid_the_jwks_does_not_hold_is_refused_after_one_more_read(
    oidc_provider: RunningOidcProvider,
    tmp_path: Path,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    op = oidc_provider
    pacs = jwks_pacs(op, embedded_pacs_factory)
    forged = JwtFileProvider(signed(tmp_path, op, "no-such-kid"))
    with pytest.raises(AssociationRejected):
        Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=forged).associate()
    (record,) = pacs.wait_for_records(1)
    assert (record.verified, record.principal) == (False, None)
    assert record.failure is not None
    assert "no key with the JWT's kid 'no-such-kid'" in record.failure
    assert op.endpoint("jwks") in record.failure
    assert reads(pacs) == 2  # the first read, then once more for the unknown kid


def test_a_jwks_that_cannot_be_read_is_a_refusal_within_the_bound(
    tmp_path: Path, embedded_pacs_factory: Callable[..., EmbeddedPacs]
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/jwks"
    pacs = embedded_pacs_factory(jwt_jwks_url=url, jwt_audience=AUDIENCE)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"sub": "a", "aud": AUDIENCE, "exp": now + 60}
    rs256 = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    hs256 = jwt.encode(claims, "k" * 32, algorithm="HS256", headers={"kid": "k1"})
    for name, token in (("rs256", rs256), ("hs256", hs256)):
        started = time.monotonic()
        with pytest.raises(AssociationRejected):
            Client(
                Peer(pacs.host, pacs.port, pacs.ae_title),
                identity=JwtFileProvider(write_token(tmp_path / f"{name}.jwt", token)),
            ).associate()
        assert time.monotonic() - started < 10
    first, second = pacs.wait_for_records(2)
    assert not first.verified and not second.verified
    assert (
        first.failure == f"JWT key not found: the JWKS at {url} could not be read (ConnectionError)"
    )
    assert second.failure == "JWT algorithm not allowed"  # an HMAC token: no read attempted
    assert reads(pacs) == 1


def test_jwks_and_a_fixed_key_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        EmbeddedPacs(jwt_key="k" * 32, jwt_jwks_url="http://127.0.0.1:1/jwks")
    with pytest.raises(ValueError, match="http"):
        EmbeddedPacs(jwt_jwks_url="file:///etc/passwd")


def test_installed_pacs_command_verifies_through_the_jwks(
    oidc_provider: RunningOidcProvider, tmp_path: Path, env: dict[str, str]
) -> None:
    op = oidc_provider
    client = op.clients["post"]
    with op.session() as s:
        answer = s.post(
            op.endpoint("token"),
            data={
                "grant_type": "client_credentials",
                "client_id": client.client_id,
                "client_secret": client.secret,
                "scope": "dicom",
                "resource": op.resource,
            },
            timeout=10,
        )
    answer.raise_for_status()
    token_file = write_token(tmp_path / "access.jwt", answer.json()["access_token"])
    argv = [
        *cli_command(),
        "pacs",
        "--port",
        "0",
        "--jwks-url",
        op.endpoint("jwks"),
        "--jwt-audience",
        AUDIENCE,
        "--jwt-issuer",
        op.issuer,
    ]
    with background_command(argv, env=env, cwd=tmp_path) as running:
        match = listening(running)
        address = f"127.0.0.1:{match['port']}"
        done = run_cli(
            "echo",
            address,
            "--ae-title",
            match["ae_title"],
            "--jwt-file",
            str(token_file),
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        line = running.line(10)
        code, stderr = running.stop()
    assert code == 0, stderr
    assert f"principal {client.client_id!r}, verified True" in line
    refused = run_cli(
        "pacs", "--jwks-url", "http://127.0.0.1:1/j", "--jwt-key-file", "k", env=env, cwd=tmp_path
    )
    assert refused.returncode != 0 and "not both" in refused.stderr


class _Hostile(http.server.BaseHTTPRequestHandler):
    """A JWKS endpoint that redirects to the real one, or answers more than 1 MiB."""

    target = ""
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", self.target)
            self.end_headers()
            return
        body = b'{"keys": [' + b" " * (2 << 20) + b"]}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_jwks_is_read_only_from_its_url_and_bounded(
    oidc_provider: RunningOidcProvider,
) -> None:
    _Hostile.target = oidc_provider.endpoint("jwks")
    _Hostile.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        redirected = JwksKeys(f"{base}/redirect")
        with pytest.raises(JwksUnavailable, match="answered HTTP 302, not 200"):
            redirected.key_for({"kid": "any"})
        huge = JwksKeys(f"{base}/huge")
        with pytest.raises(JwksUnavailable, match="larger than 1048576 bytes"):
            huge.key_for({"kid": "any"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert _Hostile.hits == ["/redirect", "/huge"]  # the redirect was not followed
