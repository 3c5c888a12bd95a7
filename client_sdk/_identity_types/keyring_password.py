"""``type = "keyring-password"`` / ``--user NAME --keyring-service SERVICE``: a type-2 password
read from the keyring at each association."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from client_sdk._config import values as v
from client_sdk._errors import ConfigError
from client_sdk._identity_types.entry import BuildMember, IdentityConfig, IdentityTypeEntry, Option
from providers import IdentityProvider, KeyringPasswordProvider


@dataclass(frozen=True)
class KeyringPasswordIdentity(IdentityConfig):
    """``type = "keyring-password"``: :class:`providers.KeyringPasswordProvider`."""

    type_name = "keyring-password"
    service: str
    username: str
    positive_response: bool = False


def _build(identity: KeyringPasswordIdentity, _member: BuildMember) -> IdentityProvider:
    return KeyringPasswordProvider(
        identity.service, identity.username, positive_response=identity.positive_response
    )


def _secret_location(identity: KeyringPasswordIdentity) -> tuple[str, str, str]:
    return identity.service, identity.username, "password"


def _from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    if args.keyring_service and not args.user:
        raise ConfigError("--keyring-service needs --user NAME (the keyring user name)")
    if not (args.user and args.keyring_service):
        return None
    return KeyringPasswordProvider(
        args.keyring_service, args.user, positive_response=bool(args.pos_response)
    )


KEYRING_PASSWORD = IdentityTypeEntry(
    config=KeyringPasswordIdentity,
    provider=lambda: KeyringPasswordProvider,
    key_checks={"service": v.text, "username": v.username, "positive_response": v.flag},
    build=_build,
    secret_location=_secret_location,
    options=(
        Option(
            "--keyring-service",
            {
                "metavar": "SERVICE",
                "help": "password of --user from the keyring (store it with 'dicom-identity "
                "keyring set --keyring-service SERVICE --user NAME')",
            },
        ),
    ),
    from_flags=_from_flags,
    flag_fields={"--user": "username", "--keyring-service": "service"},
)
