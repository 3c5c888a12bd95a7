"""The secret matrix, continued: the installed command line with an ``oidc-login`` peer and
token-endpoint peers of each client authentication (issue 17), against the real OpenID Provider.

The installed ``dicom-identity`` (``tests/installed_cli.py``, run from ``tmp_path``, a file
keyring in tmp, the audit file beside the configuration) runs ``login``, ``whoami``, ``echo``,
``logout``, ``store --report`` and ``config show`` in text and ``--json``, with ``--debug`` for
every ``echo`` and ``store``, on the
paths that work and the ones that fail: the PACS rejecting the token, the refresh token revoked
at the provider (then ``LoginRequired``), after logout, a wrong ``client_secret_basic`` secret, a
``private_key_jwt`` key the provider does not know. Everything the runs printed, and the audit
file, is searched (every encoding, :func:`tests.leak_search.find_leaks`, with the control), and
so is every file the runs left in the test's home but the keyring (lock files, reports...): the
refresh token lives in the keyring only.

The secrets, by name: every refresh token the keyring held (read after each run), every access
token that reached the PACS (the A-ASSOCIATE-RQ's identity, caught in this process where the
PACS runs), the client secrets (right and wrong), the private keys (PEM, a line, DER). The ID
tokens and client assertions live only in the command's process: no JWT at all (``eyJ``) may
appear in its output.
"""

from __future__ import annotations

import base64
import configparser
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pynetdicom import AE, evt
from pynetdicom.pdu_primitives import UserIdentityNegotiation

from client_sdk.testing import EmbeddedPacs, ct_dataset
from tests.conftest import AUDIENCE
from tests.installed_cli import run_cli
from tests.leak_search import find_leaks
from tests.oidc_fixtures import RunningOidcProvider
from tests.oidc_login_helpers import run_cli_login
from tests.oidc_requests import post
from tests.secret_matrix_support import assert_search_finds
from tests.secret_matrix_values import OTHER_KEY

pytestmark = pytest.mark.usefixtures("no_outside_connections")

SERVICE = "oidc-cli-matrix"
WRONG_SECRET = "wr0ng-basic-secret:/%41"  # VSCHAR only (RFC 6749): refused as invalid_client


@pytest.fixture
def sent_identities(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The primary field of every identity an embedded PACS of this test receives."""
    received: list[bytes] = []
    real: Callable[..., Any] = AE.start_server

    def grab(event: evt.Event) -> None:
        primitive = getattr(event, "primitive", None)  # EVT_ACSE_RECV's A-ASSOCIATE
        for item in getattr(primitive, "user_information", None) or []:
            if isinstance(item, UserIdentityNegotiation) and item.primary_field:
                received.append(bytes(item.primary_field))

    def start_server(self: AE, *args: Any, **kwargs: Any) -> Any:
        handlers = [*(kwargs.pop("evt_handlers", None) or []), (evt.EVT_ACSE_RECV, grab)]
        return real(self, *args, evt_handlers=handlers, **kwargs)

    monkeypatch.setattr(AE, "start_server", start_server)
    return received


def private_key_forms(pem: bytes) -> list[bytes]:
    key = serialization.load_pem_private_key(pem, None)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return [pem, pem.splitlines()[3], der]


def keyring_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"


def keyring_values(env: dict[str, str]) -> list[str]:
    """Every password in the file keyring of ``env`` (keyrings.alt keeps them in base64)."""
    parser = configparser.RawConfigParser()
    parser.read(keyring_file(env), encoding="utf-8")
    return [
        base64.b64decode(value).decode()
        for section in parser.sections()
        for _, value in parser.items(section)
    ]


def write_config(
    tmp_path: Path, op: RunningOidcProvider, pacs: EmbeddedPacs, other: EmbeddedPacs
) -> Path:
    jwt_client, basic = op.clients["private_key_jwt"], op.clients["basic"]
    assert jwt_client.private_key_pem is not None
    (tmp_path / "client-key.pem").write_bytes(jwt_client.private_key_pem)
    token_url = op.endpoint("token")

    def peer(name: str, identity: str, at: EmbeddedPacs = pacs) -> str:
        return (
            f'[peers.{name}]\nhost = "{at.host}"\nport = {at.port}\n'
            f'ae_title = "{at.ae_title}"\nidentity = "{identity}"\n\n'
        )

    def endpoint(name: str, client_id: str, auth: str, extra: str) -> str:
        return (
            f'[identities.{name}]\ntype = "token-endpoint"\ntoken_url = "{token_url}"\n'
            f'client_id = "{client_id}"\nauth = "{auth}"\naudience = "{AUDIENCE}"\n'
            f"positive_response = true\n{extra}\n"
        )

    path = tmp_path / "config.toml"
    path.write_text(
        '[audit]\nfile = "audit.xml"\n\n'
        + peer("archive", "login")
        + peer("rejecting", "login", other)
        + peer("basic", "basic")
        + peer("wrong-basic", "wrong-basic")
        + peer("signed", "signed")
        + peer("wrong-key", "wrong-key")
        + f'[identities.login]\ntype = "oidc-login"\nissuer = "{op.issuer}"\n'
        f'client_id = "{op.clients["device"].client_id}"\n'
        f'scopes = ["openid", "offline_access", "dicom"]\naudience = "{AUDIENCE}"\n'
        f'resource = "{op.resource}"\nflow = "device"\npoll_interval = 0.1\n'
        "login_timeout = 60\npositive_response = true\n\n"
        + endpoint(
            "basic",
            basic.client_id,
            "client-secret-basic",
            f'client_secret_keyring = ["{SERVICE}", "basic"]\n',
        )
        + endpoint(
            "wrong-basic",
            basic.client_id,
            "client-secret-basic",
            f'client_secret_keyring = ["{SERVICE}", "wrong"]\n',
        )
        + endpoint(
            "signed",
            jwt_client.client_id,
            "private-key-jwt",
            f'client_key_file = "client-key.pem"\nclient_key_id = "{jwt_client.key_id}"\n',
        )
        + endpoint(
            "wrong-key",
            jwt_client.client_id,
            "private-key-jwt",
            f'client_key_file = "other-key.pem"\nclient_key_id = "{jwt_client.key_id}"\n',
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def pacs_pair(
    sent_identities: list[bytes], oidc_provider: RunningOidcProvider
) -> Iterator[tuple[EmbeddedPacs, EmbeddedPacs]]:
    """The PACS verifying through the provider's JWKS, and one trusting another key."""
    jwks = oidc_provider.endpoint("jwks")
    with (
        EmbeddedPacs(jwt_jwks_url=jwks, jwt_audience=AUDIENCE) as pacs,
        EmbeddedPacs(jwt_key=OTHER_KEY, jwt_audience=AUDIENCE) as other,
    ):
        yield pacs, other


def test_login_token_endpoint_and_their_failures_print_no_secret(
    oidc_provider: RunningOidcProvider,
    pacs_pair: tuple[EmbeddedPacs, EmbeddedPacs],
    sent_identities: list[bytes],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    from keyrings.alt.file import PlaintextKeyring

    op = oidc_provider
    pacs, other = pacs_pair
    basic_secret = op.clients["basic"].secret
    jwt_pem = op.clients["private_key_jwt"].private_key_pem
    assert basic_secret is not None and jwt_pem is not None
    other_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "other-key.pem").write_bytes(other_pem)
    keyring = PlaintextKeyring()
    keyring.file_path = str(keyring_file(env))
    keyring.set_password(SERVICE, "basic", basic_secret)
    keyring.set_password(SERVICE, "wrong", WRONG_SECRET)
    config = write_config(tmp_path, op, pacs, other)
    # The lock files too land in tmp_path: every file the runs leave is searched.
    configured = {**env, "DICOM_IDENTITY_CONFIG": str(config), "XDG_RUNTIME_DIR": str(tmp_path)}
    named: dict[str, list[bytes | str]] = {
        "client_secret_basic": [basic_secret, WRONG_SECRET],
        "private key": [*private_key_forms(jwt_pem), *private_key_forms(other_pem)],
        "refresh token": [],
    }
    texts: dict[str, str] = {}
    codes: dict[str, int] = {}

    def kept(label: str, result: Any) -> None:
        texts[f"{label} stdout"], texts[f"{label} stderr"] = result.stdout, result.stderr
        codes[label] = result.returncode
        named["refresh token"] += [
            v for v in keyring_values(configured) if v not in (basic_secret, WRONG_SECRET)
        ]

    def cli(label: str, *args: str) -> None:
        kept(label, run_cli(*args, env=configured, cwd=tmp_path))

    kept("login", run_cli_login(op, "--json", "login", "archive", env=configured, cwd=tmp_path))
    cli("whoami", "--json", "whoami", "archive")
    cli("whoami text", "whoami", "archive")
    for peer in ("archive", "rejecting", "basic", "wrong-basic", "signed", "wrong-key"):
        cli(f"echo {peer}", "--json", "--debug", "echo", peer)
        cli(f"echo {peer} text", "echo", peer)
    dicom = tmp_path / "ct.dcm"
    ct_dataset().save_as(dicom, enforce_file_format=True)
    for peer in ("archive", "signed"):
        report = str(tmp_path / f"store-{peer}.jsonl")
        cli(f"store {peer}", "--json", "--debug", "store", peer, str(dicom), "--report", report)
    stored = [v for v in keyring_values(configured) if v not in (basic_secret, WRONG_SECRET)]
    (refresh_token,) = stored
    revoke = {"client_id": op.clients["device"].client_id, "token": refresh_token}
    assert post(op, "revocation", revoke).status_code == 200
    cli("echo revoked", "--json", "--debug", "echo", "archive")
    cli("whoami revoked", "--json", "whoami", "archive")
    kept("login again", run_cli_login(op, "login", "archive", env=configured, cwd=tmp_path))
    cli("logout", "--json", "logout", "archive")
    cli("echo logged out", "--json", "--debug", "echo", "archive")
    cli("config show", "--json", "config", "show", "archive")
    texts["audit file"] = (tmp_path / "audit.xml").read_text(encoding="utf-8")
    for peer in ("archive", "signed"):
        text = (tmp_path / f"store-{peer}.jsonl").read_text(encoding="utf-8")
        assert [json.loads(line)["result"] for line in text.splitlines()] == ["stored"], peer
        texts[f"store report {peer}"] = text

    refused = {"echo rejecting": 6, "echo wrong-basic": 4, "echo wrong-key": 4}
    refused |= {"echo revoked": 4, "whoami revoked": 4, "echo logged out": 4}
    refused |= {f"{label} text": code for label, code in refused.items() if "echo" in label}
    assert codes == {label: refused.get(label, 0) for label in codes}, codes
    # The refresh token lives in the keyring, never in another file (lock files, caches...).
    kept_there = {keyring_file(configured), tmp_path / "client-key.pem", tmp_path / "other-key.pem"}
    left = [f for f in tmp_path.rglob("*") if f.is_file() and f not in kept_there]
    assert any("lock" in str(f) for f in left), "no lock file was left: the search is weaker"
    for path in left:
        texts[f"file {path.relative_to(tmp_path)}"] = path.read_bytes().decode("latin-1")
    assert "OAuth error 'invalid_client'" in texts["echo wrong-basic text stderr"]
    assert "OAuth error 'invalid_client'" in texts["echo wrong-key text stderr"]
    assert "LoginRequired" in texts["echo revoked stderr"]
    for peer in ("archive", "rejecting", "basic", "signed"):  # --debug really ran
        assert "OUTGOING A-ASSOCIATE-RQ PDU" in texts[f"echo {peer} stderr"], peer
    named["access token"] = list(sent_identities)
    secrets = [value for values in named.values() for value in values]
    assert all(named.values()), {name: len(values) for name, values in named.items()}
    assert_search_finds(secrets)
    for label, text in texts.items():
        assert find_leaks(text, secrets) == [], label
        assert "eyJ" not in text, f"{label}: a JWT (an ID token or a client assertion?)"
