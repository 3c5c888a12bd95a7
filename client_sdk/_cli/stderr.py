"""What ``dicom-identity`` lets reach stderr besides its one error line.

Without ``--debug``: the SDK's own warnings and errors (``client_sdk.*``, ``providers.*`` at
WARNING or above), one line each, never a traceback. Every other logger (pynetdicom's ERROR lines
and the tracebacks it logs with ``LOGGER.exception``, pydicom's, Python warnings) is routed
nowhere below CRITICAL: the SDK turns what they report into its own error, whose line says it
better. An exception that ends one of pynetdicom's threads (its reactor sending an A-ABORT on a
socket the peer already closed) is not printed either: the SDK sees the association end and
reports that.

With ``--debug``: everything at DEBUG, tracebacks included, pynetdicom's records redacted.

The filters sit on the stderr handler, not on the loggers: records are still created, so the
SDK's own uses of pynetdicom's records (redaction, fault detection) see them as before.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

_SDK_LOGGERS = ("client_sdk", "providers")
_DEBUG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def configure_stderr(*, debug: bool, stream: TextIO | None = None) -> None:
    """Set up the root logger's stderr handler (once per process: the command line's)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    root = logging.getLogger()
    logging.captureWarnings(True)  # Python warnings (pydicom's) become records of py.warnings
    if debug:
        from client_sdk._pynetdicom.log_redaction import install_pynetdicom_redaction

        install_pynetdicom_redaction()
        handler.setFormatter(logging.Formatter(_DEBUG_FORMAT))
        root.setLevel(logging.DEBUG)
    else:
        handler.addFilter(_sdk_or_critical)
        handler.setFormatter(_OneLine())
        root.setLevel(logging.WARNING)
        threading.excepthook = _quiet_thread_end
    root.addHandler(handler)


def _sdk_or_critical(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.CRITICAL:
        return True
    ours = record.name.partition(".")[0] in _SDK_LOGGERS
    return ours and record.levelno >= logging.WARNING


class _OneLine(logging.Formatter):
    """``dicom-identity: warning: TEXT``, on one line; the traceback of ``exc_info`` is left out
    (``--debug`` shows it)."""

    def format(self, record: logging.LogRecord) -> str:
        text = " ".join(record.getMessage().splitlines())
        return f"dicom-identity: {record.levelname.lower()}: {text}"


def _quiet_thread_end(args: threading.ExceptHookArgs) -> None:
    """A thread of pynetdicom's that ends on an exception: nothing printed (the SDK reports the
    association's end); any other thread's: one line, its type only (its message is unknown
    text)."""
    if args.exc_type is SystemExit:
        return
    thread = args.thread
    if thread is not None and type(thread).__module__.startswith("pynetdicom"):
        logging.getLogger(__name__).debug(
            "pynetdicom thread %s ended on %s", thread.name, args.exc_type.__name__
        )
        return
    name = thread.name if thread is not None else "?"
    print(
        f"dicom-identity: error: thread {name} ended on {args.exc_type.__name__} "
        "(--debug shows the traceback)",
        file=sys.stderr,
    )
