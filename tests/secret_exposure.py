"""What a reporter sees of an error (traceback, reprs, locals of every linked error), the canary
secrets and the files that hold them."""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from providers import (
    Target,
)
from tests.conftest import write_token
from tests.saml_assertions import make_assertion, write_file

TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")


PASSWORD = "pw-canary-plain-5d2b"


SAML_MARKER = "saml-canary-signature-value-3e8a"


class Call:
    """``function(*args)``, called later. The test's own frames must hold no secret either (only
    the SDK's are under test): a lambda's frame would show the values it closes over, this one
    shows only ``self``, whose repr says nothing of the arguments."""

    def __init__(self, function: Callable[..., object], *args: object, **kwargs: object) -> None:
        self._function, self._args, self._kwargs = function, args, kwargs

    def __call__(self) -> object:
        return self._function(*self._args, **self._kwargs)

    def __repr__(self) -> str:
        return f"Call({getattr(self._function, '__qualname__', '?')})"


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error linked to it, suppressed contexts included."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) not in seen:
            seen.add(id(current))
            yield current
            pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def exposure(error: BaseException) -> str:
    """Everything a reporter could show of ``error``: see the module docstring."""
    parts = ["".join(traceback.format_exception(error))]
    for linked in chain(error):
        parts += [repr(linked), str(linked), repr(linked.args), repr(vars(linked))]
        parts.append(repr(getattr(linked, "object", None)))
        summary = traceback.TracebackException(
            type(linked), linked, linked.__traceback__, capture_locals=True
        )
        parts.append("".join(summary.format()))
    return "\n".join(parts)


def outcome(make: Callable[[], object]) -> object:
    """What ``make()`` returns, or the error it raises. The frame that catches an error is the
    first of its traceback: this one holds nothing but ``make`` (the test's own frames, which
    hold the secrets to search for, never are in it)."""
    try:
        return make()
    except BaseException as error:
        return error


def raised(make: Callable[[], object]) -> BaseException:
    """The error ``make()`` raises."""
    error = outcome(make)
    assert isinstance(error, BaseException), "nothing was raised"
    return error


_FILES = itertools.count()


def token_file(tmp_path: Path, token: str) -> Path:
    return write_token(tmp_path / f"token-{next(_FILES)}.jwt", token)


def assertion_file(tmp_path: Path, data: bytes) -> Path:
    return write_file(tmp_path / f"assertion-{next(_FILES)}.xml", data)


def marked_assertion(**kwargs: Any) -> bytes:
    return make_assertion(**kwargs).replace(
        b"</saml:Issuer>", f"</saml:Issuer><!-- {SAML_MARKER} -->".encode()
    )
