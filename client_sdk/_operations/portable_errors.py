"""An exception carried from a worker process to the parent, with its message and its fields.

Plain pickling does not carry most SDK errors: ``BaseException`` pickles as ``cls(*args)``, and
an error whose constructor takes keyword-only fields (``DimseFailure(message, status=...)``,
``AssociationRejected(message, result=..., source=..., reason=...)``, ``KeyringEntryMissing``)
fails to unpickle with a TypeError. :class:`PortableError` carries the class's name, ``args`` and
the instance's fields (``__notes__`` among them) and rebuilds the same class without calling its
constructor. The traceback, cause and context stay behind (by design: no frame of a provider
crosses, and SDK errors never chain one that matters to the caller). A field that does not
pickle (an audit sink with its lock) arrives as None.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import dataclass
from typing import Any

from providers._errors import DicomIdentityError


@dataclass(frozen=True)
class PortableError:
    """What ``restore`` needs to raise the same error in another process."""

    error_class: str  # "module:QualifiedName"
    args: tuple[Any, ...]
    fields: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, error: BaseException) -> PortableError:
        kind = type(error)
        args = tuple(_picklable(arg) for arg in error.args)
        fields = tuple((name, _picklable(value)) for name, value in vars(error).items())
        return cls(f"{kind.__module__}:{kind.__qualname__}", args, fields)

    def restore(self) -> BaseException:
        """The error, of its own class (a DicomIdentityError with the same message when the
        class cannot be found here)."""
        kind = _find_class(self.error_class)
        if kind is None:
            return DicomIdentityError(*self.args)
        error = kind.__new__(kind, *self.args)
        error.args = self.args
        for name, value in self.fields:
            setattr(error, name, value)
        return error


def _picklable(value: Any) -> Any:
    try:
        pickle.dumps(value)
    except Exception:
        return None
    return value


def _find_class(path: str) -> type[BaseException] | None:
    module, _, qualname = path.partition(":")
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    return None
