"""One scrubber for text that may hold a secret: what an outside server says, and log records.

:func:`server_text` is the only way text from a server (a token endpoint's reason phrase,
``Location``, JSON keys and fields, an error of the HTTP stack that quotes the server's bytes)
reaches an exception, a log line or the CLI: it removes every secret in flight in every
encoding, makes the text one printable line, and cuts it short.

The secrets in flight are the ones the caller names (the client secret, the tokens of the
exchange) and every secret registered with :func:`in_flight` at that moment (``client_sdk``
registers an association's credentials while it is negotiated, and scrubs pynetdicom's records
with :func:`remove_in_flight`). The forms searched for each secret:

* raw (UTF-8, and its Latin-1 reading, as ``http.client`` decodes headers), mixed freely with
  form/URL-encoding (``%XX`` in either case, ``+`` for a space), character by character;
* ``repr``/``ascii``/JSON escapes of the text and the bytes;
* hex, lower or upper case, with or without one space or colon between bytes;
* base64 and base64url, with and without padding, and the part that is the same whatever
  surrounds the secret at each of the three alignments inside a longer base64 text.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from providers._secret import Secret

REDACTED = "[redacted]"
SHOWN_LENGTH = 200  # characters of server text in a message
# A JWT or JWE ('{"' is "eyJ" in base64url), known or not: a server may put a token where it
# is not read as one (a body read as a status line), so it is not in the secrets in flight.
_TOKEN_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,3}")
_MIN_BASE64_PART = 6  # a shorter base64 fragment at an offset would match ordinary text
_ELLIPSIS = "..."

SecretLike = Secret | bytes | str


def _secret_bytes(secret: SecretLike) -> bytes:
    if isinstance(secret, Secret):
        return secret.reveal()
    return secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret


def _hex_digit(digit: str) -> str:
    return f"[{digit.lower()}{digit.upper()}]" if digit.isalpha() else digit


def _percent(data: bytes) -> str:
    """``%XX`` for each byte, either case."""
    return "".join("%" + "".join(_hex_digit(d) for d in f"{b:02x}") for b in data)


def _character(char: str) -> str:
    """A regex for one character of a secret: itself, its %-encoded UTF-8 bytes, its UTF-8
    bytes read as Latin-1, ``+`` for a space."""
    encoded = char.encode("utf-8", "surrogatepass")
    options = [re.escape(char), _percent(encoded)]
    if len(encoded) > 1:
        options.append(re.escape(encoded.decode("latin-1")))
    if char == " ":
        options.append(r"\+")
    return "(?:" + "|".join(options) + ")"


def _base64_forms(secret: bytes) -> set[str]:
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(secret).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for offset in (0, 1, 2):
            # Only characters made of secret bits alone: the same whatever is around it.
            encoded = encode(b"\0" * offset + secret + b"\0\0").decode("ascii")
            first = -(-8 * offset // 6)
            last = 8 * (offset + len(secret)) // 6
            part = encoded[first:last]
            if len(part) >= _MIN_BASE64_PART:
                forms.add(part)
    return forms


def _literal_forms(secret: bytes) -> set[str]:
    latin = secret.decode("latin-1")
    forms = {latin, repr(latin)[1:-1], repr(secret)[2:-1]} | _base64_forms(secret)
    with contextlib.suppress(UnicodeDecodeError):
        text = secret.decode("utf-8")
        forms |= {text, repr(text)[1:-1], ascii(text)[1:-1], json.dumps(text)[1:-1]}
    return {form for form in forms if form}


class _Forms(NamedTuple):
    patterns: list[re.Pattern[str]]  # longest first
    literals: list[str]  # longest first, so that a form holding another is replaced whole
    margin: int  # the longest text one occurrence can take


def _forms_of(values: tuple[bytes, ...]) -> _Forms:
    literals: set[str] = set()
    patterns = []
    margin = 0
    for value in values:
        text = value.decode("utf-8", "surrogateescape")
        patterns.append("".join(_character(c) for c in text))
        patterns.append(r"[\s:]?".join(_percent(bytes([b]))[1:] for b in value))  # hex
        literals |= _literal_forms(value)
        margin = max(margin, 9 * len(text), 3 * len(value))
    return _Forms(
        [re.compile(p) for p in sorted(patterns, key=len, reverse=True)],
        sorted(literals, key=len, reverse=True),
        max([margin, *map(len, literals)]),
    )


class SecretForms:
    """Every textual form of some secrets, compiled once; :meth:`remove` replaces each
    occurrence with ``[redacted]``. Its ``repr`` shows nothing of them.

    The forms are made at the first use, not here: one is registered per association, and a
    Kerberos token's take about 25 ms to make (5 for the literal forms, 20 to compile the
    patterns), for a registration that most associations never use."""

    __slots__ = ("_forms", "_values")

    def __init__(self, secrets: Iterable[SecretLike | None]) -> None:
        values = (_secret_bytes(secret) if secret is not None else b"" for secret in secrets)
        self._values = tuple(value for value in values if value)
        self._forms: _Forms | None = None

    def __repr__(self) -> str:
        return "SecretForms(...)"

    def __bool__(self) -> bool:
        return bool(self._values)

    def _made(self) -> _Forms:
        forms = self._forms
        if forms is None:  # two threads may both make them: the same result, kept once
            forms = self._forms = _forms_of(self._values)
        return forms

    @property
    def margin(self) -> int:
        """The longest text one occurrence of a secret can take, in any of its forms."""
        return self._made().margin

    def remove(self, text: str) -> str:
        forms = self._made()
        for pattern in forms.patterns:
            text = pattern.sub(REDACTED, text)
        for form in forms.literals:
            if form in text:
                text = text.replace(form, REDACTED)
        return text


# The registry of secrets in flight ---------------------------------------------------------

_lock = threading.Lock()
_active: dict[int, SecretForms] = {}
_ids = itertools.count()


class InFlight:
    """One registration of secrets in flight, kept until :meth:`close` (idempotent, any
    thread): ``client_sdk`` keeps an association's secrets registered for the association's
    whole life, since a peer may send them back in any DIMSE message. Its ``repr`` shows
    nothing of them."""

    __slots__ = ("_key",)

    def __init__(self, secrets: Iterable[SecretLike | None]) -> None:
        forms = SecretForms(secrets)
        with _lock:
            self._key = next(_ids)
            _active[self._key] = forms

    def __repr__(self) -> str:
        return "InFlight(...)"

    def close(self) -> None:
        with _lock:
            _active.pop(self._key, None)


@contextlib.contextmanager
def in_flight(secrets: Iterable[SecretLike | None]) -> Iterator[None]:
    """While the block runs, :func:`server_text` and :func:`remove_in_flight` (in any thread)
    remove ``secrets`` too."""
    registration = InFlight(secrets)
    try:
        yield
    finally:
        registration.close()


def any_in_flight() -> bool:
    """True while some registration holds a secret (an association without one holds none)."""
    with _lock:
        return any(_active.values())


def remove_in_flight(text: str) -> str:
    """``text`` without any registered secret in flight."""
    with _lock:
        registered = list(_active.values())
    for forms in registered:
        text = forms.remove(text)
    return text


class _InFlightLogScrubber(logging.Filter):
    """Removes every secret in flight, and anything shaped like a JWT, from a record's message
    and traceback text (a library's log line can quote what a server sent, as urllib3's "Failed
    to parse headers" does)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _scrubbed(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = _scrubbed(text), None
        elif record.exc_text:
            record.exc_text = _scrubbed(record.exc_text)
        return True


def _scrubbed(text: str) -> str:
    return _TOKEN_SHAPE.sub(REDACTED, remove_in_flight(text))


_log_scrubber = _InFlightLogScrubber()


def install_log_scrubber(*names: str) -> None:
    """Scrub the records of these loggers (idempotent). The filter
    goes on each logger that creates records: a parent's filters skip propagated records."""
    for name in names:
        logger = logging.getLogger(name)
        if _log_scrubber not in logger.filters:
            logger.addFilter(_log_scrubber)


# Server text ---------------------------------------------------------------------------------


def printable_line(text: str) -> str:
    """Every character that is not printable (controls, line and paragraph separators, format
    characters such as bidirectional overrides) replaced by a space: one line that cannot forge
    another."""
    return "".join(c if c.isprintable() else " " for c in text)


def server_text(
    text: object, secrets: Iterable[SecretLike | None] = (), *, limit: int = SHOWN_LENGTH
) -> str:
    """What an outside server said, fit for a message or a log: without ``secrets`` nor any
    secret in flight (every encoding) nor anything shaped like a JWT, one printable line, at
    most ``limit`` characters."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = str(text)
    given = SecretForms(secrets)
    with _lock:
        every = [given, *_active.values()]
    # Cut before scrubbing (a megabyte of text costs), but keep whole any occurrence that
    # starts within the limit.
    text = text[: limit + max(forms.margin for forms in every)]
    for forms in every:
        text = forms.remove(text)
    text = printable_line(_TOKEN_SHAPE.sub(REDACTED, text))
    return text if len(text) <= limit else text[: max(limit - len(_ELLIPSIS), 0)] + _ELLIPSIS
