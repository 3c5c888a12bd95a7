"""Keep secrets out of pynetdicom's logs.

pynetdicom prints ``Password: [...]`` in its A-ASSOCIATE-RQ dump on ``pynetdicom._handlers`` and
may log other text holding identity fields. Two layers stop that:

1. A line rule: any pynetdicom record that is a password line is rewritten, whoever sent it
   (this also covers the embedded PACS receiving a password from DCMTK's storescu).
2. A registry of the secrets in flight: while an association is being negotiated, every record of
   the pynetdicom loggers is scrubbed of each secret in its raw, hex, base64 and ``repr`` forms,
   and every line of a ``debug_data`` hex dump is dropped whole (a secret may straddle two lines).

The filters sit on the loggers that create the records: a filter on the parent ``pynetdicom``
logger would not see records propagated from ``pynetdicom._handlers``.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import re
import threading
from collections.abc import Iterable, Iterator

import pynetdicom  # noqa: F401  (its modules create their loggers on import)

__all__ = ["REDACTED", "SecretScrubber", "install_pynetdicom_redaction", "redacting", "scrub"]

REDACTED = "[redacted]"
_PASSWORD_LINE = re.compile(r"^(\s*Password:\s*)\[.*\]\s*$", re.DOTALL)
# A line of pynetdicom's ``debug_data`` PDU hex dump (25 bytes a line): a secret may straddle two.
_HEX_DUMP_LINE = re.compile(r"^\s*(?:[0-9a-fA-F]{2}\s+)*[0-9a-fA-F]{2}\s*$")
HEX_DUMP_REDACTED = " [hex dump line redacted: a user identity is being negotiated]"

_lock = threading.Lock()
_active: dict[int, tuple[str, ...]] = {}
_ids = itertools.count()
_installed = False


def _forms(secret: bytes) -> set[str]:
    """Every textual shape in which ``secret`` could reach a log line."""
    forms = {
        secret.hex(),
        secret.hex().upper(),
        secret.hex(" "),
        secret.hex(" ").upper(),
        base64.b64encode(secret).decode(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1],
    }
    with contextlib.suppress(UnicodeDecodeError):
        forms.add(secret.decode("utf-8"))
    forms.add(secret.decode("latin-1"))
    return {f for f in forms if f}


@contextlib.contextmanager
def redacting(secrets: Iterable[bytes]) -> Iterator[None]:
    """Scrub ``secrets`` from pynetdicom's records while the block runs (any thread)."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= _forms(secret)
    # Longest first, so a secret that contains another is replaced whole.
    ordered = tuple(sorted(forms, key=len, reverse=True))
    with _lock:
        key = next(_ids)
        _active[key] = ordered
    try:
        yield
    finally:
        with _lock:
            del _active[key]


def scrub(text: str) -> str:
    """Remove every secret in flight from ``text``."""
    with _lock:
        groups = list(_active.values())
    if groups and _HEX_DUMP_LINE.match(text):
        return HEX_DUMP_REDACTED
    for forms in groups:
        for form in forms:
            if form in text:
                text = text.replace(form, REDACTED)
    return text


class SecretScrubber(logging.Filter):
    """Rewrites a record so that no password line and no secret in flight survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _PASSWORD_LINE.sub(rf"\1{REDACTED}", message)
        cleaned = scrub(cleaned)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub(text), None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


_scrubber = SecretScrubber()


def install_pynetdicom_redaction() -> None:
    """Put the scrubber on every pynetdicom logger (idempotent, thread-safe)."""
    global _installed
    with _lock:
        if _installed:
            return
        names = [
            name
            for name in list(logging.Logger.manager.loggerDict)
            if name == "pynetdicom" or name.startswith("pynetdicom.")
        ]
        for name in {"pynetdicom", "pynetdicom._handlers", *names}:
            logger = logging.getLogger(name)
            if _scrubber not in logger.filters:
                logger.addFilter(_scrubber)
        _installed = True
