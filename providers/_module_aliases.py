"""Old module paths that keep importing, with a warning: the machinery behind both packages'
``_deprecated`` tables (``providers._deprecated`` and ``client_sdk._deprecated``).

A :class:`ModuleAliases` takes one table, ``moved``: each old module path, the modules that hold
its names now (first match wins) and what to do instead. :meth:`ModuleAliases.install` puts a
finder first on ``sys.meta_path`` that answers for exactly those paths: importing one gives a
module that looks each name up in its new homes (so a class imported either way is the same
class), after one ``DeprecationWarning`` per path and process that names the import to use. An
old package also finds its old submodules. Every other import passes through untouched. It lives
in ``providers`` because ``providers`` never imports ``client_sdk``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings
from collections.abc import Mapping, Sequence
from types import ModuleType

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up (issue 16)
if TYPE_CHECKING:
    from importlib.abc import Loader
    from typing import Any
else:
    Loader = object

# old module path: (the modules that hold its names now, first match wins; what to do instead)
Moved = Mapping[str, tuple[tuple[str, ...], str]]


class _CallableAlias(ModuleType):
    """An old module whose last part is also a public function of its package (0.4's
    ``providers.http_auth``). The import machinery sets the module as that attribute of the
    package after loading it, so it stays callable, as that function."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


# The finder and the loader follow importlib's protocols without its abstract base classes:
# importing importlib.abc loads importlib.resources (about 4 ms of every start-up, issue 16).
class ModuleAliases:
    """The finder for one package's old module paths.

    ``renamed`` maps (old path, old name) to the name it has now in every home; ``callables``
    lists the old paths that must stay callable (see :class:`_CallableAlias`).
    """

    def __init__(
        self,
        version: str,
        moved: Moved,
        *,
        renamed: Mapping[tuple[str, str], str] | None = None,
        callables: frozenset[str] = frozenset(),
    ) -> None:
        self.version = version
        self.moved = moved
        self.renamed = dict(renamed or {})
        self.callables = callables

    def message(self, old: str) -> str:
        """The warning for an import of ``old``: what to do instead."""
        return (
            f"{old} is deprecated since dicom-identity {self.version} and goes in "
            f"{_next_minor(self.version)}: {self.moved[old][1]}"
        )

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moved:
            return None
        package = any(other.startswith(fullname + ".") for other in self.moved)
        return importlib.machinery.ModuleSpec(fullname, _Alias(self, fullname), is_package=package)

    def install(self) -> None:
        """Put the finder first on ``sys.meta_path`` (idempotent): before the path finder,
        which could otherwise take a stale folder of an old package for a namespace package."""
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)


class _Alias(Loader):
    """Makes an old path a module whose names are looked up in their new homes."""

    def __init__(self, aliases: ModuleAliases, old: str) -> None:
        self.aliases = aliases
        self.old = old

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        if self.old in self.aliases.callables:
            return _CallableAlias(spec.name)
        return None  # the default: a plain module named after the old path

    def exec_module(self, module: ModuleType) -> None:
        old, renamed = self.old, self.aliases.renamed
        homes = [importlib.import_module(name) for name in self.aliases.moved[old][0]]
        path = getattr(homes[0], "__path__", None)
        if path is not None:
            module.__path__ = list(path)  # an old package: its old submodules are found too

        def lookup(name: str) -> Any:
            wanted = renamed.get((old, name), name)
            for home in homes:
                if hasattr(home, wanted):
                    return getattr(home, wanted)
            raise AttributeError(f"module {old!r} has no attribute {name!r}")

        module.__getattr__ = lookup  # type: ignore[method-assign]
        module.__dir__ = lambda: sorted({name for home in homes for name in dir(home)})  # type: ignore[method-assign]
        # stacklevel 2: the import machinery's own frames are skipped, so the warning points
        # at the line that imported the old path.
        warnings.warn(self.aliases.message(old), DeprecationWarning, stacklevel=2)


def _next_minor(version: str) -> str:
    major, minor = version.split(".")[:2]
    return f"{major}.{int(minor) + 1}"
