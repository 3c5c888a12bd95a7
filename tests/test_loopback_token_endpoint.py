"""Issue 14, finding 7, on the HTTP side: a plain-HTTP token endpoint is loopback by the address
the connection reached, never by its name.

The token request carries the client secret form-encoded; over plain HTTP it may only go to
loopback. ``localhost.`` (the trailing dot) is looked up in DNS, not in the hosts file, so the name
only lets the client connect: the connected socket's ``getpeername()`` must be a loopback address
before any byte of the request is written (``providers._http_deadline``), or the connection is
closed and ``InsecureTokenEndpoint`` names the name and the address it led to.

As in ``tests/test_loopback_address.py`` (the DIMSE side), the resolver is never asked for
``localhost.`` (it would ask DNS, outside 127.0.0.1): the tests answer that lookup themselves
with 127.0.0.1, and the one that needs a remote answer makes the peer address of a real
connection to a real listener on 127.0.0.1 read 192.0.2.10. No byte ever leaves 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

import pytest

from providers import InsecureTokenEndpoint, Target, TokenEndpointProvider
from providers._http_deadline import _DeadlineSocket
from providers._token_errors import TokenEndpointUnreachable, check_token_url
from tests.conftest import poll
from tests.leak_search import find_leaks
from tests.loopback_listener import REMOTE, Listener
from tests.oidc_fixtures import RunningOidcProvider
from tests.tls_certs import CertificateFiles

CLIENT_ID = "dicom-scu"
CLIENT_SECRET = "loopback-only-client-s3cret+/="
SERVICE = "idp.loopback.test"
TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")


@pytest.fixture
def keyring_with_secret(file_keyring: Any) -> Any:
    file_keyring.set_password(SERVICE, CLIENT_ID, CLIENT_SECRET)
    return file_keyring


def provider_for(url: str, keyring: Any, **kwargs: Any) -> TokenEndpointProvider:
    return TokenEndpointProvider(
        url,
        client_id=CLIENT_ID,
        client_secret_keyring=(SERVICE, CLIENT_ID),
        keyring_backend=keyring,
        **kwargs,
    )


def post_client_provider(
    op: RunningOidcProvider, url: str, keyring: Any, **kwargs: Any
) -> TokenEndpointProvider:
    """A provider for the real OpenID Provider's client_secret_post client, at ``url``."""
    client = op.clients["post"]
    keyring.set_password(SERVICE, client.client_id, client.secret)
    return TokenEndpointProvider(
        url,
        client_id=client.client_id,
        client_secret_keyring=(SERVICE, client.client_id),
        keyring_backend=keyring,
        **kwargs,
    )


@pytest.fixture
def connected_address_is_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP connection is real (to 127.0.0.1), but its peer address reads as a remote one:
    what a client sees when DNS sent ``localhost.`` elsewhere."""
    monkeypatch.setattr(_DeadlineSocket, "getpeername", lambda self: (REMOTE, 80))


# --- the rule for the URL, as pure logic -------------------------------------------------------


def test_a_localhost_name_may_be_tried_and_other_names_are_refused() -> None:
    for url in (
        "http://127.0.0.1:1/token",
        "http://[::1]:1/token",
        "http://localhost:1/token",
        "http://localhost.:1/token",
        "http://idp.localhost:1/token",
    ):
        check_token_url(url)  # worth connecting to: the connected address decides
    for url in (
        "http://idp.example.org/token",
        "http://192.0.2.10/token",
        "http://localhost.example.org/token",
        "http://localhostx/token",
    ):
        with pytest.raises(InsecureTokenEndpoint, match="loopback address"):
            check_token_url(url)


# --- the same rule on a real connection ----------------------------------------------------------


@pytest.mark.usefixtures("localhost_dot_resolves_to_loopback", "connected_address_is_remote")
def test_a_token_request_to_a_name_that_led_elsewhere_is_never_sent(
    listener: Listener, keyring_with_secret: Any, no_outside_connections: list[Any]
) -> None:
    provider = provider_for(f"http://localhost.:{listener.port}/token", keyring_with_secret)
    with pytest.raises(InsecureTokenEndpoint) as info:
        provider.negotiate(TARGET)
    message = str(info.value)
    assert REMOTE in message and "'localhost.'" in message and "nothing was sent" in message
    assert find_leaks(message, [CLIENT_SECRET]) == []
    assert info.value.__cause__ is None and info.value.__context__ is None
    poll(listener.closed.is_set, timeout=10, what="the refused connection to close")
    assert listener.received == [b""], "the connection must close before the request"
    assert no_outside_connections == []


@pytest.mark.usefixtures("localhost_dot_resolves_to_loopback")
def test_the_control_without_the_remote_address_sends_the_request(
    listener: Listener, keyring_with_secret: Any, no_outside_connections: list[Any]
) -> None:
    # The same set-up, with the peer address as it really is: the request goes out (the
    # listener never answers, so the exchange ends at its deadline).
    provider = provider_for(
        f"http://localhost.:{listener.port}/token", keyring_with_secret, timeout=1
    )
    with pytest.raises(TokenEndpointUnreachable, match="deadline"):
        provider.negotiate(TARGET)
    listener.close()  # the client gave up; end the listener's read
    poll(listener.closed.is_set, timeout=10, what="the connection to close")
    (received,) = listener.received
    assert received.startswith(b"POST /token HTTP/1.1")
    assert no_outside_connections == []


@pytest.mark.parametrize("host", ["localhost", "localhost."])
def test_a_name_that_connects_to_loopback_gets_its_token(
    host: str,
    file_keyring: Any,
    oidc_provider: RunningOidcProvider,
    request: pytest.FixtureRequest,
    no_outside_connections: list[Any],
) -> None:
    """The token endpoint is the real OpenID Provider (tests/oidc_op), reached by name."""
    # "localhost" through the hosts file; "localhost." through a (simulated) DNS answer.
    if host == "localhost.":
        request.getfixturevalue("localhost_dot_resolves_to_loopback")
    op = oidc_provider
    client_id = op.clients["post"].client_id
    before = len(op.token_requests())
    url = op.endpoint("token").replace("//127.0.0.1:", f"//{host}:")
    exchange = post_client_provider(op, url, file_keyring).negotiate(TARGET)
    assert exchange.request.principal == client_id
    assert [r["client_id"] for r in op.token_requests()[before:]] == [client_id]
    assert no_outside_connections == []


@pytest.mark.usefixtures("connected_address_is_remote")
def test_https_is_not_bound_to_loopback(
    file_keyring: Any, oidc_provider_tls: RunningOidcProvider, certs: CertificateFiles
) -> None:
    """The real OpenID Provider over HTTPS (tests/oidc_op), reached by name."""
    # Over HTTPS the certificate says who the endpoint is; the address does not matter.
    op = oidc_provider_tls
    url = op.endpoint("token").replace("//127.0.0.1:", "//localhost:")
    provider = post_client_provider(op, url, file_keyring, ca_file=str(certs.ca_file))
    assert provider.negotiate(TARGET).request.principal == op.clients["post"].client_id
