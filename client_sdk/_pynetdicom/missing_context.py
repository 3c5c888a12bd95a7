"""Told when an operation finds no accepted presentation context (issue 16's context memory).

Every ``send_c_*()`` of pynetdicom looks its context up through ``Association._get_valid_context``,
which raises ``ValueError`` when none was accepted. Wrapping that lookup on one association (an
instance attribute, nothing process-wide) lets the caller see which abstract syntax was missing,
and add to the error, before the Session turns it into its own error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext

# Given the abstract syntax that had no accepted context, returns a sentence to add to the error
# (or None to add nothing).
MissingContext = Callable[[str], str | None]


def on_missing_context(assoc: Association, missing: MissingContext) -> None:
    """Call ``missing`` when an operation on ``assoc`` finds no accepted context."""
    lookup = assoc._get_valid_context

    def checked(*args: Any, **kwargs: Any) -> PresentationContext:
        try:
            return lookup(*args, **kwargs)
        except ValueError as exc:
            # The abstract syntax: the first argument everywhere pynetdicom calls it.
            syntax = args[0] if args else kwargs.get("ab_syntax", "")
            extra = missing(str(syntax))
            if extra is None:
                raise
            raise ValueError(f"{exc}. {extra}") from None

    assoc._get_valid_context = checked  # type: ignore[method-assign]
