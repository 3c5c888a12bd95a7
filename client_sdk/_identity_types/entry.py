"""What one identity type declares: its configuration table, how it builds its provider, and the
command-line flags that make a one-off identity of it or change a configured one.

A registry entry (:class:`IdentityTypeEntry`) is the one place a credential type is described;
the configuration's parse, build and ``config show`` and the CLI's identity flags read it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from client_sdk._config.problems import Problems
from client_sdk._config.values import Check
from providers import IdentityProvider


@dataclass(frozen=True)
class IdentityConfig:
    """``[identities.NAME]``: the fields of a type's dataclass are its file keys (besides
    ``type``); ``from_file`` says which keys the file set."""

    type_name: ClassVar[str] = ""
    name: str
    from_file: frozenset[str] = field(default=frozenset(), compare=False, repr=False, kw_only=True)


# Builds the provider of a member of a chain, by name.
BuildMember = Callable[[str], IdentityProvider]
# Rules between keys, checked at parse time: (path, values with defaults, invalid keys, problems).
CrossCheck = Callable[[tuple[str, ...], dict[str, Any], set[str], Problems], None]
# A flag's value on a configured identity: the field it sets, or a function of the value giving
# the fields it changes.
FieldChange = str | Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Option:
    """One command-line flag: ``add_argument(flag, **kwargs)``; ``exclusive`` flags each choose a
    type on their own, so at most one of them is given."""

    flag: str
    kwargs: Mapping[str, Any]
    exclusive: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class IdentityTypeEntry:
    """One credential type.

    ``provider``: the provider class, when called (a type may import it only then: the command
    line starts without loading every provider's dependencies);
    ``config``: its ``[identities.NAME]`` dataclass (keys, defaults; ``type_name`` the ``type``);
    ``key_checks``: a check per key; ``cross_check``: rules between keys; ``path_keys``: keys
    relative to the configuration file (with ``residual_paths``, a value ``TYPE:residual`` is kept
    as it is); ``secret_location``: where its secret lives in the keyring (service, user, what);
    ``build``: the provider; ``options``: its flags; ``from_flags``: the one-off provider the flags
    describe (None: they describe none of this type); ``flag_fields``: what each flag changes on a
    configured identity of this type.
    """

    config: type[IdentityConfig]
    provider: Callable[[], type[IdentityProvider]]
    key_checks: Mapping[str, Check]
    build: Callable[[Any, BuildMember], IdentityProvider]
    cross_check: CrossCheck | None = None
    path_keys: tuple[str, ...] = ()
    residual_paths: bool = False
    secret_location: Callable[[Any], tuple[str, str, str] | None] | None = None
    options: tuple[Option, ...] = ()
    from_flags: Callable[[argparse.Namespace], IdentityProvider | None] | None = None
    flag_fields: Mapping[str, FieldChange] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.type_name
