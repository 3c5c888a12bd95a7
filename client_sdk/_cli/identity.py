"""The identity flags of ``dicom-identity``: a one-off identity, never a secret in argv.

A password comes from the keyring (``--user`` with ``--keyring-service``), a JWT or SAML assertion
from a file, a Kerberos ticket from the ticket cache, an OAuth2 access token from a token endpoint
whose client secret is in the keyring (``--client-secret-keyring SERVICE:USER``) or that is
authenticated with Kerberos (``--token-auth kerberos``).
"""

from __future__ import annotations

import argparse
from typing import get_args

from client_sdk._errors import ConfigError
from providers import (
    IdentityProvider,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    SamlFileProvider,
    TokenEndpointProvider,
    UsernameProvider,
)
from providers.token_endpoint import TokenEndpointAuth

_TOKEN_AUTHS: tuple[TokenEndpointAuth, ...] = get_args(TokenEndpointAuth)
# Flags that only mean something with --token-url (argparse dest -> flag).
_TOKEN_FLAGS = {
    "client_id": "--client-id",
    "client_secret_keyring": "--client-secret-keyring",
    "scope": "--scope",
    "token_auth": "--token-auth",
}


def add_identity_options(group: argparse._ArgumentGroup) -> None:
    who = group.add_mutually_exclusive_group()
    who.add_argument("--jwt-file", metavar="PATH", help="JWT read from this file (type 5)")
    who.add_argument(
        "--saml-file", metavar="PATH", help="SAML 2.0 assertion read from this file (type 4)"
    )
    who.add_argument(
        "--kerberos",
        nargs="?",
        const="",
        metavar="SERVICE@HOST",
        help="Kerberos ticket from the ticket cache (type 3); default service dicom@PEER-HOST",
    )
    who.add_argument(
        "--token-url",
        metavar="URL",
        help="OAuth2 token endpoint (client-credentials grant); its access token is sent as a "
        "JWT (type 5); needs --client-id",
    )
    group.add_argument("--client-id", metavar="ID", help="OAuth2 client id (with --token-url)")
    group.add_argument(
        "--client-secret-keyring",
        metavar="SERVICE:USER",
        help="keyring entry holding the OAuth2 client secret (split at the first colon; "
        "store it with 'dicom-identity keyring set --keyring-service SERVICE --user USER'); "
        "needed by --token-auth client-secret",
    )
    group.add_argument("--scope", metavar="S", help="OAuth2 scope to ask for (with --token-url)")
    group.add_argument(
        "--token-auth",
        choices=_TOKEN_AUTHS,
        help="how the client authenticates to the token endpoint (default client-secret)",
    )
    group.add_argument(
        "--user",
        metavar="NAME",
        help="username (type 1, or 2 with --keyring-service); on a configured peer, the username "
        "of its username or keyring-password identity (the other flags likewise change only the "
        "configured identity's own fields)",
    )
    group.add_argument(
        "--keyring-service",
        metavar="SERVICE",
        help="password of --user from the keyring (store it with 'dicom-identity keyring set "
        "--keyring-service SERVICE --user NAME')",
    )


def identity_from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    """The provider the flags describe on their own (a HOST:PORT peer, or a configured peer
    without an identity), or None when they describe none."""
    pos = bool(args.pos_response)
    if args.keyring_service and not args.user:
        raise ConfigError("--keyring-service needs --user NAME (the keyring user name)")
    chosen = [
        flag
        for flag, given in (
            ("--jwt-file", args.jwt_file),
            ("--saml-file", args.saml_file),
            ("--kerberos", args.kerberos is not None),
            ("--token-url", args.token_url),
        )
        if given
    ]
    if args.user and chosen:
        raise ConfigError(f"--user cannot be combined with {chosen[0]}")
    if not args.token_url:
        stray = [flag for dest, flag in _TOKEN_FLAGS.items() if getattr(args, dest) is not None]
        if stray:
            raise ConfigError(f"{', '.join(stray)}: only with --token-url URL (a token endpoint)")
    if args.jwt_file:
        return JwtFileProvider(args.jwt_file, positive_response=pos)
    if args.saml_file:
        return SamlFileProvider(args.saml_file, positive_response=pos)
    if args.kerberos is not None:
        service, _, host = (args.kerberos or "dicom").partition("@")
        return KerberosProvider(service=service or "dicom", hostname=host or None)
    if args.token_url:
        return _token_endpoint(args, positive_response=pos)
    if args.user and args.keyring_service:
        return KeyringPasswordProvider(args.keyring_service, args.user, positive_response=pos)
    if args.user:
        return UsernameProvider(args.user, positive_response=pos)
    return None


def _token_endpoint(args: argparse.Namespace, *, positive_response: bool) -> TokenEndpointProvider:
    auth: TokenEndpointAuth = args.token_auth or "client-secret"
    if not args.client_id:
        raise ConfigError("--token-url needs --client-id ID (the OAuth2 client id)")
    entry = keyring_entry(args.client_secret_keyring)
    if auth == "client-secret" and entry is None:
        raise ConfigError(
            "--token-url with --token-auth client-secret needs --client-secret-keyring "
            "SERVICE:USER, the keyring entry of the client secret (never the secret itself)"
        )
    if auth == "kerberos" and entry is not None:
        raise ConfigError(
            "--token-auth kerberos sends no client secret: drop --client-secret-keyring"
        )
    try:
        return TokenEndpointProvider(
            args.token_url,
            client_id=args.client_id,
            client_secret_keyring=entry,
            scope=args.scope,
            auth=auth,
            positive_response=positive_response,
        )
    except ValueError as exc:
        # The provider's message never repeats a URL that carries credentials.
        raise ConfigError(f"--token-url: {exc}") from None


def keyring_entry(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    service, sep, user = value.partition(":")
    if not (sep and service and user):
        raise ConfigError(
            # Not the value: it might be a secret typed in the wrong place.
            "--client-secret-keyring: expected SERVICE:USER (where the keyring holds the "
            "client secret, never the secret itself)"
        )
    return service, user
