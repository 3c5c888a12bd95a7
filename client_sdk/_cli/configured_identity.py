"""The identity flags on a configured peer: they change fields of its configured identity and
never replace it by another kind.

``dicom-identity echo archive --user bob``, where ``archive`` sends a type-2 keyring password and
asks for a positive response, used to send a type-1 username and ask for nothing. A careful user
who names a configured peer expects its identity, with only what the flags name changed: bob's
password from the same keyring service, still type 2, still asking for the response. So:

* a flag of the configured identity's own kind changes its field (table below); everything else
  (type, keyring service, audience, leeway, Kerberos options, positive response) stays;
* ``--pos-response`` asks for a response (on a chain: from every member); it cannot turn one off;
* any other identity flag is refused (exit 3), naming the flag and the configured identity: a
  peer's identity changes kind in the configuration file, or a one-off identity from flags
  alone is given with ``HOST:PORT --ae-title AE``;
* a configured peer without an identity takes one from the flags, whole.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from client_sdk._cli.identity import identity_from_flags
from client_sdk._config.build import build_identity
from client_sdk._config.model import Config
from client_sdk._config.schema import ChainIdentity, IdentityConfig
from client_sdk._errors import ConfigError
from client_sdk._identity_types.entry import FieldChange
from client_sdk._identity_types.registry import OPTIONS, REGISTRY, entry_of
from providers import IdentityProvider

# argparse dest of each identity flag (--pos-response aside); what each changes on a configured
# identity is its type's registry entry's flag_fields.
_DESTS = {option.flag: option.dest for option in OPTIONS}
# The flags that change a configured identity, by its type (read from the registry).
FIELDS_BY_FLAG: Mapping[type[IdentityConfig], Mapping[str, FieldChange]] = {
    entry.config: entry.flag_fields for entry in REGISTRY
}


def identity_for_configured_peer(
    config: Config, peer: str, args: argparse.Namespace
) -> IdentityProvider | None:
    """The identity of configured ``peer`` with the flags applied; None when no identity flag
    was given (the configuration's identity applies as it is)."""
    name = config.peers[peer].identity
    if name is None:
        return identity_from_flags(args)  # nothing configured: the flags say it all
    given = {flag: getattr(args, dest) for flag, dest in _DESTS.items()}
    given = {flag: value for flag, value in given.items() if value is not None}
    if not given and not args.pos_response:
        return None
    identity = config.identities[name]
    fields = entry_of(identity).flag_fields
    for flag in given:
        if flag not in fields:
            raise ConfigError(_refusal(flag, peer, identity, config))
    changes: dict[str, Any] = {}
    for flag, value in given.items():
        change = fields[flag]
        changes.update({change: value} if isinstance(change, str) else change(value))
    identities = dict(config.identities)
    if args.pos_response:
        _ask_for_response(name, identities)
    identities[name] = dataclasses.replace(identities[name], **changes)
    try:
        return build_identity(name, identities)
    except ValueError as exc:  # a provider refusing the changed combination; names no secret
        raise ConfigError(
            f"identity {name!r} of peer {peer!r} with the flags given: {exc}"
        ) from None


def _ask_for_response(name: str, identities: dict[str, IdentityConfig]) -> None:
    identity = identities[name]
    if isinstance(identity, ChainIdentity):
        for member in identity.identities:
            _ask_for_response(member, identities)
    else:
        ask: dict[str, Any] = {"positive_response": True}  # every type but the chain has it
        identities[name] = dataclasses.replace(identity, **ask)


def _refusal(flag: str, peer: str, identity: IdentityConfig, config: Config) -> str:
    own = sorted(entry_of(identity).flag_fields)
    may = f"only {', '.join(own)} and --pos-response" if own else "only --pos-response"
    return (
        f"{flag} cannot apply to peer {peer!r}: its identity {identity.name!r} in {config.where} "
        f'is of type = "{identity.type_name}", and on a configured peer the identity flags may '
        f"only change fields of the configured identity ({may} for this one). Drop {flag}; or "
        f"give the peer another identity in the file; or, for a one-off identity from flags "
        f"alone, name the peer as HOST:PORT with --ae-title"
    )
