"""The leak search, and the redaction rules of ``client_sdk._pynetdicom.log_redaction``, one by one.

:func:`tests.leak_search.find_leaks` is the search every secret test uses (the end-to-end matrix is
``tests/test_secret_matrix.py``). It looks for a secret raw, as UTF-8 bytes in hex (lower and
upper case, with and without spaces), in base64 (standard and URL-safe, at each of the three
alignments a secret can have inside a longer base64 text), URL-encoded (``%XX`` in either case,
form encoding, and a path's, which leaves ``/``), with JSON and ``ascii()`` escapes (how
``--json`` output shows text that is not ASCII), as a Python bytes ``repr`` (and, for a secret
given as text, as its ``str`` repr: how a password with lone surrogates shows in a traceback's
locals), in the text with all whitespace removed, and in pynetdicom's hex-dump layout: the hex
digits at the end of each line (after any log prefix) joined across lines, so a secret split
over two dump lines is
found. The first tests here prove the search finds every one of those forms.

The redaction tests feed the filters real pynetdicom output (``debug_data`` on real encoded
PDUs, the standard A-ASSOCIATE-RQ dump) through real loggers; only the event object handed to
``debug_data`` is a stand-in (it reads nothing but ``.data``).
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from pynetdicom import build_context
from pynetdicom._handlers import debug_data
from pynetdicom.events import Event
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    MaximumLengthNotification,
    UserIdentityNegotiation,
)
from pynetdicom.utils import pretty_bytes

from client_sdk._pynetdicom.log_redaction import install_pynetdicom_redaction, redacting
from client_sdk._wire.items import carries_user_identity
from tests.leak_search import dump_digits, find_leaks, planted

# --- the leak search ------------------------------------------------------------------------


def test_the_search_finds_a_secret_in_every_form() -> None:
    for secret in (b"Tr0ub4dor&3-leak-canary", bytes(range(7, 47)), "pässwörd-ü".encode()):
        texts = planted(secret)
        # In the dumps the secret really is split over lines (25 bytes a line).
        assert secret.hex() not in texts["debug_logger dump"].replace(" ", "")
        for name, text in texts.items():
            assert find_leaks(text, [secret]), f"the search missed the secret in: {name}"
        clean = "\n".join(planted(b"another value entirely, same shape").values())
        assert find_leaks(clean, [secret]) == []
    # Text that is not valid Unicode: found as Python shows it, and as the bytes it stands for.
    lone = "pw-with-a-lone-surrogate-\udcff"
    assert find_leaks(f"password = {lone!r}", [lone]) == ["secret #0 as a str repr"]
    assert "secret #0 as bytes repr" in find_leaks(repr(os.fsencode(lone)), [lone])


# --- the redaction rules --------------------------------------------------------------------

PASSWORD = b"Tr0ub4dor&3-leak-canary"
TOKEN = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWxlYWstY2FuYXJ5"


@dataclass
class _DataEvent:
    """What ``debug_data`` reads of an ``EVT_DATA_SENT``/``EVT_DATA_RECV`` event."""

    data: bytes


def _associate(identity: UserIdentityNegotiation | None, *, accept: bool = False) -> bytes:
    """A real encoded A-ASSOCIATE-RQ (or -AC), with ``identity`` as its 58H (59H) item."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "SCU"
    primitive.called_ae_title = "PACS"
    context = build_context("1.2.840.10008.1.1")
    context.context_id = 1
    if accept:
        primitive.result = 0
        context.result = 0
        context.transfer_syntax = ["1.2.840.10008.1.2"]
        primitive.presentation_context_definition_results_list = [context]
    else:
        primitive.presentation_context_definition_list = [context]
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = 16382
    class_uid = ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.3.0.4"
    primitive.user_information = [max_length, class_uid, *([identity] if identity else [])]
    pdu = A_ASSOCIATE_AC() if accept else A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return bytes(pdu.encode())


def _identity(kind: int, primary: bytes, secondary: bytes = b"") -> UserIdentityNegotiation:
    item = UserIdentityNegotiation()
    item.user_identity_type = kind
    item.primary_field = primary
    item.secondary_field = secondary
    item.positive_response_requested = True
    return item


def _response(value: bytes) -> UserIdentityNegotiation:
    item = UserIdentityNegotiation()
    item.server_response = value
    return item


def dump(pdu: bytes) -> None:
    """pynetdicom's ``debug_data`` handler, as bound to ``EVT_DATA_SENT``/``EVT_DATA_RECV``."""
    debug_data(cast(Event, _DataEvent(pdu)))


PASSWORD_RQ = _associate(_identity(2, b"alice", PASSWORD))
TOKEN_RQ = _associate(_identity(5, TOKEN))
ECHOED_AC = _associate(_response(TOKEN), accept=True)  # an echoing peer sends our token back
PLAIN_RQ = _associate(None)
PLAIN_AC = _associate(None, accept=True)
RELEASE_RQ = bytes.fromhex("05 00 00 00 00 04 00 00 00 00")


@pytest.fixture
def pynetdicom_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    install_pynetdicom_redaction()
    with caplog.at_level(logging.DEBUG, logger="pynetdicom"):
        yield caplog


def test_pdu_identity_detection() -> None:
    assert carries_user_identity(PASSWORD_RQ)
    assert carries_user_identity(TOKEN_RQ)
    assert carries_user_identity(ECHOED_AC)
    assert carries_user_identity(_associate(_response(b""), accept=True))
    assert not carries_user_identity(PLAIN_RQ)
    assert not carries_user_identity(PLAIN_AC)
    assert not carries_user_identity(RELEASE_RQ)
    assert not carries_user_identity(b"")
    # Fail closed: an RQ that does not parse cleanly counts as carrying one.
    assert carries_user_identity(PLAIN_RQ[:-3])
    assert carries_user_identity(PLAIN_RQ + b"\x00")
    assert carries_user_identity(PLAIN_RQ[:40])


def test_identity_pdu_dumps_withheld_without_a_secret_in_flight(
    pynetdicom_logs: pytest.LogCaptureFixture,
) -> None:
    """A PACS (or any process) that receives someone else's identity registered no secret: the
    PDU rule alone keeps it out of the ``debug_data`` dump, whoever sent the PDU."""
    for pdu in (PASSWORD_RQ, TOKEN_RQ, ECHOED_AC):
        dump(pdu)
    text = pynetdicom_logs.text
    assert find_leaks(text, [PASSWORD, TOKEN]) == []
    assert text.count("withheld: it may carry a user identity") == 3
    assert f"{len(PASSWORD_RQ)}-byte A-ASSOCIATE-RQ withheld" in text
    assert f"{len(ECHOED_AC)}-byte A-ASSOCIATE-AC withheld" in text
    assert text.count("END ENCODED PDU") == 3


def test_other_pdu_dumps_pass_unchanged(pynetdicom_logs: pytest.LogCaptureFixture) -> None:
    for pdu in (PLAIN_RQ, PLAIN_AC, RELEASE_RQ):
        dump(pdu)
    digits = dump_digits(pynetdicom_logs.text)
    for pdu in (PLAIN_RQ, PLAIN_AC, RELEASE_RQ):
        assert pdu.hex() in digits
    assert "withheld" not in pynetdicom_logs.text
    # Each dump still sits between its own frame lines, in order.
    messages = [r.getMessage() for r in pynetdicom_logs.records]
    assert messages.index(pretty_bytes(RELEASE_RQ, " ", " ", 25, None)[0]) > messages.index(
        pretty_bytes(PLAIN_AC, " ", " ", 25, None)[0]
    )


def test_concurrent_dumps_are_held_per_thread(pynetdicom_logs: pytest.LogCaptureFixture) -> None:
    """Each association's thread dumps its own PDUs: two at once must not mix their held lines."""
    start = threading.Barrier(4)

    def dump_many(pdu: bytes) -> None:
        start.wait(10)
        for _ in range(20):
            dump(pdu)

    threads = [
        threading.Thread(target=dump_many, args=(pdu,))
        for pdu in (PASSWORD_RQ, TOKEN_RQ, PLAIN_AC, RELEASE_RQ)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    text = pynetdicom_logs.text
    assert find_leaks(text, [PASSWORD, TOKEN]) == []
    assert text.count("withheld") == 40
    assert dump_digits(text).count(RELEASE_RQ.hex()) == 20


def test_password_line_rule_without_a_secret_in_flight(
    pynetdicom_logs: pytest.LogCaptureFixture,
) -> None:
    """pynetdicom's standard A-ASSOCIATE-RQ dump, as the receiving side logs it."""
    from pynetdicom._handlers import _receive_associate_rq

    rq = A_ASSOCIATE_RQ()
    rq.decode(PASSWORD_RQ)
    _receive_associate_rq(cast(Event, _PduEvent(rq)))
    assert "Password: [redacted]" in pynetdicom_logs.text
    assert "Username: [alice]" in pynetdicom_logs.text
    assert find_leaks(pynetdicom_logs.text, [PASSWORD]) == []


@dataclass
class _PduEvent:
    """What pynetdicom's standard A-ASSOCIATE-RQ handler reads of an ``EVT_PDU_RECV`` event."""

    pdu: Any


def test_registered_secrets_scrubbed_from_any_pynetdicom_record(
    pynetdicom_logs: pytest.LogCaptureFixture,
) -> None:
    secret = b"s3cr3t-token-value"
    log: Callable[..., None] = logging.getLogger("pynetdicom.dul").debug
    with redacting([secret]):
        log("raw %s", secret.decode())
        log("hex %s", secret.hex(" "))
        log("b64 %s", base64.b64encode(secret).decode())
        log("bytes %r", secret)
        # A hex dump that is not framed like debug_data's: every line goes while in flight.
        dump = pretty_bytes(
            b"\x01\x00" + secret + b"\x00",
            prefix=" ",
            delimiter=" ",
            max_size=None,
            items_per_line=7,
        )
        for line in dump:
            log(line)
        try:
            raise ValueError(f"bad {secret.decode()}")
        except ValueError:
            logging.getLogger("pynetdicom.acse").exception("failed")
    text = pynetdicom_logs.text
    assert text.count("[redacted]") >= 5
    assert text.count("hex dump line redacted") == len(dump) == 3
    assert find_leaks(text, [secret]) == []
    # Outside the block, nothing is registered any more.
    log("after %s", secret.decode())
    assert "secret #0 as raw" in find_leaks(pynetdicom_logs.text, [secret])
