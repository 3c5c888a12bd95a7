"""The challenges of a ``WWW-Authenticate`` header (RFC 9110 section 11.6.1).

``challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]``, and a header (or several, which
``requests`` joins with ", ") holds a comma-separated list of them: ``Bearer realm="x",
error="invalid_token"`` is one challenge with two parameters; ``Negotiate, Basic realm="x"`` is
two. This is server text: nothing here is trusted beyond its shape, and a header longer than
:data:`MAX_HEADER` is cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

MAX_HEADER = 16 * 1024
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME = re.compile(rf"({_TOKEN})(?:\s+(.*))?$", re.DOTALL)
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*$")
_PARAM = re.compile(rf"({_TOKEN})\s*=\s*(?:({_TOKEN})|\"((?:[^\"\\]|\\.)*)\")$", re.DOTALL)


@dataclass(frozen=True)
class Challenge:
    """One challenge: ``scheme`` as sent, ``token68`` (a Negotiate token) or ``params`` (names in
    lower case, quoted-string values unescaped)."""

    scheme: str
    token68: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def is_scheme(self, name: str) -> bool:
        return self.scheme.lower() == name.lower()


def parse_challenges(header: str | None) -> list[Challenge]:
    """Every challenge of ``header`` (``None`` or empty: none). A part that fits no rule of
    the grammar is skipped."""
    if not header:
        return []
    challenges: list[Challenge] = []
    params: dict[str, str] = {}
    for item in _items(header[:MAX_HEADER]):
        param = _PARAM.match(item)
        if param is not None and challenges:
            params[param.group(1).lower()] = _value(param)
            continue
        start = _SCHEME.match(item)
        if start is None:
            continue
        scheme, rest = start.group(1), (start.group(2) or "").strip()
        params = {}
        token68 = None
        if rest and _TOKEN68.match(rest) and not _PARAM.match(rest):
            token68 = rest
        elif rest and (first := _PARAM.match(rest)) is not None:
            params[first.group(1).lower()] = _value(first)
        challenges.append(Challenge(scheme, token68, params))
    return challenges


def find_challenge(header: str | None, scheme: str) -> Challenge | None:
    """The first challenge of ``scheme`` (case-insensitive) in ``header``."""
    return next((c for c in parse_challenges(header) if c.is_scheme(scheme)), None)


def _value(match: re.Match[str]) -> str:
    token, quoted = match.group(2), match.group(3)
    return token if token is not None else re.sub(r"\\(.)", r"\1", quoted, flags=re.DOTALL)


def _items(header: str) -> Iterator[str]:
    """The comma-separated parts of ``header``, commas inside quoted strings kept."""
    current: list[str] = []
    quoted = escaped = False
    for char in header:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            item = "".join(current).strip()
            if item:
                yield item
            current = []
            continue
        current.append(char)
    item = "".join(current).strip()
    if item:
        yield item
