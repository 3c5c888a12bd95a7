"""``type = "oidc-login"`` and ``dicom-identity login PEER`` / ``whoami PEER`` / ``logout PEER``,
run as the INSTALLED command line from a folder outside the checkout, against the real OpenID
Provider (tests/oidc_op) and the embedded PACS verifying through the provider's JWKS. The
person's part is done from a second client (tests/oidc_browser.py) with the code the command
printed. No token (access, refresh) in any output."""

from __future__ import annotations

import base64
import configparser
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import providers._oidc_device_flow as device_flow
import providers._oidc_login as oidc_login
import providers._token_endpoint as token_endpoint
from client_sdk._identity_types import oidc_login as oidc_login_type
from client_sdk.testing import EmbeddedPacs
from tests.conftest import AUDIENCE
from tests.installed_cli import json_lines, run_cli
from tests.leak_search import find_leaks
from tests.oidc_fixtures import RunningOidcProvider
from tests.oidc_login_helpers import run_cli_login
from tests.oidc_requests import active, refresh

pytestmark = pytest.mark.usefixtures("no_outside_connections")


@pytest.fixture
def pacs(
    oidc_provider: RunningOidcProvider, embedded_pacs_factory: Callable[..., EmbeddedPacs]
) -> EmbeddedPacs:
    op = oidc_provider
    return embedded_pacs_factory(
        jwt_jwks_url=op.endpoint("jwks"), jwt_audience=AUDIENCE, jwt_issuer=op.issuer
    )


@pytest.fixture
def configured(
    oidc_provider: RunningOidcProvider, pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> dict[str, str]:
    op = oidc_provider
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[peers.archive]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "hospital-login"

[peers.plain]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "alice"

[identities.hospital-login]
type = "oidc-login"
issuer = "{op.issuer}"
client_id = "{op.clients["device"].client_id}"
scopes = ["openid", "offline_access", "dicom"]
audience = "{AUDIENCE}"
resource = "{op.resource}"
flow = "device"
poll_interval = 0.1
login_timeout = 60

[identities.alice]
type = "username"
username = "alice"
""",
        encoding="utf-8",
    )
    return {**env, "DICOM_IDENTITY_CONFIG": str(config)}


def keyring_values(env: dict[str, str]) -> list[str]:
    """Every password in keyrings.alt's plaintext file keyring of ``env`` (base64 there)."""
    path = Path(env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
    if not path.exists():
        return []
    parser = configparser.RawConfigParser()
    parser.read(path, encoding="utf-8")
    return [
        base64.b64decode(value).decode()
        for section in parser.sections()
        for _, value in parser.items(section)
    ]


@pytest.fixture
def login_process(
    oidc_provider: RunningOidcProvider, configured: dict[str, str], tmp_path: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``dicom-identity login ARGS`` with the person approving the printed code as alice."""

    def run(*args: str, approve: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli_login(
            oidc_provider, "login", *args, env=configured, cwd=tmp_path, approve=approve
        )

    return run


def test_login_whoami_echo_logout(
    oidc_provider: RunningOidcProvider,
    pacs: EmbeddedPacs,
    configured: dict[str, str],
    login_process: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    op = oidc_provider
    outputs: list[str] = []

    login = login_process("archive", "--device")
    outputs += [login.stdout, login.stderr]
    assert login.returncode == 0, login.stderr
    assert f"open {op.issuer}/device" in login.stderr
    client_id = op.clients["device"].client_id
    assert login.stdout.startswith(
        f"archive: logged in as 'alice' at {op.issuer} (client {client_id}); scopes dicom; "
        "access token valid until 20"
    )
    (refresh_token,) = keyring_values(configured)  # the refresh token, in the keyring only
    assert refresh_token

    whoami = run_cli("whoami", "archive", "--json", env=configured, cwd=tmp_path)
    outputs += [whoami.stdout, whoami.stderr]
    assert whoami.returncode == 0, whoami.stderr
    (status,) = json_lines(whoami.stdout)
    assert (status["event"], status["principal"], status["issuer"]) == (
        "logged in",
        "alice",
        op.issuer,
    )
    assert "dicom" in status["scopes"].split() and status["expires"]

    echo = run_cli("echo", "archive", env=configured, cwd=tmp_path)
    outputs += [echo.stdout, echo.stderr]
    assert echo.returncode == 0, echo.stderr
    (record,) = pacs.wait_for_records(1)
    assert (record.identity_type, record.principal, record.verified) == (5, "alice", True)

    secrets = [*keyring_values(configured), refresh_token]
    logout = run_cli("logout", "archive", env=configured, cwd=tmp_path)
    outputs += [logout.stdout, logout.stderr]
    assert logout.returncode == 0, logout.stderr
    assert logout.stdout.strip() == (
        "archive: logged out; the refresh token revoked at the issuer; deleted from the keyring"
    )
    assert keyring_values(configured) == []
    # Revoked at the server: the real provider refuses a refresh with the logged-out token.
    assert not active(op, refresh_token)
    spent = refresh(op, "device", refresh_token)
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")

    after = run_cli("whoami", "archive", env=configured, cwd=tmp_path)
    outputs += [after.stdout, after.stderr]
    assert after.returncode != 0
    assert "LoginRequired" in after.stderr and "dicom-identity login archive" in after.stderr
    echo_after = run_cli("echo", "archive", env=configured, cwd=tmp_path)  # stdin not a terminal
    outputs += [echo_after.stdout, echo_after.stderr]
    assert echo_after.returncode != 0
    assert "dicom-identity login archive" in echo_after.stderr
    assert len(pacs.records) == 1  # nothing was sent without a login

    seen = "\n".join(outputs)
    assert "eyJ" not in seen  # no JWT (access or ID token) in any output
    assert find_leaks(seen, secrets) == []


def test_echo_on_a_terminal_logs_in_by_itself(
    oidc_provider: RunningOidcProvider,
    pacs: EmbeddedPacs,
    configured: dict[str, str],
    tmp_path: Path,
) -> None:
    """The command line's default: with stdin a terminal, an ``oidc-login`` peer without a login
    runs the device flow (the code printed on stderr), then the association goes on; without a
    terminal it stops at once with the login advice (test_login_whoami_echo_logout)."""
    controller, terminal = os.openpty()
    try:
        echo = run_cli_login(
            oidc_provider, "echo", "archive", env=configured, cwd=tmp_path, stdin=terminal
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert echo.returncode == 0, echo.stderr
    assert f"open {oidc_provider.issuer}/device" in echo.stderr
    (record,) = pacs.wait_for_records(1)
    assert (record.identity_type, record.principal, record.verified) == (5, "alice", True)
    (refresh_token,) = keyring_values(configured)  # kept for the next command
    assert active(oidc_provider, refresh_token)
    assert "eyJ" not in echo.stdout + echo.stderr
    assert find_leaks(echo.stdout + echo.stderr, [refresh_token]) == []


def test_a_denied_login_is_an_error_and_stores_nothing(
    configured: dict[str, str], login_process: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    denied = login_process("archive", approve=False)
    assert denied.returncode != 0
    assert "LoginDenied" in denied.stderr
    assert keyring_values(configured) == []


def test_login_needs_an_oidc_login_peer(configured: dict[str, str], tmp_path: Path) -> None:
    other = run_cli("login", "plain", env=configured, cwd=tmp_path)
    assert other.returncode == 3
    assert "peer 'plain'" in other.stderr and 'type = "oidc-login"' in other.stderr
    assert "'alice', type = \"username\"" in other.stderr
    unknown = run_cli("whoami", "nowhere", env=configured, cwd=tmp_path)
    assert unknown.returncode == 3
    assert "'nowhere' is not in the configuration" in unknown.stderr
    both = run_cli("login", "archive", "--device", "--browser", env=configured, cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_the_configuration_is_checked(
    configured: dict[str, str], tmp_path: Path, env: dict[str, str]
) -> None:
    config = Path(configured["DICOM_IDENTITY_CONFIG"])
    text = config.read_text(encoding="utf-8")
    bad = re.sub(r'issuer = "[^"]*"', 'issuer = "http://idp.example.org"', text)
    bad = bad.replace('flow = "device"', 'flow = "telepathy"')
    config.write_text(bad, encoding="utf-8")
    check = run_cli("config", "check", env=configured, cwd=tmp_path)
    assert check.returncode == 3
    assert "identities.hospital-login.issuer" in check.stderr
    assert "refusing plain HTTP" in check.stderr
    assert "identities.hospital-login.flow" in check.stderr and "telepathy" in check.stderr


def test_the_registry_defaults_agree_with_the_provider() -> None:
    assert oidc_login_type.DEFAULT_SCOPES == oidc_login.DEFAULT_SCOPES
    assert oidc_login_type.DEFAULT_LOGIN_TIMEOUT == oidc_login.DEFAULT_LOGIN_TIMEOUT
    assert oidc_login_type.DEFAULT_TIMEOUT == token_endpoint.DEFAULT_TIMEOUT
    assert oidc_login_type.DEFAULT_POLL_INTERVAL == device_flow.DEFAULT_POLL_INTERVAL
