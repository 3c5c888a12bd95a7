"""The secret matrix, continued: a JWT from an OAuth2 token endpoint (issue 14, Tests).

Every case runs as ``tests/test_secret_matrix.py`` runs its own: pynetdicom's ``debug_logger()``
and ``debug_data`` hex dumps on both ends, every logger at DEBUG (urllib3's and requests-kerberos'
too), and then searches, with :func:`tests.test_secret_leaks.find_leaks` (raw, URL/form encoded,
hex, base64 at every alignment, JSON and ``repr`` escapes, hex dumps) and a control that proves
it finds each secret, everything the case shows: the logs, stdout and stderr, the ``repr``/``str``
of the client, provider, session, outcome and pynetdicom's identity items, and each error's
``repr``, ``str``, args and traceback. The secrets: the client secret, every access token the
endpoint issued, and with Kerberos every SPNEGO token sent or received.

Cases, each something only the home-made server (tests/token_server.py) plays: the early
refresh failing on a hostile answer (the WARNING), the mandatory refresh failing (raised) and a
refresh that works; an endpoint that echoes the client secret in each place a server can put text
(``tests.test_token_hostile.ECHOES``: reason phrase, ``Location``, JSON key, ``token_type``,
``error``/``error_description``/``error_uri`` in several encodings, ``aud``, a bad status line, a
bad header line, a forged line), through ``Client.echo``; Kerberos to the token service (a real
KDC), accepted and with mutual authentication failing. A token used for an association (plain
and TLS), the PACS echoing or rejecting it, and a wrong client secret run against the real
OpenID Provider in ``tests/test_secret_matrix_oidc.py``.

The last test formats every SDK error the matrix modules raised with locals captured
(``tests/secret_matrix_support.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest

from client_sdk import Client, Peer, Policy, TlsConfig
from client_sdk.testing import EmbeddedPacs, ResponseMode
from providers import CredentialError, Target, TokenEndpointProvider
from tests.conftest import AUDIENCE, JWT_KEY
from tests.fixtures_pacs import pacs_on_first_use
from tests.leak_search import find_leaks
from tests.secret_matrix_support import (
    FINISHED,
    KEPT,
    ErrorKeeper,
    Gathered,
    assert_search_finds,
    attempt,
    formatted_with_locals,
    walk,
)
from tests.timeouts import LOCAL
from tests.tls_certs import CertificateFiles
from tests.token_echoes import A_JWT, CLIENT_ID, CLIENT_SECRET, ECHOES, SERVICE
from tests.token_server import RawReply, TokenServer

pytest_plugins = ["tests.secret_matrix_fixtures"]  # hex_dumps, debug_everything, keep_errors

LIFETIME = 600  # the advisory window is then 300 s, the mandatory one 60 s
TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")


class Clock:
    """The provider's and the token server's clock: the real time, moved forward by hand (the
    PACS checks a token's exp against the real time, so the first token stays valid there)."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


@dataclass
class Web:
    """What a case works with."""

    seen: Gathered
    keeper: ErrorKeeper
    keyring: Any
    pacs: Callable[[str, bool], EmbeddedPacs]
    certs: CertificateFiles
    request: pytest.FixtureRequest
    clock: Clock

    def server(self, **kwargs: Any) -> TokenServer:
        kwargs.setdefault("key", JWT_KEY)
        kwargs.setdefault("clients", {CLIENT_ID: CLIENT_SECRET})
        server = TokenServer(audience=AUDIENCE, lifetime=LIFETIME, clock=self.clock, **kwargs)
        self.request.addfinalizer(server.stop)
        return server.start()

    def provider(self, server: TokenServer, **kwargs: Any) -> TokenEndpointProvider:
        if "auth" not in kwargs:
            kwargs["client_secret_keyring"] = (SERVICE, CLIENT_ID)
        return TokenEndpointProvider(
            server.url,
            client_id=CLIENT_ID,
            audience=AUDIENCE,
            positive_response=True,
            keyring_backend=self.keyring,
            timeout=2,
            clock=self.clock,
            **kwargs,
        )

    def client(
        self, provider: TokenEndpointProvider, mode: str = "standard", tls: bool = False
    ) -> Client:
        pacs = self.pacs(mode, tls)
        pacs.clear()
        peer_tls = (
            TlsConfig(ca_file=self.certs.ca_file, server_hostname="localhost") if tls else None
        )
        client = Client(
            Peer(pacs.host, pacs.port, pacs.ae_title, tls=peer_tls),
            identity=provider,
            policy=Policy(),
            timeouts=LOCAL,
        )
        self.seen += [repr(client), repr(provider), str(provider.source)]
        return client

    def issued(self, server: TokenServer) -> None:
        """Every token the server issued is a secret of this case."""
        self.keeper.secrets += [t for t in server.issued if t not in self.keeper.secrets]


# --- the cases ----------------------------------------------------------------------------------


def refresh(web: Web) -> str:
    """The first token; early refresh on a hostile answer (kept, WARNING); early refresh that
    works; the mandatory refresh on a hostile answer (raised)."""
    server = web.server()
    provider = web.provider(server)
    client = web.client(provider)
    results = [walk(client, web.seen, web.keeper)]
    web.clock.ahead = LIFETIME - 200  # the advisory window
    server.reply = RawReply(ECHOES["reason phrase"])
    results.append(walk(client, web.seen, web.keeper))  # the first token, still valid
    server.reply = None
    web.clock.ahead += 31  # past the back-off: this early refresh gets a new token
    results.append(attempt(lambda: provider.negotiate(TARGET), web.seen, web.keeper))
    web.clock.ahead += LIFETIME - 30  # the new token's mandatory window
    server.reply = RawReply(ECHOES["error_description, URL-encoded"])
    results.append(walk(client, web.seen, web.keeper))
    web.issued(server)
    assert len(server.issued) == 2 and len(server.requests) == 4
    return " ".join(results)


def server_text(source: str) -> Callable[[Web], str]:
    def run(web: Web) -> str:
        server = web.server()
        server.reply = RawReply(ECHOES[source])
        web.keeper.secrets.append(A_JWT)
        result = walk(web.client(web.provider(server)), web.seen, web.keeper)
        (error,) = web.keeper.errors
        assert type(error).__name__ == result and isinstance(error, CredentialError), error
        assert server.url in str(error)
        return "CredentialError"

    return run


def kerberos(reply: str) -> Callable[[Web], str]:
    def run(web: Web) -> str:
        keytab = web.request.getfixturevalue("token_service_keytab")
        server = web.server(clients={}, kerberos_keytab=keytab)
        server.kerberos_reply = cast(Any, reply)
        result = walk(web.client(web.provider(server, auth="kerberos")), web.seen, web.keeper)
        web.issued(server)
        web.keeper.secrets += server.negotiate_tokens  # base64, both directions
        assert server.negotiate_tokens, "no SPNEGO token went either way"
        return result

    return run


CASES: dict[str, tuple[Callable[[Web], str], str]] = {
    "refresh": (refresh, "ok:confirmed ok:confirmed ok TokenRequestRejected"),
    **{f"server-text-{name}": (server_text(name), "CredentialError") for name in ECHOES},
    "kerberos-accepted": (kerberos("valid"), "ok:confirmed"),
    "kerberos-mutual-auth-fails": (kerberos("garbage"), "TokenEndpointNotAuthenticated"),
}


# --- the test -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_service_keytab(kerberos_realm: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """HTTP/localhost's keys (as tests/test_token_endpoint_kerberos.py's http_keytab:
    requests-kerberos asks for HTTP@127.0.0.1, which MIT canonicalises to localhost).
    kadmin.local's addprinc of a principal that exists changes nothing, and ktadd -norandkey
    keeps its keys."""
    keytab = str(tmp_path_factory.mktemp("http-keytab") / "http.keytab")
    kerberos_realm._k5.addprinc("HTTP/localhost")
    kerberos_realm._k5.extract_keytab("HTTP/localhost", keytab)
    return keytab


@pytest.fixture(scope="module")
def pacs_pool(
    hex_dumps: None, certs: CertificateFiles
) -> Iterator[Callable[[str, bool], EmbeddedPacs]]:

    def make(mode: str, tls: bool) -> EmbeddedPacs:
        return EmbeddedPacs(
            jwt_key=JWT_KEY,
            jwt_audience=AUDIENCE,
            response_mode=cast(ResponseMode, mode),
            ssl_context=certs.server_context() if tls else None,
        )

    with pacs_on_first_use(make) as get:
        yield get


@pytest.mark.parametrize("name", list(CASES))
def test_no_secret_anywhere(
    name: str,
    capfd: pytest.CaptureFixture[str],
    debug_everything: pytest.LogCaptureFixture,
    pacs_pool: Callable[[str, bool], EmbeddedPacs],
    certs: CertificateFiles,
    file_keyring: Any,
    keep_errors: ErrorKeeper,
    request: pytest.FixtureRequest,
) -> None:
    run, expected = CASES[name]
    file_keyring.set_password(SERVICE, CLIENT_ID, CLIENT_SECRET)
    keep_errors.secrets.append(CLIENT_SECRET)
    keep_errors.expect_error = not expected.endswith("confirmed")
    web = Web(Gathered(), keep_errors, file_keyring, pacs_pool, certs, request, Clock())
    result = run(web)
    captured = capfd.readouterr()
    logs = debug_everything.text
    web.seen += [captured.out, captured.err, logs]

    assert result == expected
    assert_search_finds(keep_errors.secrets)
    assert find_leaks("\n".join(web.seen), keep_errors.secrets) == []
    assert "END ENCODED PDU" in logs or not result.startswith("ok"), "the hex dumps did not run"
    if name == "refresh":
        warnings = [r for r in debug_everything.records if r.levelno == logging.WARNING]
        assert any("could not refresh the token" in r.getMessage() for r in warnings)


# --- every error the matrix raised, formatted with its frames' locals ---------------------------


def test_every_error_the_matrix_raised_formats_without_a_secret(
    request: pytest.FixtureRequest,
) -> None:
    """Runs after the matrix modules (it is the last test of the last of them): each error they
    kept, and every error chained to it, formatted as a reporter that captures locals shows it."""
    items = request.session.items
    ran_before = [
        item.nodeid
        for item in items[: items.index(request.node)]
        if "keep_errors" in getattr(item, "fixturenames", ())
    ]
    finished = [FINISHED[nodeid] for nodeid in ran_before if nodeid in FINISHED]
    if not finished:
        pytest.skip("no case of the secret matrix ran before this test in this session")
    for keeper in finished:
        if keeper.expect_error:
            assert keeper.errors, f"{keeper.case} raised nothing, or did not keep what it raised"
    assert KEPT, "the matrix kept no error"
    # The control: the formatting shows a frame's locals, and the search finds a secret there.
    planted = "planted-canary-in-a-frame-0b7d"
    control = ErrorKeeper("control")
    assert attempt(lambda: _raise_holding(planted), Gathered(), control) == "RuntimeError"
    assert find_leaks(formatted_with_locals(control.errors[0]), [planted])
    for kept in KEPT:
        text = formatted_with_locals(kept.error)
        assert find_leaks(text, kept.secrets) == [], f"{kept.case}: {type(kept.error).__name__}"


def _raise_holding(value: str) -> None:
    held = value  # noqa: F841  (a local, as a reporter shows it)
    raise RuntimeError("nothing in the message")
