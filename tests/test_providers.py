"""Providers against real sources: a file keyring, real JWT files, real chains. No network."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from providers import (
    CredentialExpired,
    IdentityError,
    IdentityExchange,
    IdentityProvider,
    IdentityRequest,
    IdentityType,
    InvalidIdentity,
    JwtFileProvider,
    KeyringPasswordProvider,
    NoCredentials,
    PasswordProvider,
    ProviderChain,
    ResponseStatus,
    Secret,
    Target,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, make_jwt, write_token


def test_providers_never_import_client_sdk() -> None:
    code = "import sys, providers; sys.exit('client_sdk' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    "provider",
    [
        UsernameProvider("alice"),
        PasswordProvider("alice", "pw"),
        KeyringPasswordProvider("svc", "alice"),
        JwtFileProvider("/nonexistent"),
        ProviderChain([UsernameProvider("alice")]),
    ],
)
def test_every_provider_meets_the_protocol(provider: Any) -> None:
    assert isinstance(provider, IdentityProvider)


# --- Secret ---------------------------------------------------------------------------------


def test_secret_never_shows_value_or_length() -> None:
    s = Secret("hunter2-long-password")
    for shown in (repr(s), str(s), f"{s}", f"{s!r}", "%s" % s):  # noqa: UP031
        assert "hunter2" not in shown
        assert "21" not in shown
    assert repr(Secret("a")) == repr(Secret("a" * 500))
    assert s.reveal() == b"hunter2-long-password"
    assert s == Secret(b"hunter2-long-password")
    assert s != Secret("other")


def test_secret_refuses_pickle_and_hash() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))
    with pytest.raises(TypeError):
        hash(Secret("x"))


# --- IdentityRequest validation ------------------------------------------------------------


def test_request_refuses_bad_fields() -> None:
    with pytest.raises(InvalidIdentity, match="primary field is empty"):
        IdentityRequest(IdentityType.USERNAME, Secret(b""))
    with pytest.raises(InvalidIdentity, match="not valid UTF-8"):
        IdentityRequest(IdentityType.USERNAME, Secret(b"\xff\xfe"), principal="?")
    with pytest.raises(InvalidIdentity, match="passcode is empty"):
        IdentityRequest(IdentityType.USERNAME_PASSCODE, Secret("alice"), Secret(""))
    with pytest.raises(InvalidIdentity, match="passcode is not valid UTF-8"):
        IdentityRequest(IdentityType.USERNAME_PASSCODE, Secret("alice"), Secret(b"\xff"))
    with pytest.raises(InvalidIdentity, match="only be sent with type 2"):
        IdentityRequest(IdentityType.JWT, Secret("a.b.c"), Secret("extra"))


def test_password_request_and_primitive(target: Target) -> None:
    exchange = PasswordProvider("jürgen", "pässwörd", positive_response=True).negotiate(target)
    request = exchange.request
    assert request.identity_type is IdentityType.USERNAME_PASSCODE
    assert request.principal == "jürgen"
    assert "pässwörd" not in repr(request)
    assert "pässwörd" not in repr(exchange.request)
    primitive = exchange.to_primitive()
    assert primitive.user_identity_type == 2
    assert primitive.primary_field == "jürgen".encode()
    assert primitive.secondary_field == "pässwörd".encode()
    assert primitive.positive_response_requested is True
    # The standard's worked bytes for alice/secret, response requested.
    item = PasswordProvider("alice", "secret", positive_response=True).negotiate(target)
    encoded = item.to_primitive().from_primitive().encode()
    assert encoded.hex(" ") == "58 00 00 11 02 01 00 05 61 6c 69 63 65 00 06 73 65 63 72 65 74"
    assert item.request.item_length == len(encoded)


def test_username_worked_bytes(target: Target) -> None:
    exchange = UsernameProvider("jürgen").negotiate(target)
    encoded = exchange.to_primitive().from_primitive().encode()
    assert encoded.hex(" ") == "58 00 00 0d 01 00 00 07 6a c3 bc 72 67 65 6e 00 00"


def test_exchange_is_single_use(target: Target) -> None:
    exchange = UsernameProvider("alice").negotiate(target)
    exchange.to_primitive()
    with pytest.raises(IdentityError, match="already used"):
        exchange.to_primitive()
    assert exchange.complete(None).status is ResponseStatus.NOT_REQUESTED
    with pytest.raises(IdentityError, match="already completed"):
        exchange.complete(b"")


def test_exchange_classifies_responses(target: Target) -> None:
    token = make_jwt()

    def fresh() -> IdentityExchange:
        return IdentityExchange(IdentityRequest(IdentityType.JWT, Secret(token), None, True))

    assert fresh().complete(None).status is ResponseStatus.MISSING
    unasked = IdentityExchange(IdentityRequest(IdentityType.JWT, Secret(token), None, False))
    assert unasked.complete(None).status is ResponseStatus.NOT_REQUESTED
    empty = fresh().complete(b"")
    assert (empty.status, empty.length, empty.echoed) == (ResponseStatus.EMPTY, 0, False)
    echo = fresh().complete(token.encode())
    assert echo.status is ResponseStatus.ECHOED and echo.echoed
    other = fresh().complete(b"something else")
    assert other.status is ResponseStatus.UNVERIFIED and not other.echoed


def test_loopback_detection() -> None:
    def t(host: str) -> Target:
        return Target(host, 104, "A", "B")

    assert t("127.0.0.1").is_loopback and t("127.8.9.1").is_loopback and t("::1").is_loopback
    assert t("[::1]").is_loopback
    # A name is never loopback by itself (issue 14, finding 7: tests/test_loopback_address.py).
    assert not t("localhost").is_loopback and t("localhost").may_be_loopback
    assert not t("192.0.2.10").is_loopback and not t("pacs.example.org").is_loopback
    assert not t("10.0.0.1").is_loopback


# --- Keyring (a real backend: keyrings.alt's file keyring in a temp folder) ----------------


def test_keyring_password_is_read_at_each_association(file_keyring: Any, target: Target) -> None:
    file_keyring.set_password("pacs", "alice", "first-password")
    provider = KeyringPasswordProvider("pacs", "alice", backend=file_keyring)
    first = provider.negotiate(target).request
    assert first.secondary is not None and first.secondary.reveal() == b"first-password"
    assert "keyrings.alt.file.PlaintextKeyring" in first.source
    assert first.principal == "alice"
    file_keyring.set_password("pacs", "alice", "rotated-password")
    second = provider.negotiate(target).request
    assert second.secondary is not None and second.secondary.reveal() == b"rotated-password"


def test_keyring_set_command_then_provider(tmp_path: Path, target: Target) -> None:
    """The exact command our error message suggests, then the provider with default resolution."""
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    env["XDG_DATA_HOME"] = str(tmp_path)
    cli = Path(sys.executable).with_name("keyring")
    subprocess.run(
        [str(cli), "set", "pacs-cli", "carol"],
        input="from-the-cli\n",
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    code = (
        "from providers import KeyringPasswordProvider, Target\n"
        "r = KeyringPasswordProvider('pacs-cli', 'carol').negotiate("
        "Target('127.0.0.1', 104, 'A', 'B')).request\n"
        "assert r.secondary.reveal() == b'from-the-cli', 'wrong password'\n"
        "print(r.source)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert "PlaintextKeyring" in out.stdout


# --- JWT file -------------------------------------------------------------------------------


def test_jwt_file_read_and_rotated(tmp_path: Path, target: Target) -> None:
    path = write_token(tmp_path / "token", make_jwt(sub="first"))
    provider = JwtFileProvider(path, audience=AUDIENCE)
    assert provider.negotiate(target).request.principal == "first"
    write_token(path, make_jwt(sub="second-after-rotation"))
    request = provider.negotiate(target).request
    assert request.principal == "second-after-rotation"
    assert request.identity_type is IdentityType.JWT
    assert str(path) in request.source


def test_jwt_file_unchanged_is_not_parsed_again(tmp_path: Path, target: Target) -> None:
    path = write_token(tmp_path / "token", make_jwt())
    provider = JwtFileProvider(path)
    provider.negotiate(target)
    loaded = provider._loaded
    provider.negotiate(target)
    assert provider._loaded is loaded


def provider_token(provider: JwtFileProvider, target: Target) -> str:
    return provider.negotiate(target).request.primary.reveal().decode()


def test_jwt_without_claims_is_sent(tmp_path: Path, target: Target) -> None:
    # "{}" for header and claims: nothing to refuse it for; the peer decides. (Malformed files,
    # CRLF and "Bearer ": tests/test_bad_input.py.)
    path = write_token(tmp_path / "token", "e30.e30.")
    assert JwtFileProvider(path).negotiate(target).request.principal == ""


def test_jwt_file_jwe_is_sent_opaque(tmp_path: Path, target: Target) -> None:
    jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn"
    path = write_token(tmp_path / "token", jwe)
    assert provider_token(JwtFileProvider(path), target) == jwe


def test_jwt_leeway_with_injected_clock(tmp_path: Path, target: Target) -> None:
    path = write_token(tmp_path / "token", make_jwt(exp=1_000_000, iat=999_000))
    JwtFileProvider(path, leeway=30, clock=lambda: 1_000_029).negotiate(target)
    with pytest.raises(CredentialExpired):
        JwtFileProvider(path, leeway=30, clock=lambda: 1_000_031).negotiate(target)
    for claim in ("nbf", "iat"):  # not valid yet: the same leeway, the other way
        claims = {"iat": None, claim: 1_000_000}
        write_token(path, make_jwt(exp=2_000_000, **claims))
        JwtFileProvider(path, leeway=30, clock=lambda: 999_971).negotiate(target)
        with pytest.raises(CredentialExpired, match="in the future"):
            JwtFileProvider(path, leeway=30, clock=lambda: 999_969).negotiate(target)


def test_jwt_audience_among_several(tmp_path: Path, target: Target) -> None:
    # (A token for another audience: tests/test_bad_input.py.)
    path = write_token(tmp_path / "token", make_jwt(aud=["OTHER", AUDIENCE]))
    assert JwtFileProvider(path, audience=AUDIENCE).negotiate(target).request.principal


# --- Chain ----------------------------------------------------------------------------------


def test_chain_moves_on_when_unavailable(
    tmp_path: Path, file_keyring: Any, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    chain = ProviderChain(
        [
            KeyringPasswordProvider("pacs", "nobody", backend=file_keyring),
            JwtFileProvider(tmp_path / "absent"),
            UsernameProvider("fallback"),
        ]
    )
    with caplog.at_level(logging.INFO, logger="providers"):
        exchange = chain.negotiate(target)
    assert exchange.request.principal == "fallback"
    assert "UsernameProvider(username='fallback')" in caplog.text


def test_chain_stops_on_a_broken_credential(tmp_path: Path, target: Target) -> None:
    expired = write_token(tmp_path / "token", make_jwt(lifetime=-3600))
    chain = ProviderChain([JwtFileProvider(expired), UsernameProvider("would-be-wrong")])
    with pytest.raises(CredentialExpired):
        chain.negotiate(target)


def test_chain_all_unavailable_lists_every_attempt(
    tmp_path: Path, file_keyring: Any, target: Target
) -> None:
    chain = ProviderChain(
        [
            KeyringPasswordProvider("pacs", "nobody", backend=file_keyring),
            JwtFileProvider(tmp_path / "absent"),
        ]
    )
    with pytest.raises(NoCredentials) as info:
        chain.negotiate(target)
    message = str(info.value)
    assert "KeyringPasswordProvider(service='pacs', username='nobody')" in message
    assert "keyring set pacs nobody" in message
    assert "does not exist" in message
    assert len(info.value.attempts) == 2
    # A nested chain that is all unavailable is itself unavailable: the outer chain moves on.
    outer = ProviderChain([chain, UsernameProvider("outer")])
    assert outer.negotiate(target).request.principal == "outer"
