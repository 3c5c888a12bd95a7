"""Values read from outside (a file, a keyring, a ticket cache), made safe to put in a message.

A token file's claim, an XML tag or a library's error text can be megabytes long, nested a
thousand levels deep (plain ``repr`` then raises ``RecursionError``), or hold a newline that
forges a second log line. :func:`quoted` shows any value as one line of printable text of bounded
length; :func:`label` does the same for a name shown unquoted (a principal, an issuer).
"""

from __future__ import annotations

import reprlib

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 200


def quoted(value: object, limit: int = 80) -> str:
    """``repr``-style text of ``value``: one line, printable, at most ``limit`` characters."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a __repr__ of a foreign object that fails
        text = f"<{type(value).__name__}>"
    return _cut(_printable(text), limit)


def label(text: str, limit: int = 200) -> str:
    """``text`` unquoted, with anything not printable escaped (``\\n``, ``\\x00``), cut."""
    return _cut(_printable(text), limit)


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."
