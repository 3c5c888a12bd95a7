"""JWTs from an OAuth2 token endpoint (type 5) against the home-made server (tests/token_server.py):
only what a real provider will not do, each test's docstring naming it (HTTP 503 and 500 on
demand with the back-off, lifetimes missing or as strings, garbage answers, an error text quoting
the secret, a silent or slow endpoint), and Kerberos client authentication (oidc-provider has
none: tests/test_token_endpoint_kerberos.py). Real keyrings, and the embedded PACS verifying
what arrives.

Everything a certified provider can play runs against oidc-provider in
tests/test_token_endpoint_oidc.py (and tests/test_token_client_auth.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from providers import (
    InsecureTokenEndpoint,
    InvalidTokenResponse,
    Target,
    TokenEndpointProvider,
    TokenEndpointUnreachable,
    TokenRequestRejected,
)
from tests.conftest import free_port, poll
from tests.token_server import Reply, TokenServer, silent_listener

JWT_KEY = "token-server-hs256-key-trusted-by-the-pacs"
AUDIENCE = "EMBEDDED_PACS"
CLIENT_ID = "dicom-scu"
CLIENT_SECRET = "cl1ent-s3cret-Ü-never-logged"
SERVICE, USER = "idp.test.example", CLIENT_ID
T0 = 1_800_000_000


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keyring_with_secret(file_keyring: Any) -> Any:
    file_keyring.set_password(SERVICE, USER, CLIENT_SECRET)
    return file_keyring


@pytest.fixture
def server() -> Iterator[TokenServer]:
    with TokenServer(key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}) as running:
        yield running


@pytest.fixture
def make_provider(keyring_with_secret: Any) -> Callable[..., TokenEndpointProvider]:
    def make(url: str, **kwargs: Any) -> TokenEndpointProvider:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("client_secret_keyring", (SERVICE, USER))
        kwargs.setdefault("keyring_backend", keyring_with_secret)
        return TokenEndpointProvider(url, **kwargs)

    return make


def token_of(provider: TokenEndpointProvider, target: Target) -> str:
    return provider.negotiate(target).request.primary.reveal().decode()


# The URL ----------------------------------------------------------------------------------------


def test_plain_http_only_to_loopback(
    make_provider: Callable[..., TokenEndpointProvider], no_outside_connections: list[Any]
) -> None:
    """No server: the rule for the URL, checked before anything is sent."""
    for url in ("http://idp.hospital.example/token", "http://10.1.2.3:8080/token"):
        with pytest.raises(InsecureTokenEndpoint, match="plain HTTP") as info:
            make_provider(url)
        assert "https://" in str(info.value)
    for url in ("http://127.0.0.1:1/token", "http://localhost:1/token", "http://[::1]:1/t"):
        make_provider(url)
    make_provider("https://idp.hospital.example/token")  # nothing is fetched yet
    assert no_outside_connections == []
    with pytest.raises(ValueError, match="https:// URL"):
        make_provider("ftp://idp.hospital.example/token")
    with pytest.raises(ValueError, match="credentials"):
        make_provider("https://user:pw@idp.hospital.example/token")


# The cache and its windows ----------------------------------------------------------------------


def test_advisory_and_mandatory_windows(
    make_provider: Callable[..., TokenEndpointProvider],
    target: Target,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hostile: HTTP 503 temporarily_unavailable on demand while a token is cached, and the
    30 s back-off between tries (the real provider's windows: test_token_endpoint_oidc.py)."""
    clock = FakeClock()
    with TokenServer(
        key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}, lifetime=3600, clock=clock
    ) as server:
        provider = make_provider(server.url, clock=clock, advisory_window=300, mandatory_window=60)
        first = token_of(provider, target)
        clock.now = T0 + 3600 - 301  # before the advisory window: cached
        assert token_of(provider, target) == first
        assert len(server.requests) == 1

        clock.now = T0 + 3600 - 299  # advisory: refreshed early
        second = token_of(provider, target)
        assert second != first
        assert len(server.requests) == 2
        issued_at = clock.now

        # Advisory window of the second token, and the service fails: keep it, warn.
        clock.now = issued_at + 3600 - 200
        server.reply = Reply(503, {"error": "temporarily_unavailable"})
        with caplog.at_level(logging.WARNING, logger="providers"):
            assert token_of(provider, target) == second
        assert len(server.requests) == 3
        assert "keeping the current one" in caplog.text
        assert "HTTP 503" in caplog.text
        assert second not in caplog.text and CLIENT_SECRET not in caplog.text
        clock.now += 29  # backing off: the next associations do not wait for the service
        assert token_of(provider, target) == second
        assert len(server.requests) == 3
        clock.now += 2  # 30 s later: tried again (and failed again)
        assert token_of(provider, target) == second
        assert len(server.requests) == 4

        # Mandatory window, the service still fails: raise.
        clock.now = issued_at + 3600 - 59
        with pytest.raises(TokenRequestRejected, match="HTTP 503") as info:
            provider.negotiate(target)
        assert info.value.status == 503 and info.value.error == "temporarily_unavailable"

        # Past expiry, the service is back: a fresh token.
        server.reply = None
        clock.now = issued_at + 4000
        third = token_of(provider, target)
        assert third not in (first, second)
        assert jwt.decode(third, options={"verify_signature": False})["iat"] == clock.now


def test_windows_are_clamped_to_a_fraction_of_a_short_lifetime(
    make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """Hostile: an HTML error page with HTTP 500 in the clamped windows of a 60 s token (the
    clamp itself against the real provider: test_token_endpoint_oidc.py)."""
    clock = FakeClock()
    with TokenServer(
        key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}, lifetime=60, clock=clock
    ) as server:
        provider = make_provider(server.url, clock=clock)  # defaults: 300 s and 60 s
        first = token_of(provider, target)
        clock.now = T0 + 29  # advisory = min(300, 60/2) = 30 s before exp: still cached
        assert token_of(provider, target) == first
        assert len(server.requests) == 1
        server.reply = Reply(500, b"<html>oops</html>")
        clock.now = T0 + 60 - 16  # advisory, not mandatory (min(60, 60/4) = 15 s): kept
        assert token_of(provider, target) == first
        clock.now = T0 + 60 - 14  # mandatory
        with pytest.raises(TokenRequestRejected, match="HTTP 500") as info:
            provider.negotiate(target)
        assert info.value.error is None
        assert "try again later" in str(info.value)
        assert len(server.requests) == 3


def test_expires_in_bounds_the_cache_and_may_be_a_string(
    make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """Hostile: a JWT without exp and expires_in as a string (oidc-provider always sends both,
    expires_in as a number)."""
    clock = FakeClock()
    with TokenServer(key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}, clock=clock) as server:
        no_exp = jwt.encode({"sub": "x", "aud": AUDIENCE}, JWT_KEY)
        server.reply = Reply(200, {"access_token": no_exp, "expires_in": "600"})
        provider = make_provider(server.url, clock=clock)
        token_of(provider, target)
        clock.now = T0 + 600 - 301  # advisory = min(300, 600 / 2)
        token_of(provider, target)
        assert len(server.requests) == 1
        clock.now = T0 + 600 - 299
        token_of(provider, target)
        assert len(server.requests) == 2


def test_a_token_without_any_lifetime_is_not_cached(
    server: TokenServer, make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """Hostile: neither exp nor expires_in (oidc-provider always sends both)."""
    opaque_lifetime = jwt.encode({"sub": "x", "aud": AUDIENCE}, JWT_KEY)
    server.reply = Reply(200, {"access_token": opaque_lifetime, "token_type": "bearer"})
    provider = make_provider(server.url)
    assert token_of(provider, target) == opaque_lifetime
    token_of(provider, target)
    assert len(server.requests) == 2


def run_threads(count: int, work: Callable[[], str]) -> tuple[list[threading.Thread], list[str]]:
    results: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        value = work()
        with lock:
            results.append(value)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def test_concurrent_callers_trigger_exactly_one_refresh(
    server: TokenServer, make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """Hostile: a slow endpoint that holds every request until released, so the eight callers
    are certainly waiting at once (the real provider: test_eight_threads_at_once_get_one_token)."""
    provider = make_provider(server.url)
    server.gate = threading.Event()  # the server holds every request until released
    try:
        threads, results = run_threads(8, lambda: token_of(provider, target))
        poll(lambda: len(server.requests) == 1, what="the first token request")
        server.gate.set()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        server.gate.set()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert len(server.requests) == 1


def test_in_the_advisory_window_others_do_not_wait_for_the_refresh(
    make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """Hostile: a slow endpoint holding the early refresh while the other callers come."""
    clock = FakeClock()
    with TokenServer(
        key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}, lifetime=3600, clock=clock
    ) as server:
        provider = make_provider(server.url, clock=clock)
        first = token_of(provider, target)
        clock.now = T0 + 3600 - 200  # advisory
        server.gate = threading.Event()
        try:
            threads, results = run_threads(6, lambda: token_of(provider, target))
            # Five callers return the still-valid token while the sixth's refresh is held.
            poll(
                lambda: len(results) == 5 and len(server.requests) == 2,
                what="five callers served and one refresh held at the server",
            )
            assert results == [first] * 5
            server.gate.set()
            for thread in threads:
                thread.join(timeout=10)
        finally:
            server.gate.set()
        assert len(results) == 6 and results[5] != first
        assert len(server.requests) == 2
        assert token_of(provider, target) == results[5]


# Errors -----------------------------------------------------------------------------------------


def test_unreachable_endpoint(
    make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """No server: nothing listens on the port."""
    url = f"http://127.0.0.1:{free_port()}/token"
    with pytest.raises(TokenEndpointUnreachable, match="refused") as info:
        make_provider(url).negotiate(target)
    assert url in str(info.value)


def test_silent_endpoint_times_out(
    make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """Hostile: a listener that accepts and never answers."""
    with silent_listener() as url:
        started = time.monotonic()
        with pytest.raises(TokenEndpointUnreachable, match=r"within the deadline of 0\.5 s"):
            make_provider(url, timeout=0.5).negotiate(target)
        assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (Reply(200, {"token_type": "Bearer"}), InvalidTokenResponse, "without an access_token"),
        (Reply(200, b"<html>login</html>"), InvalidTokenResponse, "not JSON"),
        (Reply(200, b"[1, 2]"), InvalidTokenResponse, "not an object"),
        (
            Reply(200, {"access_token": "2YotnFZFEjr1zCsicMWpAA", "token_type": "Bearer"}),
            InvalidTokenResponse,
            "not a JWT",
        ),
        (
            Reply(200, {"access_token": "Zm9v.YmFy.YmF6", "token_type": "Bearer"}),
            InvalidTokenResponse,
            "does not decode",
        ),
        (
            Reply(200, {"access_token": jwt.encode({"sub": "x"}, JWT_KEY), "token_type": "DPoP"}),
            InvalidTokenResponse,
            "not a bearer token",
        ),
        (
            Reply(200, {"access_token": jwt.encode({"sub": "x", "exp": 1000}, JWT_KEY)}),
            InvalidTokenResponse,
            "expired at",
        ),
        (Reply(200, b"x" * (2 << 20)), InvalidTokenResponse, "more than"),
        (Reply(302, b"", {"Location": "https://login.example/"}), TokenRequestRejected, "redirect"),
        (
            Reply(400, {"error": "invalid_scope", "error_description": "scope unknown"}),
            TokenRequestRejected,
            "OAuth error 'invalid_scope': scope unknown",
        ),
        (
            Reply(400, {"error": "unauthorized_client"}),
            TokenRequestRejected,
            "Allow the client-credentials grant",
        ),
        (Reply(429, b"slow down"), TokenRequestRejected, "rate limiting"),
    ],
)
def test_unusable_answers(
    server: TokenServer,
    make_provider: Callable[..., TokenEndpointProvider],
    target: Target,
    reply: Reply,
    error: type[Exception],
    match: str,
) -> None:
    """Hostile: answers a real provider never gives (no access_token, not JSON, an opaque or
    undecodable token, DPoP, expired, 2 MiB, a redirect, 429, invented OAuth errors)."""
    server.reply = reply
    with pytest.raises(error, match=match) as info:
        make_provider(server.url).negotiate(target)
    assert server.url in str(info.value)
    assert CLIENT_SECRET not in str(info.value)


def test_the_server_error_text_never_echoes_the_secret(
    server: TokenServer, make_provider: Callable[..., TokenEndpointProvider], target: Target
) -> None:
    """Hostile: an error_description that quotes the client secret."""
    server.reply = Reply(401, {"error": "invalid_client", "error_description": CLIENT_SECRET})
    with pytest.raises(TokenRequestRejected) as info:
        make_provider(server.url).negotiate(target)
    assert CLIENT_SECRET not in str(info.value)
    assert info.value.error_description == "[redacted]"


def test_constructor_checks_and_repr(make_provider: Callable[..., TokenEndpointProvider]) -> None:
    """No server: the constructor's checks."""
    with pytest.raises(ValueError, match="client_secret_keyring"):
        TokenEndpointProvider("https://idp.example/token", client_id=CLIENT_ID)
    with pytest.raises(ValueError, match="auth must be one of"):
        make_provider("https://idp.example/token", auth="basic")
    with pytest.raises(ValueError, match="mandatory_window"):
        make_provider("https://idp.example/token", advisory_window=10, mandatory_window=20)
    with pytest.raises(ValueError, match="drop client_secret_keyring"):
        make_provider("https://idp.example/token", auth="kerberos")
    provider = make_provider("https://idp.example/token", scope="dicom")
    assert repr(provider) == (
        "TokenEndpointProvider(token_url='https://idp.example/token', client_id='dicom-scu', "
        "auth='client-secret', scope='dicom', audience=None)"
    )
