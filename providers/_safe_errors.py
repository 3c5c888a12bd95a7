"""What error reporters see of the SDK: no secret in an error's chain or frames, no failing repr.

``raise ... from None`` only hides the context when a traceback is printed: the error still keeps
it on ``__context__``, and a ``UnicodeEncodeError`` there holds the whole password it failed on
(``.object``), a JSON parser's error the frames that held the whole token. Error reporters that
show locals (Sentry, ``traceback.TracebackException(capture_locals=True)``, pytest
``--showlocals``) read every frame of an error's traceback, and call ``repr`` on every local,
even a half-built object whose ``__init__`` failed.

So each place that reads or handles a secret is decorated with :func:`secret_safe`: an error
leaving it has lost its implicit context (an explicit ``raise ... from exc`` cause stays) and the
locals of every finished frame it passed through (ours, and those of the libraries we called:
PyJWT, keyring backends, XML parsers). And every ``__repr__`` of the package goes through
:func:`total_repr`, which never raises.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from providers._errors import IdentityError

P = ParamSpec("P")
R = TypeVar("R")


def forget_secrets(error: BaseException) -> None:
    """Drop, in place, what ``error`` and the errors chained to it may hold of a secret.

    An SDK error keeps only its explicit ``__cause__``; any other error keeps its context unless
    it was raised ``from None``. The locals of every frame that has finished running are cleared
    (a frame still running, such as the caller's, cannot be and is not touched).
    """
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, IdentityError) or current.__suppress_context__:
            current.__context__ = current.__cause__
        traceback.clear_frames(current.__traceback__)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)


def secret_safe(function: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function that reads or handles a secret: see :func:`forget_secrets`."""

    @functools.wraps(function)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except BaseException as error:
            # This frame is still running, so clear_frames cannot reach it: drop the arguments
            # (a password given to __init__, a peer's answer) by hand.
            del args, kwargs
            forget_secrets(error)
            raise

    return guarded


def total_repr(obj: object, build: Callable[[], str]) -> str:
    """``build()``, or a plain ``<Type (incomplete)>`` when it fails (an attribute not set yet
    because ``__init__`` raised): an error reporter must be able to ``repr`` every local."""
    try:
        return build()
    except Exception:
        return f"<{type(obj).__name__} (incomplete)>"
