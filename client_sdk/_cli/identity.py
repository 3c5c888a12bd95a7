"""The identity flags of ``dicom-identity``: a one-off identity, never a secret in argv.

Each identity type declares its flags in its registry entry (:mod:`client_sdk._identity_types`):
a password comes from the keyring (``--user`` with ``--keyring-service``), a JWT or SAML assertion
from a file, a Kerberos ticket from the ticket cache, an OAuth2 access token from a token endpoint
whose client secret is in the keyring (``--client-secret-keyring SERVICE:USER``) or that is
authenticated with Kerberos (``--token-auth kerberos``).
"""

from __future__ import annotations

import argparse

from client_sdk._errors import ConfigError
from client_sdk._identity_types.entry import Option
from client_sdk._identity_types.registry import OPTIONS, REGISTRY
from providers import IdentityProvider


def add_identity_options(group: argparse._ArgumentGroup) -> None:
    """Every type's flags; those that each choose a type on their own exclude one another."""
    who = group.add_mutually_exclusive_group()
    for option in OPTIONS:
        (who if option.exclusive else group).add_argument(option.flag, **option.kwargs)


def identity_from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    """The provider the flags describe on their own (a HOST:PORT peer, or a configured peer
    without an identity), or None when they describe none."""
    chosen = [o.flag for o in OPTIONS if o.exclusive and _given(args, o)]
    if args.user and chosen:
        raise ConfigError(f"--user cannot be combined with {chosen[0]}")
    # Every type sees the flags (each refuses its own flags out of place); at most one makes one.
    made = [entry.from_flags(args) for entry in REGISTRY if entry.from_flags is not None]
    return next((provider for provider in made if provider is not None), None)


def _given(args: argparse.Namespace, option: Option) -> bool:
    value = getattr(args, option.dest)
    # a bare flag (nargs="?", const="") counts as given; an empty value of another flag does not
    return value is not None and (value != "" or option.kwargs.get("const") == "")
