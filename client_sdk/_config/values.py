"""Checks for single configuration values: each returns the value (converted) or raises Invalid."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from providers._misplaced_secret import refuse_misplaced_secret

AE_TITLE_LENGTH = 16
_SHOWN_LENGTH = 40
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


class Invalid(ValueError):
    """A value that does not fit; the message says what is expected and what came."""


Check = Callable[[Any], Any]


def show(value: object) -> str:
    """A value as TOML writes it, shortened: for messages (the file never holds a secret)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if len(value) > _SHOWN_LENGTH:
            value = value[: _SHOWN_LENGTH - 3] + "..."
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "an array" if value else "an empty array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def dotted(parts: Sequence[str | int]) -> str:
    """A TOML dotted key: bare parts as they are, others quoted, array indexes in brackets
    (``identities."a.b".identities[1]``)."""
    key = ""
    for part in parts:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            bare = _BARE_KEY.fullmatch(part) is not None
            key += ("." if key else "") + (part if bare else json.dumps(part, ensure_ascii=False))
    return key


def text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"must be a non-empty string, got {show(value)}")
    return value


def ae_title(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid(f"must be an AE title (a string of 1-16 characters), got {show(value)}")
    title = value.strip()
    if not title:
        raise Invalid("must be an AE title of 1-16 characters, got an empty string")
    if len(title) > AE_TITLE_LENGTH:
        raise Invalid(
            f"must be an AE title of at most 16 characters, got {show(value)} ({len(title)})"
        )
    if not title.isascii():
        raise Invalid(
            "must be an AE title of ASCII characters (DICOM's default character repertoire), "
            f"got {show(value)}"
        )
    if "\\" in title or any(ord(c) < 0x20 or ord(c) == 0x7F for c in title):
        raise Invalid(
            f"must be an AE title without backslashes or control characters, got {show(value)}"
        )
    return title


def host(value: object) -> str:
    """A host name or IP address, as the socket takes it: no port, scheme, path or brackets."""
    name = text(value)
    refuse_misplaced_secret(name, "the value", error=Invalid, address=True)  # alice:pw@pacs
    if any(c.isspace() for c in name) or "/" in name or name.startswith("["):
        raise Invalid(
            "must be a host name or IP address alone (no scheme, path, brackets or spaces), "
            f"got {show(value)}"
        )
    if ":" in name:
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise Invalid(
                f"must be a host name or IP address without a port (it goes in port = ...), "
                f"got {show(value)}"
            ) from None
    return name


def username(value: object) -> str:
    """A username alone: ``USER:PASSWORD`` typed as one is refused, the password masked."""
    name = text(value)
    refuse_misplaced_secret(name, "the value", error=Invalid, username=True)
    return name


def port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise Invalid(f"must be an integer 1-65535, got {show(value)}")
    return value


def seconds(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise Invalid(f"must be a positive number of seconds, got {show(value)}")
    return float(value)


def leeway(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise Invalid(f"must be a number of seconds (0 or more), got {show(value)}")
    return float(value)


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"must be true or false, got {show(value)}")
    return value


def one_of(*choices: str) -> Check:
    listed = ", ".join(choices)

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            raise Invalid(f"must be one of {listed}; got {show(value)}")
        return value

    return check


def names(value: object) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise Invalid(f"must be a non-empty array of names, got {show(value)}")
    return tuple(value)


def keyring_entry(value: object) -> tuple[str, str]:
    """``[SERVICE, USER]``: where a secret lives in the keyring. A string in its place is not
    shown (it may be the secret itself, written here by mistake)."""
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        got = "a string" if isinstance(value, str) else show(value)
        raise Invalid(f'must be an array of two names, ["SERVICE", "USER"], got {got}')
    return value[0], value[1]


def number_from_text(value: str) -> float:
    """An environment variable's number; the setting's own check then applies."""
    try:
        return float(value)
    except ValueError:
        raise Invalid(f"must be a number of seconds, got {show(value)}") from None


def flag_from_text(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise Invalid(f"must be one of {', '.join(_TRUE + _FALSE)}; got {show(value)}")
