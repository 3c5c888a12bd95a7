"""Issue 14, finding 7: loopback is decided by the address actually connected to, never by a name.

A bearer identity (passcode, SAML, JWT) may cross plain TCP only to loopback. ``localhost.`` (the
trailing dot) used to count as loopback by its name, although the C library looks it up in DNS,
not in the hosts file: whatever DNS answered got the passcode. Now a ``localhost`` name only lets
the client connect; the connected socket's ``getpeername()`` must be loopback before the
A-ASSOCIATE-RQ carrying the identity is written.

The resolver here does not resolve ``localhost.`` from the hosts file (it would ask DNS, outside
127.0.0.1), so the tests that use that name answer the lookup themselves with 127.0.0.1, and the
one that needs a remote answer reports a remote address from ``getpeername()`` of a real
connection to a real listener on 127.0.0.1: no byte ever leaves 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from client_sdk import AssociationAborted, Client, InsecureTransport, Peer, Policy, Timeouts
from client_sdk._association.trace import RecordingSocket
from client_sdk.testing import EmbeddedPacs
from providers import IdentityType, JwtFileProvider, PasswordProvider, Target
from providers._base import is_loopback_address
from tests.conftest import JWT_KEY, make_jwt, poll, write_token
from tests.loopback_listener import REMOTE, Listener
from tests.timeouts import LOCAL

USERS = {"alice": "loopback-only-passcode"}
PASSCODE = USERS["alice"]


# --- the decision, as pure logic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),  # an IPv6 socket reaching IPv4 loopback
        ("192.0.2.10", False),
        ("::ffff:192.0.2.10", False),
        ("10.0.0.1", False),
        ("localhost", False),  # a name is not an address
        ("localhost.", False),
        ("", False),
    ],
)
def test_loopback_address(address: str, loopback: bool) -> None:
    assert is_loopback_address(address) is loopback


def test_a_name_alone_is_never_loopback() -> None:
    def t(host: str) -> Target:
        return Target(host, 104, "A", "B")

    for name in ("localhost", "localhost.", "LOCALHOST", "pacs.localhost"):
        assert not t(name).is_loopback, name
        assert t(name).may_be_loopback, name  # worth connecting: the address will tell
    for host in ("127.0.0.1", "::1", "[::1]"):
        assert t(host).is_loopback and t(host).may_be_loopback
    for host in ("pacs.example.org", "192.0.2.10", "localhost.example.org", "localhostx"):
        assert not t(host).may_be_loopback, host


BEARERS = [IdentityType.USERNAME_PASSCODE, IdentityType.SAML, IdentityType.JWT]


@pytest.mark.parametrize("kind", BEARERS)
def test_a_localhost_name_that_resolved_elsewhere_is_refused(kind: IdentityType) -> None:
    # What DNS might answer for "localhost.": the connected address decides.
    target = Target("localhost.", 104, "PACS", "ME")
    Policy().check_transport(target, kind)  # the name lets the client connect, nothing more
    with pytest.raises(InsecureTransport) as info:
        Policy().check_connected(target, kind, REMOTE)
    message = str(info.value)
    assert REMOTE in message and "'localhost.'" in message and "loopback" in message
    assert "TLS" in message and "allow_insecure_transport" in message
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        Policy().check_connected(target, kind, address)


def test_what_the_connected_address_does_not_change() -> None:
    remote_name = Target("localhost.", 104, "PACS", "ME")
    over_tls = Target("localhost.", 2762, "PACS", "ME", tls=True)
    for kind in BEARERS:
        Policy().check_connected(over_tls, kind, REMOTE)  # TLS: no loopback needed
        Policy(allow_insecure_transport=True).check_connected(remote_name, kind, REMOTE)
    # A bare username (type 1) and Kerberos (its ticket is bound to the service) are not bearer.
    for kind in (IdentityType.USERNAME, IdentityType.KERBEROS):
        Policy().check_connected(remote_name, kind, REMOTE)
    # A host that cannot be loopback is still refused before anything is fetched.
    with pytest.raises(InsecureTransport):
        Policy().check_transport(Target("pacs.example.org", 104, "P", "M"), IdentityType.JWT)


# --- the same decision on a real connection ----------------------------------------------------


@pytest.fixture
def connected_address_is_remote(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection is real (to 127.0.0.1), but its peer address reads as a remote one: what
    a client sees when DNS sent ``localhost.`` elsewhere."""
    monkeypatch.setattr(RecordingSocket, "getpeername", lambda self: (REMOTE, 104))


@pytest.mark.usefixtures("localhost_dot_resolves_to_loopback", "connected_address_is_remote")
def test_a_passcode_to_a_name_that_led_elsewhere_is_never_sent(
    listener: Listener, no_outside_connections: list[Any]
) -> None:
    client = Client(
        Peer("localhost.", listener.port, "PACS"),
        identity=PasswordProvider("alice", PASSCODE),
        timeouts=LOCAL,
    )
    with pytest.raises(InsecureTransport) as info:
        client.echo()
    assert REMOTE in str(info.value) and "nothing was sent" in str(info.value)
    assert PASSCODE not in str(info.value)
    poll(listener.closed.is_set, timeout=10, what="the refused connection to close")
    assert listener.received == [b""], "the connection must close before the A-ASSOCIATE-RQ"
    assert no_outside_connections == []


@pytest.mark.usefixtures("localhost_dot_resolves_to_loopback", "connected_address_is_remote")
def test_a_jwt_to_a_name_that_led_elsewhere_is_never_sent(
    listener: Listener, tmp_path: Any, no_outside_connections: list[Any]
) -> None:
    token = make_jwt(sub="alice")
    provider = JwtFileProvider(write_token(tmp_path / "t.jwt", token))
    client = Client(Peer("localhost.", listener.port, "PACS"), identity=provider, timeouts=LOCAL)
    with pytest.raises(InsecureTransport):
        client.echo()
    poll(listener.closed.is_set, timeout=10, what="the refused connection to close")
    assert listener.received == [b""]
    assert no_outside_connections == []


@pytest.mark.usefixtures("localhost_dot_resolves_to_loopback", "connected_address_is_remote")
def test_allow_insecure_transport_still_sends_it(listener: Listener) -> None:
    # The escape hatch still works: the request goes out (the listener is no DICOM peer, so
    # the association itself fails; what matters is that the RQ with the identity was written).
    client = Client(
        Peer("localhost.", listener.port, "PACS"),
        identity=PasswordProvider("alice", PASSCODE),
        policy=Policy(allow_insecure_transport=True),
        timeouts=Timeouts(connect=2, acse=1, dimse=2, network=2),
    )
    with pytest.raises(AssociationAborted, match="no A-ASSOCIATE response"):
        client.echo()
    poll(listener.closed.is_set, timeout=10, what="the connection to close")
    (received,) = listener.received
    assert received[:1] == b"\x01" and PASSCODE.encode() in received  # the A-ASSOCIATE-RQ


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users=USERS, jwt_key=JWT_KEY) as server:
        yield server


@pytest.mark.parametrize("host", ["localhost", "localhost."])
def test_a_name_that_connects_to_loopback_is_allowed(
    pacs: EmbeddedPacs,
    host: str,
    request: pytest.FixtureRequest,
    no_outside_connections: list[Any],
) -> None:
    # "localhost" through the hosts file; "localhost." through a (simulated) DNS answer of
    # 127.0.0.1. Either way the connected address is loopback, so the passcode may go.
    if host == "localhost.":
        request.getfixturevalue("localhost_dot_resolves_to_loopback")
    client = Client(
        Peer(host, pacs.port, pacs.ae_title),
        identity=PasswordProvider("alice", PASSCODE),
        timeouts=LOCAL,
    )
    assert client.echo() == 0x0000
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.principal == "alice" and record.verified
    assert no_outside_connections == []
