"""Every value the providers read from outside ends typed, its origin named (issue 14, finding 8).

The review found a raw ``OverflowError`` from a date in a token file. Each parser and conversion
of the providers is fuzzed here with hypothesis (bounded, derandomized, a few seconds in all):
JWT files (raw bytes, headers, claims ``exp``/``nbf``/``iat``/``aud``/``sub`` of any JSON type,
NaN and infinities, integers beyond a float), SAML files (raw bytes, mutated assertions, dates of
any text and any offset, names of any length), the values a keyring backend returns (the real
file backend with any stored bytes, and a hostile backend returning any type), and Kerberos
principal and host names (any text, the real GSSAPI library).

Each run ends in an exchange, or in a ``CredentialError`` or ``CredentialUnavailable`` whose
message names where the value came from and says what to do, as one printable line of bounded
length. A value that is accepted must leave a principal that is one printable line too (it goes
to logs and the audit trail).
"""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers import (
    CredentialError,
    CredentialUnavailable,
    IdentityExchange,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    SamlFileProvider,
    Target,
)
from tests.conftest import make_jwt, write_token
from tests.hypothesis_profiles import examples
from tests.saml_assertions import SAML_NS, make_assertion, write_file

TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")
MAX_MESSAGE = 900
# Every message says what to do next: one of these verbs (or "must", for the issuer's part).
ADVICE = re.compile(
    r"\b(check|must|request|get|set|add|run|give|have the agent|store|decode|ask|let|restrict|"
    r"name|synchronise|install|unlock|use)\b",
    re.IGNORECASE,
)

FUZZ = settings(
    max_examples=examples(300),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def outcome(provider: Any) -> IdentityExchange | BaseException:
    try:
        return provider.negotiate(TARGET)  # type: ignore[no-any-return]
    except BaseException as error:
        return error


def check_typed(result: IdentityExchange | BaseException, *origins: str) -> None:
    """An exchange with a printable principal, or a typed error naming one of ``origins`` (where
    the value came from) and a fix."""
    if isinstance(result, IdentityExchange):
        principal = result.request.principal
        assert principal.isprintable() and len(principal) <= 200, repr(principal)
        return
    assert isinstance(result, CredentialError | CredentialUnavailable), repr(result)
    message = str(result)
    assert any(origin in message for origin in origins), message
    assert message.isprintable(), repr(message)  # one line: no newline, no control character
    assert len(message) <= MAX_MESSAGE, f"{len(message)} characters: {message[:200]}..."
    assert ADVICE.search(message), f"no advice in: {message}"


# --- JWT files -------------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e30, -1e30, 1e300, -1e300, 2**63, -(2**63), 253402300800, -62135596801])
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
now_ish = st.integers(min_value=-(10**6), max_value=10**6).map(
    lambda d: int(datetime.now().timestamp()) + d
)
claim_values = (
    json_values | now_ish | st.sampled_from(["NaN", "Infinity", "1e30", "", "2030-01-01"])
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: object, claims: object) -> str:
    parts = [json.dumps(header, allow_nan=True), json.dumps(claims, allow_nan=True)]
    return ".".join([*(b64url(p.encode()) for p in parts), b64url(b"signature-bytes")])


@FUZZ
@given(
    claims=st.dictionaries(
        st.sampled_from(["exp", "nbf", "iat", "aud", "sub", "iss"]), claim_values, max_size=6
    ),
    audience=st.sampled_from([None, "PACS", ""]),
)
def test_jwt_claims_of_any_type(
    tmp_path: Path, claims: dict[str, Any], audience: str | None
) -> None:
    path = write_token(tmp_path / "token.jwt", compact({"alg": "HS256", "typ": "JWT"}, claims))
    check_typed(outcome(JwtFileProvider(path, audience=audience)), str(path))


@FUZZ
@given(header=json_values, claims=json_values)
def test_jwt_header_and_body_of_any_json(tmp_path: Path, header: object, claims: object) -> None:
    path = write_token(tmp_path / "token.jwt", compact(header, claims))
    check_typed(outcome(JwtFileProvider(path)), str(path))


@FUZZ
@given(
    prefix=st.sampled_from([b"", b"\xef\xbb\xbf", b"Bearer ", b"\xff\xfe", b" \n\t"]),
    body=st.binary(max_size=200)
    | st.builds(
        lambda token, at, junk: token[:at] + junk + token[at:],
        st.just(make_jwt().encode()),
        st.integers(min_value=0, max_value=200),
        st.binary(min_size=1, max_size=4),
    ),
)
def test_jwt_file_of_any_bytes(tmp_path: Path, prefix: bytes, body: bytes) -> None:
    path = tmp_path / "token.jwt"
    path.write_bytes(prefix + body)
    path.chmod(0o600)
    check_typed(outcome(JwtFileProvider(path)), str(path))


def test_jwt_files_at_the_edges(tmp_path: Path) -> None:
    """Empty, a BOM alone, only whitespace, one byte over the limit, a token nested deep."""
    deep = compact({"alg": "HS256"}, {"aud": json.loads("[" * 900 + "]" * 900)})
    for name, data in {
        "empty": b"",
        "bom": b"\xef\xbb\xbf",
        "blank": b" \r\n\t ",
        "oversized": b"a" * ((1 << 20) + 1),
        "deep": deep.encode(),
        "utf16": "\ufeff".encode("utf-16") + make_jwt().encode("utf-16-le"),
    }.items():
        path = tmp_path / f"{name}.jwt"
        path.write_bytes(data)
        path.chmod(0o600)
        check_typed(outcome(JwtFileProvider(path, audience="PACS")), str(path))


# --- SAML files ------------------------------------------------------------------------------

offsets = st.integers(min_value=-1439, max_value=1439).map(
    lambda m: "Z" if m == 0 else f"{'+' if m > 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
)
iso_dates = st.builds(
    lambda when, offset, fraction: (
        when.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + (".123456" if fraction else "") + offset
    ),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    offsets,
    st.booleans(),
)
saml_dates = (
    iso_dates | st.text(max_size=40) | st.sampled_from(["", "NaN", "9999-12-31T23:59:59-23:59"])
)


def saml_with(not_before: str, not_on_or_after: str, issue_instant: str, name_id: str) -> bytes:
    def attr(value: str) -> str:
        return escape(value, {'"': "&quot;"})

    return (
        f'<saml:Assertion {SAML_NS} ID="_{uuid.uuid4().hex}" Version="2.0" '
        f'IssueInstant="{attr(issue_instant)}"><saml:Issuer>https://idp.example</saml:Issuer>'
        f"<saml:Subject><saml:NameID>{escape(name_id)}</saml:NameID></saml:Subject>"
        f'<saml:Conditions NotBefore="{attr(not_before)}" '
        f'NotOnOrAfter="{attr(not_on_or_after)}"/></saml:Assertion>'
    ).encode("utf-8", "surrogatepass")


@FUZZ
@given(
    not_before=saml_dates,
    not_on_or_after=saml_dates,
    issue_instant=saml_dates,
    name_id=st.text(max_size=300),
    audience=st.sampled_from([None, "PACS"]),
)
def test_saml_dates_and_names_of_any_text(
    tmp_path: Path,
    not_before: str,
    not_on_or_after: str,
    issue_instant: str,
    name_id: str,
    audience: str | None,
) -> None:
    path = write_file(
        tmp_path / "a.xml", saml_with(not_before, not_on_or_after, issue_instant, name_id)
    )
    check_typed(outcome(SamlFileProvider(path, audience=audience)), str(path))


@FUZZ
@given(
    data=st.binary(max_size=300)
    | st.builds(
        lambda doc, at, cut, junk: doc[:at] + junk + doc[at + cut :],
        st.just(make_assertion()),
        st.integers(min_value=0, max_value=900),
        st.integers(min_value=0, max_value=8),
        st.binary(max_size=6),
    ),
    prefix=st.sampled_from(
        [b"", b"\xef\xbb\xbf", b"\xff\xfe", b'<?xml version="1.0" encoding="x"?>']
    ),
)
def test_saml_file_of_any_bytes(tmp_path: Path, data: bytes, prefix: bytes) -> None:
    path = write_file(tmp_path / "a.xml", prefix + data)
    check_typed(outcome(SamlFileProvider(path)), str(path))


def test_saml_names_and_tags_that_are_huge_or_deep(tmp_path: Path) -> None:
    huge_tag = f"<{'x' * 60000}/>".encode()
    deep = b"<a>" * 5000 + b"</a>" * 5000
    version = make_assertion().replace(b'Version="2.0"', b'Version="' + b"9" * 60000 + b'"')
    for name, data in {"tag": huge_tag, "deep": deep, "version": version}.items():
        path = write_file(tmp_path / f"{name}.xml", data)
        check_typed(outcome(SamlFileProvider(path)), str(path))


# --- keyring ---------------------------------------------------------------------------------

WHERE = "keyring service 'pacs', user 'alice'"


@FUZZ
@given(stored=st.binary(max_size=60))
def test_the_file_keyring_holding_any_bytes(tmp_path: Path, stored: bytes) -> None:
    """The real keyrings.alt file backend, its entry holding any bytes (base64, as it stores)."""
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    encoded = base64.encodebytes(stored).decode().replace("\n", "\n\t")
    Path(backend.file_path).write_text(f"[pacs]\nalice = \n\t{encoded}\n")
    check_typed(outcome(KeyringPasswordProvider("pacs", "alice", backend=backend)), WHERE)


class HostileBackend:
    """Returns, or raises, whatever it is given (keyring's API promises str or None)."""

    priority = 1

    def __init__(self, answer: object) -> None:
        self.answer = answer

    def get_password(self, service: str, username: str) -> object:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


hostile_answers = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.text(max_size=20),
    st.text(max_size=20).map(lambda t: t + "\udcff"),
    st.lists(st.text(max_size=3), max_size=2),
    st.sampled_from(
        [
            ValueError("line 3: alice = pw"),
            OSError(5, "Input/output error", "/keyring/file"),
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            RecursionError(),
            KeyError("alice"),
            RuntimeError("x" * 10_000),
        ]
    ),
)


@FUZZ
@given(answer=hostile_answers)
def test_a_keyring_backend_answering_anything(answer: object) -> None:
    provider = KeyringPasswordProvider("pacs", "alice", backend=HostileBackend(answer))  # type: ignore[arg-type]
    check_typed(outcome(provider), WHERE)


# --- Kerberos names --------------------------------------------------------------------------


@pytest.fixture
def no_ticket_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A realm with no KDC and a ticket cache that does not exist: names are parsed, no ticket."""
    pytest.importorskip("gssapi", reason="Kerberos identities need the [kerberos] extra")
    config = tmp_path / "krb5.conf"
    config.write_text("[libdefaults]\n default_realm = FUZZ.TEST\n dns_lookup_kdc = false\n")
    monkeypatch.setenv("KRB5_CONFIG", str(config))
    cache = f"FILE:{tmp_path / 'no-such-ccache'}"
    monkeypatch.setenv("KRB5CCNAME", cache)
    return cache


names = st.text(max_size=40) | st.sampled_from(["a@b@c", "@", "alice@", "x" * 5000, "al\x00ice"])


@FUZZ
@given(principal=names, hostname=names)
def test_kerberos_principal_and_host_names_of_any_text(
    no_ticket_cache: str, principal: str, hostname: str
) -> None:
    try:
        provider = KerberosProvider(principal=principal or None, hostname=hostname or None)
    except CredentialError as error:  # refused when built: a name the C library would cut
        check_typed(error, "Kerberos")
        return
    result = outcome(provider)
    assert not isinstance(result, IdentityExchange)  # no ticket anywhere
    check_typed(result, "Kerberos", "KDC", "keytab")


def test_the_advice_pattern_is_not_trivially_true() -> None:
    assert not ADVICE.search("the value is wrong")
    assert ADVICE.search("check what the agent writes")
    assert math.isnan(json.loads(json.dumps(math.nan, allow_nan=True)))  # NaN reaches the file
