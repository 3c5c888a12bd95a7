"""OidcLoginProvider against what the real OpenID Provider never does (tests/hostile_oidc.py): an
``interval`` or none, ``slow_down``, ``expired_token``, a connection dropped mid-poll, ID tokens
signed with the key it serves but for another nonce, audience or issuer (or expired, or signed by
a key it does not serve), a discovery document for another issuer or with a plain-HTTP endpoint
off loopback, a forged callback. Each ends typed, keeps nothing in the keyring, and shows none of
the tokens the server gave out."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from providers import (
    InvalidIdToken,
    LoginExpired,
    OidcDiscoveryError,
    OidcLoginError,
    OidcLoginProvider,
    Target,
    TokenEndpointUnreachable,
)
from providers._oidc_device_flow import DeviceFlow
from providers._oidc_prompt import print_prompt
from providers._oidc_server import OidcServer
from tests.hostile_oidc import DROP, PACS_AUDIENCE, TOKENS, HostileOp, running
from tests.oidc_login_helpers import Witness

pytestmark = pytest.mark.usefixtures("no_outside_connections")

PENDING = (400, {"error": "authorization_pending"})
SLOW_DOWN = (400, {"error": "slow_down"})


@pytest.fixture
def op() -> Iterator[HostileOp]:
    yield from running(HostileOp())


def login_at(op: HostileOp, keyring: Any, tmp_path: Path, **kw: Any) -> OidcLoginProvider:
    kw.setdefault("scopes", "openid offline_access dicom")
    kw.setdefault("audience", PACS_AUDIENCE)
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("timeout", 3.0)
    kw.setdefault("login_timeout", 10.0)
    kw.setdefault("prompt", lambda prompt: None)
    kw.setdefault("open_browser", op.open_browser)
    return OidcLoginProvider(
        op.url, client_id=op.client_id, keyring_backend=keyring, lock_dir=tmp_path / "l", **kw
    )


def token_polls(op: HostileOp) -> list[float]:
    return [seen.at for seen in op.seen if seen.path == "/token"]


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def finish(op: HostileOp, witness: Witness) -> None:
    for value in op.issued:
        witness.secret(value)
    witness.assert_no_leaks()


@pytest.mark.parametrize(("interval", "expected"), [(None, 0.3), (1, 1.0)])
def test_the_servers_interval_or_else_the_callers(
    op: HostileOp,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    interval: int | None,
    expected: float,
) -> None:
    op.device_answer["interval"] = interval
    op.polls = [PENDING, PENDING, TOKENS]
    provider = login_at(op, file_keyring, tmp_path, poll_interval=0.3)
    started = time.monotonic()
    assert provider.login().principal == "alice"
    polls = token_polls(op)
    assert len(polls) == 3
    assert polls[0] - started >= expected
    assert all(expected <= gap < expected + 1.0 for gap in gaps(polls)), gaps(polls)
    witness.stored(provider, file_keyring)
    finish(op, witness)


def test_slow_down_adds_five_seconds_to_every_later_poll(op: HostileOp) -> None:
    op.device_answer["interval"] = 1
    op.polls = [PENDING, SLOW_DOWN, PENDING, SLOW_DOWN, TOKENS]
    waits: list[float] = []  # recorded, not waited: 12 s of pauses are pure arithmetic
    flow = DeviceFlow(
        OidcServer(op.url, timeout=3.0),
        client_id=op.client_id,
        scopes=("openid",),
        resource=None,
        poll_interval=0.05,
        max_wait=60,
        prompt=lambda prompt: None,
        wait=waits.append,
    )
    answer = flow.run()
    assert answer.answer.status == 200
    assert waits == [1, 1, 6, 6, 11]
    assert len(token_polls(op)) == 5


def test_the_server_says_the_code_expired(
    op: HostileOp, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op.polls = [PENDING, (400, {"error": "expired_token"})]
    with pytest.raises(LoginExpired, match="expired before it was approved") as expired:
        login_at(op, file_keyring, tmp_path).login()
    witness.error(expired.value)
    finish(op, witness)


def test_a_connection_dropped_mid_poll(
    op: HostileOp, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op.polls = [PENDING, DROP]
    started = time.monotonic()
    with pytest.raises(TokenEndpointUnreachable, match="the token endpoint") as dropped:
        login_at(op, file_keyring, tmp_path).login()
    assert time.monotonic() - started < 3
    assert len(token_polls(op)) == 2
    witness.error(dropped.value)
    assert file_keyring.get_password(f"dicom-identity-oidc:{op.url}", op.client_id) is None
    finish(op, witness)


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("flow", "claims", "message"),
    [
        ("browser", {"nonce": "a-nonce-of-another-login"}, "another nonce"),
        ("browser", {"nonce": None}, "another nonce"),
        ("device", {"aud": "another-client"}, "is for the audience [another-client]"),
        ("device", {"aud": ["hostile-client", "x"], "azp": "x"}, "was issued to 'x' (azp)"),
        ("device", {"iss": "http://127.0.0.1:1"}, "was issued by 'http://127.0.0.1:1'"),
        ("device", {"exp": 1_000_000_000}, "expired at 2001-09-09"),
        ("device", {"sub": None}, "lacks the 'sub' claim"),
        ("device", {"kid": "unknown-kid"}, "which the issuer's JWKS does not hold"),
        ("device", {"key": "other"}, "signature that does not verify"),
        ("device", {"alg": "HS256"}, "is signed with 'HS256'"),
        ("device", {"jwks": []}, "the issuer's JWKS holds no key this client can use"),
        ("device", {"jwks": [{"kty": "RSA", "kid": "hostile-key-1"}]}, "holds no key this client"),
    ],
)
def test_an_id_token_that_does_not_verify(
    op: HostileOp,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    flow: str,
    claims: dict[str, Any],
    message: str,
) -> None:
    if "jwks" in claims:
        keys = claims.pop("jwks")
        op.jwks = lambda: {"keys": keys}  # type: ignore[method-assign]
    special = {k: claims.pop(k) for k in ("kid", "key", "alg") if k in claims}
    op.id_claims = claims
    if special:
        original = op.tokens

        def tokens() -> dict[str, Any]:
            answer = original()
            body = jwt.decode(answer["id_token"], options={"verify_signature": False})
            alg = special.get("alg", "RS256")
            key: Any = "hs256-key-the-client-does-not-have" if alg == "HS256" else op.key
            key = _other_key() if special.get("key") else key
            headers = {"kid": special.get("kid", op.kid)}
            answer["id_token"] = jwt.encode(body, key, algorithm=alg, headers=headers)
            op.issued.append(answer["id_token"])
            return answer

        op.tokens = tokens  # type: ignore[method-assign]
    provider = login_at(op, file_keyring, tmp_path, flow=flow)
    with pytest.raises(InvalidIdToken) as refused:
        provider.login()
    assert message in str(refused.value)
    assert "the login's tokens were not kept" in str(refused.value)
    witness.error(refused.value)
    assert file_keyring.get_password(*provider.keyring_entry) is None
    finish(op, witness)


def test_a_discovery_document_for_another_issuer(
    op: HostileOp, file_keyring: Any, tmp_path: Path
) -> None:
    op.issuer_in_discovery = "http://127.0.0.1:1"
    with pytest.raises(OidcDiscoveryError, match=r"names the issuer 'http://127\.0\.0\.1:1'"):
        login_at(op, file_keyring, tmp_path).login()
    assert [seen.path for seen in op.seen] == ["/.well-known/openid-configuration"]


def test_a_plain_http_endpoint_off_loopback_is_never_contacted(
    op: HostileOp, file_keyring: Any, tmp_path: Path, no_outside_connections: list[Any]
) -> None:
    op.discovery_extra["token_endpoint"] = "http://192.0.2.10/token"
    with pytest.raises(OidcDiscoveryError, match="plain HTTP off loopback"):
        login_at(op, file_keyring, tmp_path).login()
    assert no_outside_connections == []
    assert [seen.path for seen in op.seen] == ["/.well-known/openid-configuration"]


def test_a_device_answer_without_a_user_code(
    op: HostileOp, file_keyring: Any, tmp_path: Path
) -> None:
    op.device_answer["user_code"] = None
    with pytest.raises(OidcLoginError, match="answered without user_code"):
        login_at(op, file_keyring, tmp_path).login()
    assert "/token" not in [seen.path for seen in op.seen]


def test_a_forged_callback_is_refused_and_the_real_one_still_counts(
    op: HostileOp, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    statuses: list[int] = []

    def browser(url: str) -> None:
        statuses.append(op.open_browser(url, state="forged-by-another-program"))
        statuses.append(op.open_browser(url))
        statuses.append(op.open_browser(url))  # once answered, nothing more is taken

    provider = login_at(op, file_keyring, tmp_path, flow="browser", open_browser=browser)
    assert provider.login().principal == "alice"
    assert statuses == [400, 200, 404]
    (exchange,) = [seen for seen in op.seen if seen.path == "/token"]
    assert exchange.form["code"] == "hostile-code"
    assert len(exchange.form["code_verifier"]) >= 43
    witness.stored(provider, file_keyring)
    finish(op, witness)


def test_a_callback_from_another_issuer_is_refused(
    op: HostileOp, file_keyring: Any, tmp_path: Path
) -> None:
    def browser(url: str) -> None:
        op.open_browser(url, iss="http://127.0.0.1:1")

    with pytest.raises(OidcLoginError, match="RFC 9207"):
        login_at(op, file_keyring, tmp_path, flow="browser", open_browser=browser).login()
    assert "/token" not in [seen.path for seen in op.seen]


def test_a_browser_that_never_comes_back(op: HostileOp, file_keyring: Any, tmp_path: Path) -> None:
    provider = login_at(
        op, file_keyring, tmp_path, flow="browser", open_browser=lambda url: None, login_timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(LoginExpired, match="did not come back"):
        provider.login()
    assert 0.4 < time.monotonic() - started < 3


def test_a_browser_that_cannot_open_leaves_the_printed_url(
    op: HostileOp, file_keyring: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The default prompt prints the URL on stderr; a failing opener is only a warning."""

    def no_browser(url: str) -> None:
        raise RuntimeError("no display")

    provider = login_at(
        op,
        file_keyring,
        tmp_path,
        flow="browser",
        open_browser=no_browser,
        prompt=print_prompt,
        login_timeout=0.3,
    )
    with pytest.raises(LoginExpired):
        provider.login()
    err = capfd.readouterr().err
    assert f"open this URL:\n{op.url}/auth?" in err


def test_whoami_and_negotiate_show_no_token(
    op: HostileOp, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    provider = login_at(op, file_keyring, tmp_path)
    status = provider.login()
    request = provider.negotiate(Target("127.0.0.1", 104, "PACS", "SCU")).request
    assert (status.principal, request.principal) == ("alice", "alice")
    assert status.scopes == ("openid", "offline_access", "dicom")
    witness.texts += [repr(status), json.dumps(status.__dict__), repr(request), repr(provider)]
    witness.stored(provider, file_keyring)
    finish(op, witness)
