"""No credential in the HTTP stack's debug output: its loggers, and ``http.client``'s prints.

``requests`` and ``urllib3`` log at DEBUG the connection and the request line, not the headers;
a record can still quote what a server sent (urllib3's "Failed to parse headers"). Their loggers
get the shared in-flight scrubber (:func:`providers._scrub.install_log_scrubber`) and a filter
that redacts any ``Authorization`` value and any Negotiate token.

``http.client`` prints, with ``print()``, every request head it sends (``send: b'GET ...
Authorization: Basic ...'``) and every reply header (``header: WWW-Authenticate: Negotiate ...``)
once ``http.client.HTTPConnection.debuglevel`` is above zero, the switch that requests' own
documentation suggests for debugging. :func:`quiet_http_debug` gives the module a ``print`` of
its own (a module global shadows the builtin; http.client calls ``print`` nowhere else): the
same output, with credential values redacted, written where ``print`` would write it. The
debug output stays useful (method, path, status, every other header), and no credential of any
auth object, scheme or library reaches stdout through it.
"""

from __future__ import annotations

import builtins
import http.client
import logging
import re
import threading
from typing import Any

from providers._kerberos import _quiet_spnego_tokens
from providers._scrub import REDACTED, install_log_scrubber, remove_in_flight

HTTP_LOGGERS = (
    "requests",
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)
# A header value runs to the end of the line; in a bytes repr the line ends at "\r\n" (shown as
# a backslash) or at the closing quote. No word boundary before the name: in a repr the name
# follows the "n" of an escaped "\r\n".
_AUTHORIZATION = re.compile(r"(?i)((?:proxy-)?authorization:[ \t]*)([^\\\r\n'\"]*)")
# A token after a scheme that carries one (a Negotiate reply, a Bearer token in some text).
_SCHEME_TOKEN = re.compile(r"(?i)\b(negotiate|kerberos|ntlm|bearer)([ \t]+)[A-Za-z0-9+/._~-]{8,}=*")
_JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,3}")


def redact_http_credentials(text: str) -> str:
    """``text`` with every ``Authorization`` value (its scheme kept), every token after an
    auth scheme's name, anything shaped like a JWT, and every secret in flight redacted."""
    text = _AUTHORIZATION.sub(_keep_scheme, text)
    text = _SCHEME_TOKEN.sub(rf"\1\2{REDACTED}", text)
    return remove_in_flight(_JWT_SHAPE.sub(REDACTED, text))


def _keep_scheme(match: re.Match[str]) -> str:
    scheme, space, _ = match.group(2).partition(" ")
    shown = f"{scheme} {REDACTED}" if space and scheme.isalpha() else REDACTED
    return match.group(1) + shown


def _scrubbed_print(*args: Any, sep: str | None = " ", **kwargs: Any) -> None:
    """http.client's ``print``: the same line, credentials redacted."""
    text = (" " if sep is None else sep).join(str(arg) for arg in args)
    builtins.print(redact_http_credentials(text), **kwargs)


class _CredentialLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_http_credentials(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_filter = _CredentialLogFilter()
_lock = threading.Lock()


def quiet_http_debug() -> None:
    """Install the redaction on the HTTP loggers and on http.client's prints (idempotent)."""
    with _lock:
        install_log_scrubber(*HTTP_LOGGERS)
        for name in HTTP_LOGGERS:
            logger = logging.getLogger(name)
            if _filter not in logger.filters:
                logger.addFilter(_filter)
        _quiet_spnego_tokens()  # pyspnego logs each token it makes or reads, at DEBUG
        if vars(http.client).get("print") is not _scrubbed_print:
            setattr(http.client, "print", _scrubbed_print)  # noqa: B010  (a module global)
