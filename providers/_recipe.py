"""How to build a provider again in another process, with no secret in the description.

A worker process of ``store_many(processes=N)`` cannot be handed a provider: a provider may hold
a keyring backend, an HTTP session, a token cache, and (for :class:`~providers.PasswordProvider`)
the password itself. It is handed a :class:`ProviderRecipe` instead: the provider's class and the
constructor arguments that say *where* its credential lives (a keyring service and username, a
JWT file's path, a Kerberos principal, a token endpoint's settings), never the credential. The
worker builds the provider from it and fetches the secret there, as the parent would have.

A provider that can be rebuilt has a ``recipe()`` method. One holding a secret that exists only
in this process (a password passed in) raises :class:`ProviderNotRebuildable`, which says what to
use instead. The recipe refuses a :class:`~providers.Secret` among its arguments, and pickles
without one: ``Secret`` itself refuses to be pickled.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from providers._errors import CredentialError
from providers._secret import Secret

if TYPE_CHECKING:
    from typing import TypeAlias

    from keyring.backend import KeyringBackend

    from providers._base import IdentityProvider

    # What a recipe's arguments may be: plain values, and the recipes of nested parts.
    _Plain: TypeAlias = str | int | float | None
    RecipeValue: TypeAlias = (
        _Plain | tuple["RecipeValue", ...] | "ProviderRecipe" | "KeyringBackendRecipe"
    )

_INSTEAD = (
    "Store the secret where a worker process can read it again (KeyringPasswordProvider, a JWT "
    "or SAML file, Kerberos, a token endpoint, or a configured peer), or store with threads "
    "(workers=N, processes=1; dicom-identity store --workers N without --processes)"
)


class ProviderNotRebuildable(CredentialError):
    """This provider cannot be rebuilt in a worker process (``store_many(processes=N)``): it
    holds a secret that exists only in this process, or parts that cannot be described. The
    message says what to use instead. A :class:`~providers.CredentialError`: this credential
    cannot be used there (the command line's exit code 4)."""


def not_rebuildable(provider: object, why: str) -> ProviderNotRebuildable:
    """The error for ``provider``, which cannot be rebuilt because of ``why``."""
    return ProviderNotRebuildable(
        f"{type(provider).__name__} cannot be rebuilt in a worker process (processes > 1): "
        f"{why}. {_INSTEAD}"
    )


@dataclass(frozen=True)
class KeyringBackendRecipe:
    """A keyring backend by its class, and the file it reads for the file backends of
    keyrings.alt (their ``file_path``). Nothing else of the backend is carried: an encrypted
    file backend asks for its own password again in the worker."""

    backend_class: str  # "module:QualifiedName"
    file_path: str | None = None

    @classmethod
    def of(cls, backend: KeyringBackend | None) -> KeyringBackendRecipe | None:
        """The recipe of ``backend``; None for None (the worker resolves the default backend
        as this process does: ``PYTHON_KEYRING_BACKEND`` and keyring's config file)."""
        if backend is None:
            return None
        kind = type(backend)
        file_path = getattr(backend, "file_path", None)
        return cls(
            f"{kind.__module__}:{kind.__qualname__}",
            file_path if isinstance(file_path, str) else None,
        )

    def build(self) -> KeyringBackend:
        backend = _resolve(self.backend_class)()
        if self.file_path is not None:
            backend.file_path = self.file_path
        return backend  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ProviderRecipe:
    """A provider's class and its constructor's keyword arguments, none of them secret.

    Picklable, and its repr is safe to log. :meth:`build` makes the provider (nested recipes
    first: a chain's members, a keyring backend)."""

    provider_class: str  # "module:QualifiedName"
    arguments: tuple[tuple[str, RecipeValue], ...] = ()

    def __post_init__(self) -> None:
        for name, value in self.arguments:
            _refuse_secrets(name, value)

    @classmethod
    def of(cls, provider: object, **arguments: RecipeValue) -> ProviderRecipe:
        """The recipe that builds ``type(provider)(**arguments)``."""
        kind = type(provider)
        return cls(f"{kind.__module__}:{kind.__qualname__}", tuple(sorted(arguments.items())))

    def build(self) -> IdentityProvider:
        """The provider, built in this process (its secret is fetched when it negotiates)."""
        factory = _resolve(self.provider_class)
        return factory(**{name: _built(value) for name, value in self.arguments})  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        name = self.provider_class.rpartition(":")[2]
        words = ", ".join(f"{key}={value!r}" for key, value in self.arguments)
        return f"ProviderRecipe({name}({words}))"


def recipe_of(provider: object) -> ProviderRecipe:
    """``provider.recipe()``, or :class:`ProviderNotRebuildable` when it has none."""
    recipe = getattr(provider, "recipe", None)
    if not callable(recipe):
        raise not_rebuildable(provider, "it has no recipe() method saying how to build it")
    made = recipe()
    if not isinstance(made, ProviderRecipe):
        raise not_rebuildable(provider, f"its recipe() returned {type(made).__name__}")
    return made


def _built(value: RecipeValue) -> object:
    if isinstance(value, ProviderRecipe | KeyringBackendRecipe):
        return value.build()
    if isinstance(value, tuple):
        return tuple(_built(member) for member in value)
    return value


def _refuse_secrets(name: str, value: object) -> None:
    if isinstance(value, Secret | bytes | bytearray):
        raise TypeError(f"a provider recipe holds no secret: argument {name!r} is one")
    if isinstance(value, tuple):
        for member in value:
            _refuse_secrets(name, member)
    elif not isinstance(value, str | int | float | None | ProviderRecipe | KeyringBackendRecipe):
        raise TypeError(
            f"a provider recipe holds plain values only: argument {name!r} is a "
            f"{type(value).__name__}"
        )


def _resolve(path: str) -> type:
    module, _, qualname = path.partition(":")
    found: object = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type):
        raise TypeError(f"{path} is not a class")
    return found
