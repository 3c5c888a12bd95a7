"""Identity flags on a configured peer change fields of its configured identity, never its kind.

The rule and its table are in the README ("Identity flags on a configured peer"); the table is
parsed here, so the code and the documentation cannot drift apart. The matrix of every identity
flag against every configured type is pure logic (no credential is read, nothing is sent); the
cases a user meets run the installed command line against the embedded PACS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import ConfigError, load_config
from client_sdk._cli.configured_identity import FIELDS_BY_FLAG, identity_for_configured_peer
from client_sdk._cli.parser import build_parser
from client_sdk._config.schema import IDENTITY_TYPES
from client_sdk.testing import EmbeddedPacs
from providers import (
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    ProviderChain,
    SamlFileProvider,
    TokenEndpointProvider,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, write_token
from tests.installed_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"alice": "alice-flags-Pa55", "bob": "bob-flags-Pa55"}

# One configured identity of every type (the chain holds two of them).
CONFIG = """
[peers.p-username]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"
identity = "username"

[peers.p-keyring-password]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"
identity = "keyring-password"

[peers.p-jwt-file]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"
identity = "jwt-file"

[peers.p-saml-file]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"
identity = "saml-file"

[peers.p-kerberos]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"
identity = "kerberos"

[peers.p-token-endpoint]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"
identity = "token-endpoint"

[peers.p-chain]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"
identity = "chain"

[peers.p-none]
host = "127.0.0.1"
port = 11112
ae_title = "PACS"

[identities.username]
type = "username"
username = "alice"

[identities.keyring-password]
type = "keyring-password"
service = "archive"
username = "alice"
positive_response = true

[identities.jwt-file]
type = "jwt-file"
path = "/run/agent/token.jwt"
audience = "ARCHIVE"

[identities.saml-file]
type = "saml-file"
path = "/run/agent/assertion.xml"
audience = "ARCHIVE"

[identities.kerberos]
type = "kerberos"
service = "dicom"
hostname = "pacs.example.org"
mutual_auth = "optional"

[identities.token-endpoint]
type = "token-endpoint"
token_url = "https://idp.example.org/token"
client_id = "router"
client_secret_keyring = ["idp.example.org", "router"]

[identities.chain]
type = "chain"
identities = ["jwt-file", "keyring-password"]
"""

# A value for each identity flag, and what the changed provider must then hold.
FLAG_VALUES: dict[str, tuple[str, dict[str, Any]]] = {
    "--user": ("bob", {"username": "bob"}),
    "--keyring-service": ("other-service", {"service": "other-service"}),
    "--jwt-file": ("/tmp/other.jwt", {"path": Path("/tmp/other.jwt")}),
    "--saml-file": ("/tmp/other.xml", {"path": Path("/tmp/other.xml")}),
    "--kerberos": ("host@other.example.org", {"service": "host", "hostname": "other.example.org"}),
    "--token-url": (
        "https://idp2.example.org/token",
        {"token_url": "https://idp2.example.org/token"},
    ),
    "--client-id": ("other-client", {"client_id": "other-client"}),
    "--client-secret-keyring": ("vault:other", {"client_secret_keyring": ("vault", "other")}),
    "--scope": ("dicom.read", {"scope": "dicom.read"}),
    "--token-auth": ("client-secret", {"auth": "client-secret"}),
}
# What each configured type keeps whatever its flags change.
KEPT: dict[str, dict[str, Any]] = {
    "username": {"positive_response": False},
    "keyring-password": {"positive_response": True, "service": "archive", "username": "alice"},
    "jwt-file": {"audience": "ARCHIVE", "path": Path("/run/agent/token.jwt")},
    "saml-file": {"audience": "ARCHIVE", "path": Path("/run/agent/assertion.xml")},
    "kerberos": {"mutual_auth": "optional", "hostname": "pacs.example.org"},
    "token-endpoint": {"client_id": "router", "scope": None},
    "chain": {},
}
PROVIDER_CLASS = {
    "username": UsernameProvider,
    "keyring-password": KeyringPasswordProvider,
    "jwt-file": JwtFileProvider,
    "saml-file": SamlFileProvider,
    "kerberos": KerberosProvider,
    "token-endpoint": TokenEndpointProvider,
    "chain": ProviderChain,
}


def readme_table() -> dict[str, set[str]]:
    """The README's table of identity flags on a configured peer: type -> its flags."""
    text = (ROOT / "README.md").read_text()
    start = text.index("| configured `type` | flags that change it (field) |")
    rows: dict[str, set[str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        kind, flags = (cell.strip() for cell in line.strip("|").split("|"))
        rows[kind.strip("`")] = set(re.findall(r"`(--[a-z-]+)`", flags))
    return rows


def test_the_readme_table_is_the_rule() -> None:
    table = readme_table()
    assert set(table) == set(IDENTITY_TYPES)
    for kind, cls in IDENTITY_TYPES.items():
        assert table[kind] == set(FIELDS_BY_FLAG[cls]), kind


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("flags") / "config.toml"
    path.write_text(CONFIG)
    return load_config(path, environ={})


def flags_of(*argv: str) -> Any:
    return build_parser().parse_args(["echo", "p", *argv])


@pytest.mark.parametrize("flag", sorted(FLAG_VALUES))
@pytest.mark.parametrize("kind", sorted(KEPT))
def test_every_flag_against_every_configured_type(config: Any, kind: str, flag: str) -> None:
    value, changed = FLAG_VALUES[flag]
    peer = f"p-{kind}"
    if flag not in FIELDS_BY_FLAG[IDENTITY_TYPES[kind]]:
        with pytest.raises(ConfigError) as info:
            identity_for_configured_peer(config, peer, flags_of(flag, value))
        message = str(info.value)
        # Names the flag, the peer, the configured identity and its type, and the ways out.
        assert flag in message and repr(peer) in message
        assert f'type = "{kind}"' in message and repr(kind) in message
        assert "HOST:PORT with --ae-title" in message
        return
    provider = identity_for_configured_peer(config, peer, flags_of(flag, value))
    assert type(provider) is PROVIDER_CLASS[kind]
    kept = {k: v for k, v in KEPT[kind].items() if k not in changed}
    for attribute, expected in {**kept, **changed}.items():
        assert getattr(provider, attribute) == expected, attribute


@pytest.mark.parametrize("kind", sorted(KEPT))
def test_pos_response_asks_every_configured_identity(config: Any, kind: str) -> None:
    provider = identity_for_configured_peer(config, f"p-{kind}", flags_of("--pos-response"))
    members = provider.providers if isinstance(provider, ProviderChain) else (provider,)
    assert members and all(m.positive_response is True for m in members)


def test_no_identity_flag_leaves_the_configured_identity_alone(config: Any) -> None:
    assert identity_for_configured_peer(config, "p-keyring-password", flags_of()) is None


def test_a_peer_without_an_identity_takes_the_flags_whole(config: Any) -> None:
    provider = identity_for_configured_peer(config, "p-none", flags_of("--user", "bob"))
    assert isinstance(provider, UsernameProvider) and provider.username == "bob"
    assert provider.positive_response is False


# --- the installed command line against the embedded PACS ---------------------------------------


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users=PASSWORDS, jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as p:
        yield p


def site(tmp_path: Path, pacs: EmbeddedPacs) -> Path:
    """An archive with a type-2 keyring password that asks for a positive response, a router
    with a type-1 username that does not."""
    path = tmp_path / "config.toml"
    peer = f'host = "{pacs.host}"\nport = {pacs.port}\nae_title = "{pacs.ae_title}"'
    path.write_text(
        f"""
[peers.archive]
{peer}
identity = "archive-password"

[peers.router]
{peer}
identity = "router-user"

[identities.archive-password]
type = "keyring-password"
service = "archive"
username = "alice"
positive_response = true

[identities.router-user]
type = "username"
username = "alice"
"""
    )
    return path


def keyring_set(tmp_path: Path, service: str, user: str, password: str) -> None:
    """Into the file keyring the command line of ``env`` reads (XDG_DATA_HOME in tmp)."""
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "data" / "python_keyring" / "keyring_pass.cfg")
    backend.set_password(service, user, password)


def test_user_on_a_configured_keyring_password_peer_keeps_type_service_and_response(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = site(tmp_path, pacs)
    keyring_set(tmp_path, "archive", "bob", PASSWORDS["bob"])
    result = run_cli(
        "--config", str(config), "echo", "archive", "--user", "bob", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "identity=username+passcode principal='bob' response=empty decision=confirmed" in (
        result.stdout
    )
    (record,) = pacs.wait_for_records(1, timeout=10)
    # 0.4.1 sent a type-1 username without asking for a response here.
    assert (record.identity_type, record.principal, record.response_requested) == (2, "bob", True)
    assert PASSWORDS["bob"] not in result.stdout + result.stderr


def test_user_and_pos_response_on_a_configured_username_peer(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = site(tmp_path, pacs)
    args = ("--config", str(config), "echo", "router", "--user", "bob", "--pos-response")
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (record,) = pacs.wait_for_records(1, timeout=10)
    assert (record.identity_type, record.principal, record.response_requested) == (1, "bob", True)


def test_another_kind_of_identity_on_a_configured_peer_is_refused(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = site(tmp_path, pacs)
    token = write_token(tmp_path / "t.jwt", make_jwt())
    result = run_cli(
        "--config", str(config), "echo", "archive", "--jwt-file", str(token), env=env, cwd=tmp_path
    )
    assert result.returncode == 3
    (line,) = result.stderr.splitlines()
    assert "--jwt-file cannot apply to peer 'archive'" in line
    assert "'archive-password'" in line and 'type = "keyring-password"' in line
    assert pacs.records == []  # nothing was sent
    # The way out it names: a one-off identity from flags alone, for HOST:PORT.
    address = f"{pacs.host}:{pacs.port}"
    one_off = run_cli(
        "echo",
        address,
        "--ae-title",
        pacs.ae_title,
        "--jwt-file",
        str(token),
        env=env,
        cwd=tmp_path,
    )
    assert one_off.returncode == 0, one_off.stderr
    assert "identity=jwt" in one_off.stdout
