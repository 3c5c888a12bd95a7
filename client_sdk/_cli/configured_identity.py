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

from client_sdk._cli.identity import identity_from_flags, keyring_entry
from client_sdk._config.build import build_identity
from client_sdk._config.model import Config
from client_sdk._config.schema import (
    ChainIdentity,
    IdentityConfig,
    JwtFileIdentity,
    KerberosIdentity,
    KeyringPasswordIdentity,
    SamlFileIdentity,
    TokenEndpointIdentity,
    UsernameIdentity,
)
from client_sdk._errors import ConfigError
from providers import IdentityProvider

# The flags that change a configured identity, by its type: flag -> the field it sets.
FIELDS_BY_FLAG: Mapping[type[IdentityConfig], Mapping[str, str]] = {
    UsernameIdentity: {"--user": "username"},
    KeyringPasswordIdentity: {"--user": "username", "--keyring-service": "service"},
    JwtFileIdentity: {"--jwt-file": "path"},
    SamlFileIdentity: {"--saml-file": "path"},
    KerberosIdentity: {"--kerberos": "service"},  # SERVICE@HOST: service and hostname
    TokenEndpointIdentity: {
        "--token-url": "token_url",
        "--client-id": "client_id",
        "--client-secret-keyring": "client_secret_keyring",
        "--scope": "scope",
        "--token-auth": "auth",
    },
    ChainIdentity: {},
}
# argparse dest of each identity flag (--pos-response aside).
_DESTS = {
    "--user": "user",
    "--keyring-service": "keyring_service",
    "--jwt-file": "jwt_file",
    "--saml-file": "saml_file",
    "--kerberos": "kerberos",
    "--token-url": "token_url",
    "--client-id": "client_id",
    "--client-secret-keyring": "client_secret_keyring",
    "--scope": "scope",
    "--token-auth": "token_auth",
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
    fields = FIELDS_BY_FLAG[type(identity)]
    for flag in given:
        if flag not in fields:
            raise ConfigError(_refusal(flag, peer, identity, config))
    changes: dict[str, Any] = {fields[flag]: value for flag, value in given.items()}
    if "--kerberos" in given:
        changes.pop("service")
        changes.update(_kerberos_changes(str(given["--kerberos"])))
    if "--client-secret-keyring" in given:
        changes["client_secret_keyring"] = keyring_entry(str(given["--client-secret-keyring"]))
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


def _kerberos_changes(value: str) -> dict[str, str]:
    """``--kerberos SERVICE@HOST`` changes what it names; a bare ``--kerberos`` changes nothing."""
    service, _, host = value.partition("@")
    changes = {"service": service} if service else {}
    if host:
        changes["hostname"] = host
    return changes


def _ask_for_response(name: str, identities: dict[str, IdentityConfig]) -> None:
    identity = identities[name]
    if isinstance(identity, ChainIdentity):
        for member in identity.identities:
            _ask_for_response(member, identities)
    else:
        identities[name] = dataclasses.replace(identity, positive_response=True)


def _refusal(flag: str, peer: str, identity: IdentityConfig, config: Config) -> str:
    own = sorted(FIELDS_BY_FLAG[type(identity)])
    may = f"only {', '.join(own)} and --pos-response" if own else "only --pos-response"
    return (
        f"{flag} cannot apply to peer {peer!r}: its identity {identity.name!r} in {config.where} "
        f'is of type = "{identity.type_name}", and on a configured peer the identity flags may '
        f"only change fields of the configured identity ({may} for this one). Drop {flag}; or "
        f"give the peer another identity in the file; or, for a one-off identity from flags "
        f"alone, name the peer as HOST:PORT with --ae-title"
    )
