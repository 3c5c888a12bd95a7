"""Issue 14, finding 10: a secret typed where none belongs is refused without being repeated.

Every place a value can be typed (the command line's flags and peer argument, environment
variables, configuration keys, the Python API's addresses, URLs and usernames) goes through
``providers._misplaced_secret``: a user part in an address or URL, a secret-named URL parameter,
a JWT, ``USER:PASSWORD`` as a username. The refusal names the place and the fix, and shows the
value masked (``alice:***@host:104``). The canary never appears in stdout, stderr, ``--json``
output, the audit file or the exception chain, in any encoding; nothing reaches the peer.
"""

from __future__ import annotations

import base64
import json
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk import Client, InvalidConfig, Peer, load_config
from client_sdk.testing import EmbeddedPacs
from providers import (
    InvalidIdentity,
    KeyringPasswordProvider,
    TokenEndpointProvider,
    UsernameProvider,
)
from providers._misplaced_secret import find_misplaced_secret, masked
from tests.conftest import make_jwt
from tests.installed_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
CANARY = "Wr0ngPlace-canary-7f3a"  # the secret typed in the wrong place
JWT = make_jwt(sub="alice", lifetime=3600)
JWT_TAIL = JWT.split(".", 1)[1]  # payload and signature: the header alone is no secret


def encodings(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        json.dumps(secret)[1:-1],
    ]


def leaked(text: str, secret: str = CANARY) -> list[str]:
    """The encodings of ``secret`` found in ``text``."""
    return [form for form in encodings(secret) if form in text]


def test_the_leak_search_finds_every_encoding() -> None:
    # Control: the search is not blind. Each encoding, embedded in other text, is found.
    for form in encodings(CANARY):
        assert leaked(f"before {form} after") != [], form
    assert leaked(f"x{JWT_TAIL}y", JWT_TAIL) != []
    assert leaked("alice:***@127.0.0.1:104") == []


# --- the command line, installed, run from outside the checkout --------------------------------


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users={"alice": CANARY}) as server:
        yield server


def refused_everywhere(
    tmp_path: Path, env: dict[str, str], args: list[str], secret: str = CANARY
) -> str:
    """Run ``args`` as text and as --json, with an audit file: exit 3 both times, the secret in
    no output and no audit file. Returns the text run's stderr."""
    assert not tmp_path.resolve().is_relative_to(ROOT)
    audit = tmp_path / "audit.xml"
    text = run_cli(*args, "--audit-file", str(audit), env=env, cwd=tmp_path)
    as_json = run_cli("--json", *args, "--audit-file", str(audit), env=env, cwd=tmp_path)
    for run in (text, as_json):
        assert run.returncode == 3, (run.returncode, run.stderr)
        assert leaked(run.stdout + run.stderr, secret) == [], run.stdout + run.stderr
        assert "no secret" in run.stdout + run.stderr
    (event,) = [json.loads(line) for line in as_json.stdout.splitlines() if line.strip()]
    assert event["event"] == "error" and event["exit_code"] == 3
    if audit.exists():
        assert leaked(audit.read_text(), secret) == []
    return text.stderr


def test_an_address_with_a_password(
    tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs
) -> None:
    address = f"alice:{CANARY}@127.0.0.1:{pacs.port}"
    stderr = refused_everywhere(tmp_path, env, ["echo", address, "--ae-title", pacs.ae_title])
    assert f"the peer argument 'alice:***@127.0.0.1:{pacs.port}'" in stderr
    assert "HOST:PORT" in stderr
    # Without --ae-title, the message that used to repeat the address is not reached either.
    refused_everywhere(tmp_path, env, ["echo", address])
    assert pacs.records == [], "nothing may reach the peer"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://svc:{CANARY}@127.0.0.1:1/token", "'https://svc:***@127.0.0.1:1/token'"),
        (f"https://127.0.0.1:1/token?client_secret={CANARY}", "client_secret=***"),
        (f"https://127.0.0.1:1/token?scope=a&api-key={CANARY}", "api-key=***"),
    ],
)
def test_a_token_url_with_a_secret(
    tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs, url: str, shown: str
) -> None:
    args = ["echo", f"127.0.0.1:{pacs.port}", "--ae-title", pacs.ae_title, "--token-url", url]
    stderr = refused_everywhere(tmp_path, env, [*args, "--client-id", "c"])
    assert f"--token-url '{url.split(CANARY)[0]}" in stderr.replace(CANARY, "***")
    assert shown in stderr and "--client-secret-keyring" in stderr
    assert pacs.records == []


def test_user_with_a_password(tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs) -> None:
    peer = ["echo", f"127.0.0.1:{pacs.port}", "--ae-title", pacs.ae_title]
    stderr = refused_everywhere(tmp_path, env, [*peer, "--user", f"alice:{CANARY}"])
    assert "--user 'alice:***'" in stderr and "--keyring-service" in stderr
    assert pacs.records == [], "0.4.1 sent 'alice:PASSWORD' as the username, and audited it"


def test_user_with_a_password_on_a_configured_peer(
    tmp_path: Path, env: dict[str, str], pacs: EmbeddedPacs
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[peers.local]\nhost = "127.0.0.1"\nport = {pacs.port}\nae_title = "{pacs.ae_title}"\n'
        'identity = "alice"\n[identities.alice]\ntype = "keyring-password"\n'
        'service = "pacs"\nusername = "alice"\n'
    )
    args = ["--config", str(config), "echo", "local", "--user", f"bob:{CANARY}"]
    assert "--user 'bob:***'" in refused_everywhere(tmp_path, env, args)
    assert pacs.records == []


def test_a_token_where_a_path_goes(tmp_path: Path, env: dict[str, str]) -> None:
    args = ["echo", "127.0.0.1:1", "--ae-title", "X", "--jwt-file", JWT]
    stderr = refused_everywhere(tmp_path, env, args, secret=JWT_TAIL)
    assert "--jwt-file '***'" in stderr and "a JWT" in stderr


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("DICOM_IDENTITY_PASSWORD", CANARY, "DICOM_IDENTITY_PASSWORD: is set"),
        ("DICOM_IDENTITY_CLIENT_SECRET", CANARY, "DICOM_IDENTITY_CLIENT_SECRET: is set"),
        ("DICOM_IDENTITY_CALLING_AE_TITLE", JWT, "DICOM_IDENTITY_CALLING_AE_TITLE: the value"),
    ],
)
def test_environment_variables(
    tmp_path: Path, env: dict[str, str], variable: str, value: str, shown: str
) -> None:
    stderr = refused_everywhere(
        tmp_path,
        {**env, variable: value},
        ["echo", "127.0.0.1:1", "--ae-title", "X"],
        secret=JWT_TAIL if value == JWT else CANARY,
    )
    assert shown in stderr


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("host", f"alice:{CANARY}@127.0.0.1", "peers.local.host: the value 'alice:***@"),
        ("username", f"alice:{CANARY}", "identities.alice.username: the value 'alice:***'"),
    ],
)
def test_configuration_values(
    tmp_path: Path, env: dict[str, str], key: str, value: str, shown: str
) -> None:
    fields = {"host": "127.0.0.1", "username": "alice", key: value}
    config = tmp_path / "config.toml"
    config.write_text(
        f'[peers.local]\nhost = "{fields["host"]}"\nport = 104\nae_title = "PACS"\n'
        'identity = "alice"\n[identities.alice]\ntype = "keyring-password"\n'
        f'service = "pacs"\nusername = "{fields["username"]}"\n'
    )
    stderr = refused_everywhere(tmp_path, env, ["--config", str(config), "echo", "local"])
    assert shown in stderr


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("token_url", f"https://u:{CANARY}@idp.example/token", "'https://u:***@idp.example"),
        ("token_url", f"https://idp.example/token?client_secret={CANARY}", "client_secret=***"),
        ("proxy", f"http://u:{CANARY}@proxy.example:3128", "'http://u:***@proxy.example:3128'"),
    ],
)
def test_token_endpoint_urls_in_the_configuration(
    tmp_path: Path, env: dict[str, str], key: str, value: str, shown: str
) -> None:
    fields = {"token_url": "https://idp.example/token", key: value}
    config = tmp_path / "config.toml"
    config.write_text(
        '[identities.idp]\ntype = "token-endpoint"\nclient_id = "c"\n'
        'client_secret_keyring = ["s", "u"]\n'
        + "".join(f'{name} = "{text}"\n' for name, text in fields.items())
    )
    stderr = refused_everywhere(tmp_path, env, ["--config", str(config), "echo", "local"])
    assert f"identities.idp.{key}: {key} " in stderr and shown in stderr


# --- the Python API -------------------------------------------------------------------------


def chain_text(error: BaseException) -> str:
    """Everything an error reporter shows of ``error`` and the errors chained to it."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current), repr(current.args), type(current).__name__]
        current = current.__cause__ or current.__context__
    parts += traceback.format_exception(error)
    return "\n".join(parts)


def refused_in_python(kind: type[BaseException], call: Any, secret: str = CANARY) -> str:
    with pytest.raises(kind) as info:
        call()
    text = chain_text(info.value)
    assert leaked(text, secret) == [], text
    assert "no secret" in str(info.value)
    return str(info.value)


def test_python_addresses(tmp_path: Path) -> None:
    address = f"alice:{CANARY}@127.0.0.1:104"
    shown = "'alice:***@127.0.0.1"
    assert shown in refused_in_python(ValueError, lambda: Peer(address[:-4], 104, "PACS"))
    config = _empty_config(tmp_path)
    message = refused_in_python(
        InvalidConfig, lambda: config.client_for_address(address, ae_title="PACS")
    )
    assert f"peer address {shown}" in message
    # A name that is not configured: the "no such peer" message shows it masked.
    with pytest.raises(InvalidConfig) as info:
        Client.from_config(address, config)
    assert leaked(chain_text(info.value)) == [] and "alice:***@" in str(info.value)


def _empty_config(tmp_path: Path) -> Any:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return load_config(path, environ={})


def test_python_token_endpoint_urls() -> None:
    def make(url: str, **kwargs: Any) -> Any:
        return lambda: TokenEndpointProvider(
            url, client_id="c", client_secret_keyring=("s", "u"), **kwargs
        )

    assert "'https://u:***@idp.example/token'" in refused_in_python(
        ValueError, make(f"https://u:{CANARY}@idp.example/token")
    )
    assert "client_secret=***" in refused_in_python(
        ValueError, make(f"https://idp.example/token?x=1&client_secret={CANARY}")
    )
    assert "access_token=***" in refused_in_python(
        ValueError, make(f"https://idp.example/token#access_token={CANARY}")
    )
    proxy = f"http://u:{CANARY}@proxy.example:3128"
    assert "'http://u:***@proxy.example:3128'" in refused_in_python(
        ValueError, make("https://idp.example/token", proxy=proxy)
    )


def test_python_usernames() -> None:
    for make in (
        lambda: UsernameProvider(f"alice:{CANARY}"),
        lambda: KeyringPasswordProvider("pacs", f"alice:{CANARY}"),
    ):
        assert "the username 'alice:***'" in refused_in_python(InvalidIdentity, make)
    UsernameProvider("alice")  # a name alone is fine


def test_python_environment(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    message = refused_in_python(
        InvalidConfig, lambda: load_config(path, environ={"DICOM_IDENTITY_TOKEN": CANARY})
    )
    assert "DICOM_IDENTITY_TOKEN: is set" in message


# --- the detection itself, as pure logic ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        ("alice:pw@pacs:104", "address", "alice:***@pacs:104"),
        ("alice:p@ss@pacs:104", "address", "alice:***@pacs:104"),  # an @ in the password
        ("token@pacs:104", "address", "***@pacs:104"),
        ("https://u:pa/ss@idp/t", "", "https://u:***@idp/t"),  # a / in the password
        ("https://TOKEN@idp/t", "", "https://***@idp/t"),
        ("https://idp/t?a=1&password=pw&b=2", "", "https://idp/t?a=1&password=***&b=2"),
        ("https://idp/t?X-Amz-Signature=abc", "", "https://idp/t?X-Amz-Signature=***"),
        ("alice:pw", "username", "alice:***"),
        (f"Bearer {JWT}", "", "Bearer ***"),
    ],
)
def test_what_is_found_and_how_it_is_shown(value: str, kind: str, shown: str) -> None:
    options = {kind: True} if kind else {}
    finding = find_misplaced_secret(value, **options)
    assert finding is not None and finding.shown == shown
    assert masked(value, **options) == shown


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("pacs.example.org:104", "address"),
        ("[::1]:104", "address"),
        ("alice", "username"),
        ("https://idp.example/token?scope=read&audience=pacs", ""),
        ("svc:alice@corp.example", ""),  # --client-secret-keyring SERVICE:USER
        ("dicom@pacs.example.org", ""),  # --kerberos SERVICE@HOST
        ("/var/lib/tokens/eyJ.jwt", ""),
        ("alice@pacs:104", ""),  # not an address: an @ is fine elsewhere
    ],
)
def test_what_is_not_a_secret(value: str, kind: str) -> None:
    options = {kind: True} if kind else {}
    assert find_misplaced_secret(value, **options) is None
    assert masked(value, **options) == value
