"""The secret matrix, continued: OpenID Connect login and the token endpoint's client
authentication (issue 17), against the real OpenID Provider (tests/oidc_op) and, for what it never
does, the scripted one (tests/hostile_oidc.py).

Every case runs as ``tests/test_secret_matrix.py`` runs its own: pynetdicom's ``debug_logger()``
and ``debug_data`` hex dumps on both ends, every logger at DEBUG (urllib3's too), an XML audit
file, and then searches, with :func:`tests.leak_search.find_leaks` (every encoding) and a control
that proves it finds each secret, all the case shows: the logs, stdout and stderr, the audit file,
``repr``/``str`` of the client, provider, session, outcome and pynetdicom's identity items, each
error's ``repr``, ``str``, args, traceback and chain, formatted with its frames' locals, and each
error and provider pickled with every protocol (or the refusal, formatted the same way). The
errors are kept too, for the last test of ``tests/test_secret_matrix_web.py``.

The cases that reach the PACS meet it plain and over TLS, accepting, echoing (a missing
response) and rejecting. They replace the home-made token server's non-hostile cases of
``tests/test_secret_matrix_web.py``, which keeps the hostile ones.

The secrets, by name (:data:`NAMES`; each case says which it must have met, and
:func:`test_every_named_secret_is_in_some_case` checks that every name is): the refresh token,
the access token and the ID token (every one the token endpoint answered with, caught where the
SDK parses an answer), the device code and the PKCE verifier (spies on the real functions), the
client secrets of ``client_secret_post`` and ``client_secret_basic`` (right and wrong), the
``private_key_jwt`` private key (its PEM, a line of it, its DER) and every client assertion it
signed (a spy on the real signer). The cases, and what they work with, are in
``tests/secret_matrix_oidc_cases.py``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

import providers._oidc_browser_flow as browser_flow
from client_sdk.testing import EmbeddedPacs, ResponseMode
from providers import Secret
from providers._token_answer import ParsedAnswer
from providers._token_client_auth import ClientCredentials, PrivateKeyJwt
from tests.conftest import AUDIENCE
from tests.fixtures_pacs import pacs_on_first_use
from tests.leak_search import find_leaks
from tests.oidc_fixtures import RunningOidcProvider
from tests.secret_matrix_oidc_cases import CASES, NAMES, TOKEN_FIELDS, Matrix
from tests.secret_matrix_support import (
    ErrorKeeper,
    Gathered,
    assert_search_finds,
    formatted_with_locals,
)
from tests.secret_matrix_values import OTHER_KEY
from tests.tls_certs import CertificateFiles

pytest_plugins = ["tests.secret_matrix_fixtures"]  # hex_dumps, debug_everything, keep_errors
pytestmark = pytest.mark.usefixtures("no_outside_connections")


def test_every_named_secret_is_in_some_case() -> None:
    assert {name for _, _, names in CASES.values() for name in names} == set(NAMES)


# --- the test ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pacs_pool(
    hex_dumps: None, oidc_provider: RunningOidcProvider, certs: CertificateFiles
) -> Iterator[Callable[[str], EmbeddedPacs]]:
    """The PACS verifying through the provider's JWKS (``standard``, ``echo``, and ``tls``: over
    TLS), and one that trusts another key (``rejecting``)."""

    def make(mode: str) -> EmbeddedPacs:
        keys: dict[str, Any] = (
            {"jwt_key": OTHER_KEY}
            if mode == "rejecting"
            else {"jwt_jwks_url": oidc_provider.endpoint("jwks")}
        )
        return EmbeddedPacs(
            **keys,
            jwt_audience=AUDIENCE,
            response_mode=cast(ResponseMode, mode if mode == "echo" else "standard"),
            ssl_context=certs.server_context() if mode == "tls" else None,
        )

    with pacs_on_first_use(make) as get:
        yield get


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bytes | str]]:
    """Every token in every answer the SDK parsed, every PKCE verifier and client assertion it
    made: the real functions run, and what they saw is kept, by name."""
    met: list[tuple[str, bytes | str]] = []
    real_answer, real_pair = ParsedAnswer.__init__, browser_flow.pkce_pair
    real_credentials = PrivateKeyJwt.credentials

    def answer(self: Any, body: Secret) -> None:
        real_answer(self, body)
        for key, name in TOKEN_FIELDS.items():
            value = self.field(key)
            if isinstance(value, str):
                met.append((name, value))

    def pair() -> tuple[Secret, str]:
        verifier, challenge = real_pair()
        met.append(("PKCE verifier", verifier.reveal()))
        return verifier, challenge

    def credentials(self: PrivateKeyJwt, client_id: str, token_url: str) -> ClientCredentials:
        made = real_credentials(self, client_id, token_url)
        met.extend(("client assertion", value.reveal()) for _, value in made.secret_fields)
        return made

    monkeypatch.setattr(ParsedAnswer, "__init__", answer)
    monkeypatch.setattr(browser_flow, "pkce_pair", pair)
    monkeypatch.setattr(PrivateKeyJwt, "credentials", credentials)
    return met


def pickled(value: object) -> str:
    """``value`` pickled with every protocol, or the refusal as a reporter shows it."""
    shown = []
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        try:
            shown.append(pickle.dumps(value, protocol).decode("latin-1"))
        except Exception as refused:
            shown.append(formatted_with_locals(refused))
    return "\n".join(shown)


@pytest.mark.parametrize("name", list(CASES))
def test_no_secret_anywhere(
    name: str,
    oidc_provider: RunningOidcProvider,
    capfd: pytest.CaptureFixture[str],
    debug_everything: pytest.LogCaptureFixture,
    pacs_pool: Callable[[str], EmbeddedPacs],
    file_keyring: Any,
    keep_errors: ErrorKeeper,
    spies: list[tuple[str, bytes | str]],
    tmp_path: Path,
    certs: CertificateFiles,
) -> None:
    run, expected, names = CASES[name]
    keep_errors.expect_error = not expected.endswith("confirmed")
    m = Matrix(oidc_provider, Gathered(), keep_errors, file_keyring, tmp_path, pacs_pool, certs)
    result = run(m)
    for kind, value in spies:
        m.secret(kind, value)
    captured = capfd.readouterr()
    m.seen += [captured.out, captured.err, debug_everything.text]
    audit = tmp_path / "audit.xml"
    if audit.exists():
        m.seen.append(audit.read_text(encoding="utf-8"))
    for error in keep_errors.errors:
        m.seen += [formatted_with_locals(error), pickled(error)]
    m.seen += [pickled(provider) for provider in m.providers]

    assert result == expected
    missing = [n for n in names if not m.named.get(n)]
    assert missing == [], f"the case met no {missing}: the search would prove nothing for them"
    assert_search_finds(keep_errors.secrets)
    assert find_leaks("\n".join(m.seen), keep_errors.secrets) == []
    if result.endswith(("confirmed", "Missing", "Rejected")) and "Token" not in result:
        assert "END ENCODED PDU" in debug_everything.text, "the hex dumps did not run"
        assert audit.exists(), "no audit event: the search of the audit file proved nothing"
