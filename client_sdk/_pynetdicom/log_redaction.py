"""Keep secrets out of pynetdicom's logs (and pydicom's warnings).

pynetdicom prints ``Password: [...]`` in its A-ASSOCIATE-RQ dump on ``pynetdicom._handlers``, and
its opt-in ``debug_data`` handler hex-dumps whole PDUs, identity items included. Once the
association is established it logs each C-FIND identifier a peer sends (INFO) and dumps each
P-DATA PDU, where a hostile peer may put our own passcode or token back; pydicom warns about a
value that breaks its VR by quoting it. Three layers stop that, in every process that installed
them (a client, the embedded PACS, or both):

1. A line rule: any pynetdicom record that is a password line is rewritten, whoever sent it
   (this also covers the embedded PACS receiving a password from DCMTK's storescu).
2. A PDU rule: the lines of a ``debug_data`` hex dump are held back until the dump ends; the dump
   of a PDU that carries a user identity item (58H in an A-ASSOCIATE-RQ, 59H in an -AC, where an
   echoing peer puts our own token) is replaced by one line, whoever sent or received it. Other
   The dump of any PDU whose bytes hold a secret in flight in any form (a P-DATA-TF whose
   identifier or Error Comment quotes our passcode) is replaced by one line too: in a dump a
   secret spans lines and bytes are spaced, so no line-by-line scrub could find it. Other PDUs
   are dumped as they were. A dump that cannot be parsed is withheld (fail closed).
3. A registry of the secrets in flight (:func:`providers._scrub.InFlight`, here
   ``ScrubbedSecrets``): from the A-ASSOCIATE-RQ until the association is released or aborted
   (the Session holds the registration), every record of the pynetdicom and pydicom loggers (and
   of ``py.warnings``, where Python warnings go once ``logging.captureWarnings`` is on) is
   scrubbed of each secret in every form :mod:`providers._scrub` knows (raw, URL-encoded, hex,
   base64, ``repr``), and a hex-dump-looking line outside a dump is dropped whole. Python's
   warnings (pydicom ``warnings.warn``s the values it also logs) are formatted scrubbed too.

The filters sit on the loggers that create the records: a filter on the parent ``pynetdicom``
logger would not see records propagated from ``pynetdicom._handlers``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pynetdicom  # noqa: F401  (its modules create their loggers on import)

from client_sdk._wire.constants import A_ASSOCIATE_AC, A_ASSOCIATE_RQ, PDU_NAMES
from client_sdk._wire.items import carries_user_identity
from providers._scrub import (
    REDACTED,
    InFlight,
    any_in_flight,
    in_flight,
    printable_line,
    remove_in_flight,
)

# For an association's whole life: the secrets this scrubber removes (providers._scrub).
ScrubbedSecrets = InFlight
# The same for the length of a block.
redacting = in_flight

_PASSWORD_LINE = re.compile(r"^(\s*Password:\s*)\[.*\]\s*$", re.DOTALL)
# A line of pynetdicom's ``debug_data`` PDU hex dump (25 bytes a line): a secret may straddle two.
_HEX_DUMP_LINE = re.compile(r"^\s*(?:[0-9a-fA-F]{2}\s+)*[0-9a-fA-F]{2}\s*$")
HEX_DUMP_REDACTED = " [hex dump line redacted: a user identity is being negotiated]"

# ``pynetdicom._handlers.debug_data`` frames each dump with these two lines, on this logger.
_DUMP_LOGGER = "pynetdicom._handlers"
_DUMP_START = "DEBUG - ENCODED PDU"
_DUMP_END = "END ENCODED PDU"

_WITHHELD_WHY = "it may carry a user identity"
_WITHHELD_SECRET = "it holds a secret of an association in flight"
# pydicom warns on its logger (and with ``warnings``) quoting a value a peer sent.
_OTHER_LOGGERS = ("pydicom", "py.warnings")
_A_ASSOCIATE = {kind: PDU_NAMES[kind] for kind in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC)}

_lock = threading.Lock()
_installed = False


def scrub(text: str) -> str:
    """Remove every secret in flight from ``text`` (:mod:`providers._scrub`, which also scrubs
    what a token endpoint says); while any is in flight, a hex-dump line is dropped whole."""
    if any_in_flight() and _HEX_DUMP_LINE.match(text):
        return HEX_DUMP_REDACTED
    return remove_in_flight(text)


class _PendingDump(threading.local):
    """The ``debug_data`` dump in progress on this thread (each association's DUL thread logs
    its own PDUs, line after line): its hex lines wait here until the dump ends."""

    def __init__(self) -> None:
        self.lines: list[logging.LogRecord] | None = None


class SecretScrubber(logging.Filter):
    """Rewrites a record so that no password line, no identity PDU dump and no secret in flight
    survives."""

    def __init__(self) -> None:
        super().__init__()
        self._dump = _PendingDump()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name == _DUMP_LOGGER and not self._dump_rule(record, message):
            return False
        self._clean(record, message)
        return True

    def _clean(self, record: logging.LogRecord, message: str) -> None:
        cleaned = _PASSWORD_LINE.sub(rf"\1{REDACTED}", message)
        cleaned = scrub(cleaned)
        if record.name.startswith("pynetdicom"):
            # pynetdicom logs one line a record: a control character (a newline in a peer's
            # value, forging a line of output) can only come from a peer.
            cleaned = printable_line(cleaned)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub(text), None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)

    def _dump_rule(self, record: logging.LogRecord, message: str) -> bool:
        """False: the record is held back (a line of a dump in progress)."""
        held = self._dump.lines
        if held is not None and _HEX_DUMP_LINE.match(message):
            held.append(record)
            return False
        if held is not None:
            # The end of the dump (or anything else, which ends it too): decide, then let go.
            self._dump.lines = None
            self._release(record, held)
        if _DUMP_START in message:
            # Its frame line waits too, so that the dump comes out in one piece even when
            # another association's thread dumps at the same time.
            self._dump.lines = [record]
            return False
        return True

    def _release(self, closing: logging.LogRecord, held: list[logging.LogRecord]) -> None:
        start, lines = held[0], held[1:]
        try:
            pdu = bytes.fromhex("".join("".join(r.getMessage().split()) for r in lines))
        except ValueError:
            pdu = b"\x01"  # cannot happen for lines the pattern matched; withheld if it does
        why = _WITHHELD_WHY if carries_user_identity(pdu) else None
        if why is None and _holds_secret(pdu):
            why = _WITHHELD_SECRET
        if why is not None:
            kind = (_A_ASSOCIATE if why == _WITHHELD_WHY else PDU_NAMES).get(
                pdu[0] if pdu else -1, "PDU"
            )
            notice = logging.makeLogRecord(closing.__dict__)
            notice.msg = f" [hex dump of a {len(pdu)}-byte {kind} withheld: {why}]"
            notice.args, notice.exc_info, notice.exc_text = (), None, None
            lines = [notice]
        logger = logging.getLogger(closing.name)
        self._clean(start, start.getMessage())
        for line in (start, *lines):
            # The hex lines of a dump found clean go as they are (scrub() would drop each).
            # Each record passed the logger's level check when it was made.
            logger.callHandlers(line)


def _holds_secret(pdu: bytes) -> bool:
    """Whether the PDU's bytes hold a secret in flight, in any form the scrubber knows (raw,
    hex, base64, URL-encoded... as a peer may write it into a value)."""
    if not any_in_flight():
        return False
    text = pdu.decode("latin-1")
    return remove_in_flight(text) != text


_scrubber = SecretScrubber()


def _scrubbing_formatwarning(
    format_warning: Callable[..., str],
) -> Callable[..., str]:
    """``warnings.formatwarning`` scrubbed of the secrets in flight: pydicom ``warnings.warn``s
    the value a peer sent (``Invalid value for VR UI: '...'``) besides logging it, and Python
    prints that warning on stderr (or hands it to ``py.warnings``) through this function."""

    @functools.wraps(format_warning)
    def formatwarning(*args: Any, **kwargs: Any) -> str:
        return remove_in_flight(format_warning(*args, **kwargs))

    formatwarning.scrubs_secrets = True  # type: ignore[attr-defined]
    return formatwarning


def install_pynetdicom_redaction() -> None:
    """Put the scrubber on every pynetdicom logger, pydicom's and ``py.warnings``, and around
    ``warnings.formatwarning`` (idempotent, thread-safe)."""
    global _installed
    with _lock:
        if _installed:
            return
        names = [
            name
            for name in list(logging.Logger.manager.loggerDict)
            if name == "pynetdicom" or name.startswith("pynetdicom.")
        ]
        for name in {"pynetdicom", _DUMP_LOGGER, *names, *_OTHER_LOGGERS}:
            logger = logging.getLogger(name)
            if _scrubber not in logger.filters:
                logger.addFilter(_scrubber)
        if not getattr(warnings.formatwarning, "scrubs_secrets", False):
            warnings.formatwarning = _scrubbing_formatwarning(warnings.formatwarning)
        _installed = True
