"""A value that must never be shown: passwords, tokens, tickets."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn, SupportsIndex

from providers._errors import InvalidIdentity

_NOT_COPIED = (
    "Secret cannot be pickled, copied or serialized: it would carry the value out. Pass the "
    "Secret object itself (it never changes)"
)


class Secret:
    """Holds secret bytes until the moment they are put on the wire.

    ``repr()`` and ``str()`` never show the value or its length; the object cannot be pickled,
    copied, serialized (``__getstate__``, ``__reduce_ex__``: what jsonpickle-like serializers
    call) or formatted into a string by accident, and two secrets compare in constant time. Call
    :meth:`reveal` to get the bytes: that call is the audit point.
    """

    __slots__ = ("_value",)

    def __init__(self, value: bytes | str) -> None:
        # No error raised here may carry the value: no exception context that holds it (an
        # encoding error's .object is the whole text), no local that holds it in this frame.
        if isinstance(value, str):
            encoded = _utf8(value)
            del value
            if encoded is None:
                raise InvalidIdentity(
                    "a secret given as text holds a lone surrogate (as os.fsdecode() makes of "
                    "bytes that are not UTF-8) and cannot be sent as UTF-8; decode it with its "
                    "real encoding, or pass the bytes"
                )
            self._value = encoded
        elif isinstance(value, bytes):
            self._value = bytes(value)  # a plain bytes object, even from a subclass
        else:  # not what the signature allows, yet callers pass anything (a backend's int)
            kind = type(value).__name__  # type: ignore[unreachable]
            del value
            raise TypeError(f"Secret takes bytes or str, not {kind}")

    def reveal(self) -> bytes:
        """Return the secret bytes. Never log, format or store the result."""
        return self._value

    def is_utf8(self) -> bool:
        """Whether the bytes are valid UTF-8 (no error, and so no copy of them, is raised)."""
        try:
            self._value.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

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

    # Python 3.11 gave every object a __getstate__ that returns its slots; serializers call it.
    def __getstate__(self) -> NoReturn:
        raise TypeError(_NOT_COPIED)

    def __reduce__(self) -> NoReturn:
        raise TypeError(_NOT_COPIED)

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(_NOT_COPIED)

    def __copy__(self) -> NoReturn:
        raise TypeError(_NOT_COPIED)

    def __deepcopy__(self, memo: dict[int, Any]) -> NoReturn:
        raise TypeError(_NOT_COPIED)


def _utf8(text: str) -> bytes | None:
    """``text`` as UTF-8, or None: the UnicodeEncodeError (which holds ``text``) ends here."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None
