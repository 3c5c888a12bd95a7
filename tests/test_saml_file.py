"""SAML assertions (type 4) from a rotating file, against the embedded PACS on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import defusedxml.ElementTree
import pytest
from pynetdicom import debug_logger

from client_sdk import AuthenticationRejected, Client, IdentityTooLarge, InsecureTransport, Peer
from client_sdk.testing import EmbeddedPacs
from client_sdk.testing._identity_check import SamlChecker
from providers import (
    CredentialError,
    CredentialExpired,
    CredentialUnavailable,
    IdentityExchange,
    IdentityType,
    InvalidSamlAssertion,
    ResponseStatus,
    SamlFileProvider,
    Target,
    UnsafeXml,
)
from providers._saml_file import MAX_ASSERTION_BYTES, SamlExchange
from tests.fixtures_pacs import client_for
from tests.saml_assertions import (
    AUDIENCE,
    ISSUER,
    MARKER,
    NAME_ID,
    SAML_NS,
    make_assertion,
    write_file,
)

NOW = 1_800_000_000.0


class Recording:
    """Delegates to a provider and keeps each exchange, to look at what came back."""

    def __init__(self, provider: SamlFileProvider) -> None:
        self.provider = provider
        self.identity_type = provider.identity_type
        self.exchanges: list[IdentityExchange] = []

    def negotiate(self, target: Target) -> IdentityExchange:
        exchange = self.provider.negotiate(target)
        self.exchanges.append(exchange)
        return exchange


@pytest.fixture
def saml_pacs(embedded_pacs_factory: Callable[..., EmbeddedPacs]) -> EmbeddedPacs:
    return embedded_pacs_factory(saml_issuer=ISSUER, saml_audience=AUDIENCE)


# Through the client to the embedded PACS -----------------------------------------------------


def test_assertion_reaches_the_pacs_and_its_response_is_recorded_not_verified(
    tmp_path: Path, saml_pacs: EmbeddedPacs
) -> None:
    assertion_id = "_" + uuid.uuid4().hex
    path = write_file(tmp_path / "assertion.xml", make_assertion(assertion_id=assertion_id))
    provider = Recording(SamlFileProvider(path, audience=AUDIENCE, positive_response=True))
    with client_for(saml_pacs, provider).associate() as session:
        outcome = session.outcome
        session.echo()
    assert outcome.identity_type is IdentityType.SAML
    assert outcome.principal == NAME_ID
    assert outcome.status is ResponseStatus.UNVERIFIED
    assert outcome.response_received and not outcome.echoed
    assert "recorded, not verified" in outcome.detail
    record = saml_pacs.wait_for_records(1)[0]
    assert (record.identity_type, record.principal, record.verified) == (4, NAME_ID, True)
    assert record.response_sent == "reply"
    assert record.dimse == ["C-ECHO"]
    (exchange,) = provider.exchanges
    assert isinstance(exchange, SamlExchange)
    assert exchange.saml_response is not None
    response = defusedxml.ElementTree.fromstring(exchange.saml_response)
    assert response.tag == "{urn:oasis:names:tc:SAML:2.0:protocol}Response"
    assert response.get("InResponseTo") == assertion_id
    assert MARKER.encode() not in exchange.saml_response  # not our assertion sent back
    assert outcome.response_length == len(exchange.saml_response)


def test_without_a_positive_response_request_nothing_comes_back(
    tmp_path: Path, saml_pacs: EmbeddedPacs
) -> None:
    path = write_file(tmp_path / "assertion.xml", make_assertion())
    with client_for(saml_pacs, SamlFileProvider(path)).associate() as session:
        assert session.outcome.status is ResponseStatus.NOT_REQUESTED
        assert not session.outcome.response_requested
    assert saml_pacs.wait_for_records(1)[0].response_sent == "none"


@pytest.mark.parametrize(
    ("kwargs", "failure"),
    [
        ({"issuer": "https://evil.example/saml"}, "is not the trusted"),
        ({"audiences": (("SOMEONE_ELSE",),)}, "not 'EMBEDDED_PACS'"),
        ({"not_on_or_after": -120}, "expired at"),  # seconds from now, taken in the test
    ],
)
def test_the_pacs_rejects_what_it_does_not_trust(
    tmp_path: Path, saml_pacs: EmbeddedPacs, kwargs: dict[str, object], failure: str
) -> None:
    # The provider has no audience and a clock in the past, so it sends what the PACS refuses.
    # Times are taken now, not at collection: the suite may reach this test minutes later.
    if "not_on_or_after" in kwargs:
        kwargs = {**kwargs, "not_on_or_after": time.time() + float(kwargs["not_on_or_after"])}  # type: ignore[arg-type]
    assertion = make_assertion(not_before=time.time() - 600, **kwargs)  # type: ignore[arg-type]
    path = write_file(tmp_path / "assertion.xml", assertion)
    provider = SamlFileProvider(path, clock=lambda: time.time() - 200)
    with pytest.raises(AuthenticationRejected):
        client_for(saml_pacs, provider).associate()
    record = saml_pacs.wait_for_records(1)[0]
    assert record.verified is False
    assert record.failure is not None and failure in record.failure
    assert record.rejected == (1, 2, 1)


def test_plain_tcp_to_a_remote_peer_is_refused_before_the_file_is_read(
    tmp_path: Path, no_outside_connections: list[object]
) -> None:
    provider = SamlFileProvider(tmp_path / "not-even-there.xml")
    client = Client(Peer("pacs.hospital.example", 104, "PACS"), identity=provider)
    with pytest.raises(InsecureTransport, match="saml identity"):
        client.associate()
    assert no_outside_connections == []


def test_a_pacs_without_a_saml_issuer_rejects_type_4(
    tmp_path: Path, embedded_pacs_factory: Callable[..., EmbeddedPacs]
) -> None:
    pacs = embedded_pacs_factory()
    path = write_file(tmp_path / "assertion.xml", make_assertion())
    with pytest.raises(AuthenticationRejected):
        client_for(pacs, SamlFileProvider(path)).associate()
    assert pacs.wait_for_records(1)[0].failure == "type 4 not supported by the embedded PACS yet"


def test_pacs_checker_refuses_attacks_and_garbage() -> None:
    checker = SamlChecker(ISSUER, AUDIENCE)
    verdict = checker.check(BILLION_LAUGHS)
    assert not verdict.verified
    assert verdict.failure is not None and "document type declaration" in verdict.failure
    assert not checker.check(b"<not-saml/>").verified
    assert checker.check(make_assertion()).verified
    with pytest.raises(ValueError, match="saml_audience needs saml_issuer"):
        EmbeddedPacs(saml_audience=AUDIENCE)


def test_no_assertion_in_debug_logs(
    tmp_path: Path, saml_pacs: EmbeddedPacs, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_file(tmp_path / "assertion.xml", make_assertion())
    debug_logger()
    try:
        with caplog.at_level(logging.DEBUG):
            with client_for(saml_pacs, SamlFileProvider(path, positive_response=True)).associate():
                pass
            saml_pacs.wait_for_records(1)
    finally:
        logging.getLogger("pynetdicom").handlers.clear()
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    assert "Authentication Mode: 4 - SAML" in caplog.text  # the DEBUG dump was captured
    assert MARKER not in caplog.text
    assert MARKER.encode().hex() not in caplog.text


# The file -------------------------------------------------------------------------------------


def test_rotation_and_cache(tmp_path: Path, target: Target) -> None:
    path = write_file(tmp_path / "assertion.xml", make_assertion(name_id="first@hospital.example"))
    provider = SamlFileProvider(path)
    request = provider.negotiate(target).request
    assert request.principal == "first@hospital.example"
    assert request.identity_type is IdentityType.SAML
    assert str(path) in request.source and ISSUER in request.source
    cached = provider._file.cached
    provider.negotiate(target)
    assert provider._file.cached is cached  # unchanged file: not parsed again
    second = make_assertion(name_id="second@hospital.example")
    write_file(path, second)
    request = provider.negotiate(target).request
    assert request.principal == "second@hospital.example"
    assert request.primary.reveal() == second.strip()  # sent byte for byte


def test_missing_empty_and_group_readable(
    tmp_path: Path, target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(CredentialUnavailable, match="does not exist"):
        SamlFileProvider(tmp_path / "absent.xml").negotiate(target)
    empty = write_file(tmp_path / "empty.xml", b"  \n")
    with pytest.raises(InvalidSamlAssertion, match="is empty"):
        SamlFileProvider(empty).negotiate(target)
    shared = write_file(tmp_path / "shared.xml", make_assertion(), mode=0o644)
    with caplog.at_level(logging.WARNING, logger="providers"):
        SamlFileProvider(shared).negotiate(target)
    assert "chmod 600" in caplog.text
    assert MARKER not in caplog.text


# Conditions and audience ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("not_before", "not_on_or_after", "error"),
    [
        (NOW + 31, NOW + 600, "not valid before"),  # beyond the 30 s leeway
        (NOW + 29, NOW + 600, None),  # within it
        (NOW - 600, NOW - 30, "expired at"),  # NotOnOrAfter is exclusive
        (NOW - 600, NOW - 29, None),
    ],
)
def test_time_conditions_with_leeway(
    tmp_path: Path,
    target: Target,
    not_before: float,
    not_on_or_after: float,
    error: str | None,
) -> None:
    path = write_file(
        tmp_path / "a.xml",
        make_assertion(now=NOW, not_before=not_before, not_on_or_after=not_on_or_after),
    )
    provider = SamlFileProvider(path, leeway=30, clock=lambda: NOW)
    if error is None:
        assert provider.negotiate(target).request.principal == NAME_ID
        return
    with pytest.raises(CredentialExpired, match=error) as info:
        provider.negotiate(target)
    assert "nothing was sent" in str(info.value)
    assert str(path) in str(info.value)


def test_no_conditions_is_accepted_without_audience(tmp_path: Path, target: Target) -> None:
    path = write_file(tmp_path / "a.xml", make_assertion(conditions=False))
    assert SamlFileProvider(path).negotiate(target).request.principal == NAME_ID
    with pytest.raises(InvalidSamlAssertion, match="for audience none"):
        SamlFileProvider(path, audience=AUDIENCE).negotiate(target)


@pytest.mark.parametrize(
    ("audiences", "accepted"),
    [
        (((AUDIENCE,),), True),
        ((("OTHER", AUDIENCE),), True),  # any audience of one restriction
        ((("OTHER",),), False),
        (((AUDIENCE,), ("OTHER",)), False),  # every restriction must name it
        ((), False),
    ],
)
def test_audience_restriction(
    tmp_path: Path, target: Target, audiences: tuple[tuple[str, ...], ...], accepted: bool
) -> None:
    path = write_file(tmp_path / "a.xml", make_assertion(audiences=audiences))
    provider = SamlFileProvider(path, audience=AUDIENCE)
    if accepted:
        provider.negotiate(target)
        return
    with pytest.raises(InvalidSamlAssertion, match="not 'EMBEDDED_PACS'") as info:
        provider.negotiate(target)
    assert MARKER not in str(info.value)
    SamlFileProvider(path).negotiate(target)  # no audience asked: not checked


# Size -----------------------------------------------------------------------------------------


def test_a_file_beyond_the_16_bit_budget_is_refused_unparsed(
    tmp_path: Path, target: Target
) -> None:
    path = write_file(tmp_path / "big.xml", make_assertion(padding=70_000))
    with pytest.raises(CredentialError, match="more than any assertion") as info:
        SamlFileProvider(path).negotiate(target)
    assert f"at most {MAX_ASSERTION_BYTES} bytes" in str(info.value)


def test_an_assertion_that_fits_the_item_but_not_the_pdu_is_never_sent(
    tmp_path: Path, saml_pacs: EmbeddedPacs
) -> None:
    base = len(make_assertion(padding=1))
    path = write_file(tmp_path / "big.xml", make_assertion(padding=MAX_ASSERTION_BYTES - base))
    assert os.path.getsize(path) <= MAX_ASSERTION_BYTES
    with pytest.raises(IdentityTooLarge, match="nothing was sent"):
        client_for(saml_pacs, SamlFileProvider(path)).associate()
    assert saml_pacs.records == []


# XML attacks and malformed files -----------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n<saml:Assertion "
    + SAML_NS.encode()
    + b' ID="_x" Version="2.0"><saml:Issuer>&lol9;</saml:Issuer></saml:Assertion>'
)


def external_entity(target_file: Path) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY xxe SYSTEM "file://{target_file}">]>\n'
        f'<saml:Assertion {SAML_NS} ID="_x" Version="2.0"><saml:Issuer>{ISSUER}</saml:Issuer>'
        "<saml:Subject><saml:NameID>&xxe;</saml:NameID></saml:Subject></saml:Assertion>"
    ).encode()


def test_billion_laughs_is_refused_without_expansion(tmp_path: Path, target: Target) -> None:
    path = write_file(tmp_path / "lol.xml", BILLION_LAUGHS)
    started = time.monotonic()
    with pytest.raises(UnsafeXml, match="document type declaration") as info:
        SamlFileProvider(path).negotiate(target)
    assert time.monotonic() - started < 2  # generous: expansion would take far longer
    assert "lollol" not in str(info.value)
    assert isinstance(info.value, CredentialError)  # a chain stops: not a different identity


def test_external_entities_are_never_read(tmp_path: Path, target: Target) -> None:
    private = tmp_path / "private.txt"
    private.write_text("contents-of-a-local-file-9d1e")
    path = write_file(tmp_path / "xxe.xml", external_entity(private))
    with pytest.raises(UnsafeXml) as info:
        SamlFileProvider(path).negotiate(target)
    assert "contents-of-a-local-file" not in str(info.value)
    # The same refusal with the DTD-less forms defusedxml would also catch: entities, parameter
    # entities, an external DTD.
    for doc in (
        b'<!DOCTYPE a SYSTEM "http://127.0.0.1:9/evil.dtd"><saml:Assertion/>',
        b'<!DOCTYPE a [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><a/>',
    ):
        write_file(path, doc)
        with pytest.raises(UnsafeXml):
            SamlFileProvider(path).negotiate(target)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not xml at all", "not well-formed"),
        (b"<a>&undefined;</a>", "not well-formed"),
        (b"\xff\xfe<\x00a\x00/\x00>\x00", "not valid UTF-8"),
        (
            b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>',
            "declares encoding 'ISO-8859-1'",
        ),
        (b"<root/>", "not a SAML 2.0 Assertion"),
        (
            b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>',
            "protocol Response, not an Assertion",
        ),
        (
            f"<saml:EncryptedAssertion {SAML_NS}/>".encode(),
            "encrypted",
        ),
        (f'<saml:Assertion {SAML_NS} ID="_a"/>'.encode(), "Version is None"),
        (f'<saml:Assertion {SAML_NS} Version="2.0"/>'.encode(), "no ID"),
        (f'<saml:Assertion {SAML_NS} ID="_a" Version="2.0"/>'.encode(), "no Issuer"),
        (
            f'<saml:Assertion {SAML_NS} ID="_a" Version="2.0"><saml:Issuer>i</saml:Issuer>'
            "</saml:Assertion>".encode(),
            "no NameID",
        ),
        (
            make_assertion().replace(b'NotBefore="', b'NotBefore="yesterday'),
            "NotBefore is not an xs:dateTime",
        ),
    ],
)
def test_malformed_files(tmp_path: Path, target: Target, content: bytes, match: str) -> None:
    path = write_file(tmp_path / "bad.xml", content)
    with pytest.raises(InvalidSamlAssertion, match=match) as info:
        SamlFileProvider(path).negotiate(target)
    assert str(path) in str(info.value)
    assert MARKER not in str(info.value)


def test_bom_and_whitespace_are_tolerated(tmp_path: Path, target: Target) -> None:
    assertion = make_assertion()
    path = write_file(tmp_path / "a.xml", b"\xef\xbb\xbf\n" + assertion + b"\n\n")
    assert SamlFileProvider(path).negotiate(target).request.primary.reveal() == assertion.strip()


def test_repr_and_exchange_hold_no_assertion(tmp_path: Path, target: Target) -> None:
    path = write_file(tmp_path / "a.xml", make_assertion())
    provider = SamlFileProvider(path, audience=AUDIENCE)
    exchange = provider.negotiate(target)
    assert repr(provider) == f"SamlFileProvider(path={str(path)!r}, audience='EMBEDDED_PACS')"
    for text in (repr(provider), repr(exchange), repr(exchange.request), str(exchange.request)):
        assert MARKER not in text
    check = exchange.complete(exchange.request.primary.reveal())  # an echo of our own assertion
    assert check.status is ResponseStatus.ECHOED and check.echoed
    assert isinstance(exchange, SamlExchange) and exchange.saml_response is None
