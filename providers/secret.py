"""A value that must never be shown: passwords, tokens, tickets."""

from __future__ import annotations

import hmac
from typing import NoReturn

from providers.errors import InvalidIdentity

__all__ = ["Secret"]


class Secret:
    """Holds secret bytes until the moment they are put on the wire.

    ``repr()`` and ``str()`` never show the value or its length, the object cannot be pickled or
    formatted into a string by accident, and two secrets compare in constant time. Call
    :meth:`reveal` to get the bytes: that call is the audit point.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes | str) -> None:
        if isinstance(value, str):
            try:
                value = value.encode("utf-8")
            except UnicodeEncodeError:
                # "from None": the UnicodeEncodeError holds the whole value in its .object.
                raise InvalidIdentity(
                    "a secret given as text holds a lone surrogate (as os.fsdecode() makes of "
                    "bytes that are not UTF-8) and cannot be sent as UTF-8; decode it with its "
                    "real encoding, or pass the bytes"
                ) from None
        if not isinstance(value, bytes):
            raise TypeError("Secret takes bytes or str")
        self._value = value

    def reveal(self) -> bytes:
        """Return the secret bytes. Never log, format or store the result."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __format__(self, format_spec: str) -> str:
        return str(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        # Secrets are not dictionary keys: a hash is a (weak) oracle on the value.
        raise TypeError("Secret is not hashable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret cannot be pickled")
