"""``type = "username"`` / ``--user NAME``: a type-1 username."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from client_sdk._config import values as v
from client_sdk._identity_types.entry import BuildMember, IdentityConfig, IdentityTypeEntry, Option
from providers import IdentityProvider, UsernameProvider


@dataclass(frozen=True)
class UsernameIdentity(IdentityConfig):
    """``type = "username"``: :class:`providers.UsernameProvider`."""

    type_name = "username"
    username: str
    positive_response: bool = False


def _build(identity: UsernameIdentity, _member: BuildMember) -> IdentityProvider:
    return UsernameProvider(identity.username, positive_response=identity.positive_response)


def _from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    if not args.user or args.keyring_service:
        return None  # with --keyring-service: a keyring password
    return UsernameProvider(args.user, positive_response=bool(args.pos_response))


USERNAME = IdentityTypeEntry(
    config=UsernameIdentity,
    provider=lambda: UsernameProvider,
    key_checks={"username": v.username, "positive_response": v.flag},
    build=_build,
    options=(
        Option(
            "--user",
            {
                "metavar": "NAME",
                "help": "username (type 1, or 2 with --keyring-service); on a configured peer, "
                "the username of its username or keyring-password identity (the other flags "
                "likewise change only the configured identity's own fields)",
            },
        ),
    ),
    from_flags=_from_flags,
    flag_fields={"--user": "username"},
)
