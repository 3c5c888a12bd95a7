"""The leak search every secret test uses: each textual form a secret can take (raw, hex, base64 at
each alignment, URL and JSON escapes, reprs, pynetdicom's hex dumps) and where it shows up in a
text.

The tests that prove the search finds every form are in ``tests/test_secret_leaks.py``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator

from pynetdicom.utils import pretty_bytes

_HEX_TOKEN = re.compile(r"^[0-9a-fA-F]{2}$")


_MIN_FORM = 8  # shorter base64 fragments would match by chance


def _b64_cores(secret: bytes, encode: Callable[[bytes], bytes]) -> Iterator[tuple[str, str]]:
    """What must appear when ``secret`` sits in a longer base64 text, at each alignment: the
    characters of the 3-byte groups made of secret bytes only."""
    for offset in (0, 1, 2):
        encoded = encode(b"\0" * offset + secret).decode()
        first = 1 if offset else 0
        last = (offset + len(secret)) // 3
        core = encoded[first * 4 : last * 4]
        if len(core) >= _MIN_FORM:
            yield f"base64 at offset {offset}", core


def secret_forms(secret: bytes) -> dict[str, str]:
    """Every textual form of ``secret`` the search looks for, by name."""
    forms = {
        "hex": secret.hex(),
        "HEX": secret.hex().upper(),
        "spaced hex": secret.hex(" "),
        "spaced HEX": secret.hex(" ").upper(),
        "bytes repr": repr(secret)[2:-1],
        "latin-1": secret.decode("latin-1"),
        "url-encoded": urllib.parse.quote(secret, safe=""),
        "form-encoded": urllib.parse.quote_plus(secret, safe=""),
        "url-encoded path": urllib.parse.quote(secret),  # "/" left as it is
    }
    for name in ("url-encoded", "form-encoded", "url-encoded path"):  # %xx in lower case too
        forms[f"{name}, lower case"] = re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), forms[name])
    with contextlib.suppress(UnicodeDecodeError):
        text = secret.decode("utf-8")
        forms["raw"] = text
        # How JSON output (--json, a report file) and ascii() show a text that is not ASCII.
        forms["JSON escapes"] = json.dumps(text)[1:-1]
        forms["ascii escapes"] = ascii(text)[1:-1]
    for name, core in _b64_cores(secret, base64.b64encode):
        forms[name] = core
    for name, core in _b64_cores(secret, base64.urlsafe_b64encode):
        forms[f"url-safe {name}"] = core
    return {name: form for name, form in forms.items() if form}


def dump_digits(text: str) -> str:
    """The hex digits of every hex-dump line of ``text``, joined: the trailing run of two-digit
    tokens of each line, after whatever prefix a log format put in front of it."""
    runs = []
    for line in text.splitlines():
        tokens = line.split()
        run: list[str] = []
        while tokens and _HEX_TOKEN.match(tokens[-1]):
            run.insert(0, tokens.pop())
        runs.append("".join(run))
    return "".join(runs).lower()


def find_leaks(text: str, secrets: Iterable[bytes | str]) -> list[str]:
    """Which secrets appear in ``text``, and in which form (an empty list: none)."""
    digits = dump_digits(text)
    squeezed = "".join(text.split())
    found = []
    for index, value in enumerate(secrets):
        # A text secret that is not valid Unicode (lone surrogates) is searched as the bytes it
        # stands for (os.fsencode's) and as Python shows the text itself.
        secret = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
        if not secret:
            continue
        if isinstance(value, str) and repr(value)[1:-1] in text:
            found.append(f"secret #{index} as a str repr")
        for name, form in secret_forms(secret).items():
            if form in text:
                found.append(f"secret #{index} as {name}")
        if secret.hex() in digits:
            found.append(f"secret #{index} in a hex dump")
        if secret.hex() in squeezed.lower():
            found.append(f"secret #{index} as hex with whitespace in it")
    return found


def planted(secret: bytes) -> dict[str, str]:
    """Texts that each hold ``secret`` in one form (the control of the search)."""
    filler = b"14 bytes ahead"  # the secret starts 5 bytes before the end of a dump line
    pdu = b"\x01\x00\x00\x00\x01\x00" + filler + secret + b" and after"
    dump = pretty_bytes(pdu, prefix=" ", delimiter=" ", max_size=None, items_per_line=25)
    texts = {
        f"log line with {name}": f"D: something {form} something"
        for name, form in secret_forms(secret).items()
    }
    for offset in (0, 1, 2):
        blob = base64.b64encode(b"x" * offset + secret + b"tail").decode()
        texts[f"base64 blob, offset {offset}"] = f"token={blob}"
    texts["debug_logger dump"] = "\n".join(f"D: {line}" for line in dump)
    texts["caplog dump"] = "\n".join(
        f"DEBUG    pynetdicom._handlers:_handlers.py:103 {line}" for line in dump
    )
    texts["bare dump"] = "\n".join(dump)
    return texts
