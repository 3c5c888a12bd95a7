"""OidcLoginProvider against the real OpenID Provider (tests/oidc_op, oidc-provider 9): device and
browser logins driven through the provider's own pages, the access token verified by the
embedded PACS over a real association, denials and expiry, logout and whoami, the refresh token
in a real keyring (keyrings.alt's file backend in tmp). Every test searches what the SDK showed
(errors with their frames' locals, DEBUG logs, stdout and stderr) for every token it saw.

Refresh, rotation, revocation and concurrency: tests/test_oidc_refresh.py; what only a hostile
server does: tests/test_oidc_login_hostile.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client_sdk import Client, Peer
from client_sdk.testing import EmbeddedPacs
from providers import (
    IdentityType,
    InvalidTokenResponse,
    LoginDenied,
    LoginExpired,
    LoginRequired,
    OidcLoginProvider,
    Target,
)
from tests.conftest import AUDIENCE
from tests.oidc_fixtures import RunningOidcProvider, start_oidc_provider
from tests.oidc_login_helpers import Person, Witness, make_login
from tests.oidc_requests import active, refresh

pytestmark = pytest.mark.usefixtures("no_outside_connections")

TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")


def pacs_for(op: RunningOidcProvider, factory: Callable[..., EmbeddedPacs]) -> EmbeddedPacs:
    """The embedded PACS verifying the provider's access tokens with its current key."""
    return factory(jwt_key=op.public_key_pem(), jwt_audience=AUDIENCE, jwt_issuer=op.issuer)


def test_device_login_then_the_pacs_verifies_the_token(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    op = oidc_provider
    person = Person(op, "jürgen")
    provider = make_login(op, file_keyring, tmp_path, prompt=person)
    started = time.monotonic()
    status = provider.login()
    took = time.monotonic() - started
    person.join()
    (prompt,) = person.prompts
    assert (prompt.flow, prompt.url) == ("device", f"{op.issuer}/device")
    assert prompt.user_code and prompt.url_complete and prompt.user_code in prompt.url_complete
    # The provider sends no interval: the caller's 0.05 s was used, not RFC 8628's 5 s.
    assert took < 4
    assert (status.principal, status.issuer, status.client_id) == (
        "jürgen",
        op.issuer,
        "dicom-identity-device",
    )
    assert "dicom" in status.scopes and status.expires_at is not None
    refresh_token = witness.stored(provider, file_keyring)
    assert refresh_token and active(op, refresh_token)

    pacs = pacs_for(op, embedded_pacs_factory)
    client = Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider)
    for _ in range(2):
        with client.associate() as session:
            assert session.outcome.identity_type is IdentityType.JWT
            assert session.outcome.principal == "jürgen"
            session.echo()
    records = pacs.wait_for_records(2)
    assert [(r.identity_type, r.principal, r.verified) for r in records] == [
        (5, "jürgen", True)
    ] * 2
    token = provider.negotiate(TARGET).request.primary
    witness.secret(token)
    # The same token both times: the login's, from memory; the keyring still holds the login's.
    assert file_keyring.get_password(*provider.keyring_entry) == refresh_token
    assert provider.whoami() == status
    assert refresh_token not in repr(provider) + repr(status)
    witness.assert_no_leaks()


def test_browser_login_then_the_pacs_verifies_the_token(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    op = oidc_provider
    opened: list[str] = []
    prompts: list[Any] = []

    def browser(url: str) -> None:
        opened.append(url)
        op.complete_browser_login(url, "alice", op.users["alice"], call_callback=True)

    provider = make_login(
        op, file_keyring, tmp_path, "browser", open_browser=browser, prompt=prompts.append
    )
    status = provider.login()
    (url,) = opened
    assert [p.url for p in prompts] == [url]  # shown as well as opened
    assert url.startswith(op.endpoint("authorization") + "?")
    for part in (
        "code_challenge_method=S256",
        "prompt=consent",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
    ):
        assert part in url
    assert status.principal == "alice"
    witness.stored(provider, file_keyring)
    pacs = pacs_for(op, embedded_pacs_factory)
    with Client(
        Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider
    ).associate() as session:
        assert session.outcome.principal == "alice"
        session.echo()
    (record,) = pacs.wait_for_records(1)
    assert (record.principal, record.verified) == ("alice", True)
    witness.secret(provider.negotiate(TARGET).request.primary)
    witness.assert_no_leaks()


def test_the_person_denies_the_device_login(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    person = Person(oidc_provider, act="deny")
    provider = make_login(oidc_provider, file_keyring, tmp_path, prompt=person)
    with pytest.raises(LoginDenied, match="access_denied") as denied:
        provider.login()
    person.join()
    witness.error(denied.value)
    assert file_keyring.get_password(*provider.keyring_entry) is None
    with pytest.raises(LoginRequired):  # nothing was kept
        provider.negotiate(TARGET)
    witness.assert_no_leaks()


def test_the_person_denies_the_browser_login(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op = oidc_provider

    def browser(url: str) -> None:
        op.complete_browser_login(
            url, "alice", op.users["alice"], approve=False, call_callback=True
        )

    provider = make_login(
        op, file_keyring, tmp_path, "browser", open_browser=browser, prompt=lambda p: None
    )
    with pytest.raises(LoginDenied, match="access_denied") as denied:
        provider.login()
    witness.error(denied.value)
    assert file_keyring.get_password(*provider.keyring_entry) is None
    witness.assert_no_leaks()


def test_the_device_code_expires(file_keyring: Any, tmp_path: Path, witness: Witness) -> None:
    with start_oidc_provider(tmp_path / "op", ttl={"DeviceCode": 2}) as op:
        person = Person(op, act="ignore")
        provider = make_login(op, file_keyring, tmp_path, prompt=person, poll_interval=0.2)
        started = time.monotonic()
        with pytest.raises(LoginExpired) as expired:
            provider.login()
        assert 0.5 < time.monotonic() - started < 6  # the code lives 2 s (1 s once rounded)
        assert "log in again" in str(expired.value)
        witness.error(expired.value)
    witness.assert_no_leaks()


def test_not_interactive_without_a_login_raises_login_required_before_any_request(
    file_keyring: Any, tmp_path: Path
) -> None:
    # An issuer nobody listens on: nothing is sent anywhere before the keyring is read.
    provider = OidcLoginProvider(
        "http://127.0.0.1:9",
        client_id="dicom-identity-device",
        keyring_backend=file_keyring,
        lock_dir=tmp_path / "locks",
        login_command="dicom-identity login archive",
    )
    with pytest.raises(LoginRequired) as required:
        provider.negotiate(TARGET)
    error = required.value
    assert "dicom-identity login archive" in str(error)
    assert "keyring service 'dicom-identity-oidc:http://127.0.0.1:9'" in str(error)
    assert (error.issuer, error.client_id, error.command) == (
        "http://127.0.0.1:9",
        "dicom-identity-device",
        "dicom-identity login archive",
    )


def test_interactive_negotiate_runs_the_login(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    op = oidc_provider
    person = Person(op)
    provider = make_login(op, file_keyring, tmp_path, prompt=person, interactive=True)
    pacs = pacs_for(op, embedded_pacs_factory)
    with Client(
        Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider
    ).associate() as session:
        session.echo()
    person.join()
    assert len(person.prompts) == 1
    (record,) = pacs.wait_for_records(1)
    assert (record.principal, record.verified) == ("alice", True)
    witness.stored(provider, file_keyring)
    witness.assert_no_leaks()


def test_a_token_for_another_audience_is_refused_and_nothing_is_kept(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    person = Person(oidc_provider)
    provider = make_login(
        oidc_provider, file_keyring, tmp_path, prompt=person, audience="OTHER_PACS"
    )
    with pytest.raises(InvalidTokenResponse, match="not 'OTHER_PACS'") as refused:
        provider.login()
    person.join()
    witness.error(refused.value)
    assert file_keyring.get_password(*provider.keyring_entry) is None
    witness.assert_no_leaks()


def test_logout_revokes_at_the_provider_and_deletes_the_entry(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op = oidc_provider
    person = Person(op)
    provider = make_login(op, file_keyring, tmp_path, prompt=person)
    provider.login()
    person.join()
    refresh_token = witness.stored(provider, file_keyring)
    assert refresh_token is not None and active(op, refresh_token)
    result = provider.logout()
    assert (result.revoked, result.deleted) == (True, True)
    assert not active(op, refresh_token)
    # The real provider refuses a refresh with it: the grant is over at the server.
    spent = refresh(op, "device", refresh_token)
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")
    assert file_keyring.get_password(*provider.keyring_entry) is None
    with pytest.raises(LoginRequired) as required:
        provider.whoami()  # the access token is forgotten too
    witness.error(required.value)
    again = provider.logout()
    assert (again.revoked, again.deleted, again.note) == (False, False, "no login was stored")
    witness.assert_no_leaks()


def test_the_keyring_entry_is_derived_from_issuer_and_client_or_given(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path
) -> None:
    op = oidc_provider
    derived = make_login(op, file_keyring, tmp_path)
    assert derived.keyring_entry == (f"dicom-identity-oidc:{op.issuer}", "dicom-identity-device")
    given = make_login(op, file_keyring, tmp_path, keyring_entry=("svc", "me"))
    assert given.keyring_entry == ("svc", "me")
    assert "openid" in make_login(op, file_keyring, tmp_path, scopes="dicom").scopes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client_id": ""}, "client_id"),
        ({"flow": "popup"}, "flow"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"timeout": float("nan")}, "timeout"),
        ({"scopes": ["open id"]}, "scopes"),
        ({"issuer": "ftp://idp.example.org"}, "issuer"),
        ({"issuer": "https://idp.example.org/?client_secret=x"}, "issuer"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"issuer": "https://idp.example.org", "client_id": "c"} | kwargs
    with pytest.raises(ValueError, match=message):
        OidcLoginProvider(settings.pop("issuer"), **settings)


def test_plain_http_to_a_remote_issuer_is_refused() -> None:
    from providers import InsecureTokenEndpoint

    with pytest.raises(InsecureTokenEndpoint, match="plain HTTP"):
        OidcLoginProvider("http://idp.example.org", client_id="c")
