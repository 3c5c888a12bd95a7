"""The lazy public names of a package (``providers``, ``client_sdk``): each imported from its
module on first use, so that ``dicom-identity --help`` loads neither pynetdicom nor pydicom."""

from __future__ import annotations

import importlib

# Not typing's: importing typing costs every start-up (see the packages' __init__).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def lazy_exports(
    namespace: dict[str, Any], table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's module ``__getattr__`` and ``__dir__`` for ``table`` (public name: the module
    that holds it). ``namespace`` is the package's ``globals()``: a name looked up once is kept
    there, so later look-ups skip ``__getattr__``."""
    package = namespace["__name__"]

    def look_up(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted(set(namespace) | set(table))

    return look_up, names
