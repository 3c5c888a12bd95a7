"""``type = "token-endpoint"`` / ``--token-url URL --client-id ID ...``: an OAuth2 access token
(client-credentials grant) sent as a type-5 JWT; the client secret stays in the keyring."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from client_sdk._config import values as v
from client_sdk._config.problems import Problems
from client_sdk._errors import ConfigError
from client_sdk._identity_types.entry import BuildMember, IdentityConfig, IdentityTypeEntry, Option
from providers import IdentityProvider
from providers._token_client_auth import TokenEndpointAuth
from providers._token_errors import InsecureTokenEndpoint, check_proxy_url, check_token_url

if TYPE_CHECKING:
    from providers._token_endpoint import TokenEndpointProvider

# providers._token_endpoint.DEFAULT_TIMEOUT (tests/test_identity_registry.py checks they agree):
# the provider module loads requests, which the command line's start-up does without.
DEFAULT_TIMEOUT = 10.0

_TOKEN_AUTHS: tuple[TokenEndpointAuth, ...] = get_args(TokenEndpointAuth)
# Flags that only mean something with --token-url (argparse dest -> flag).
_TOKEN_FLAGS = {
    "client_id": "--client-id",
    "client_secret_keyring": "--client-secret-keyring",
    "scope": "--scope",
    "token_auth": "--token-auth",
}


@dataclass(frozen=True)
class TokenEndpointIdentity(IdentityConfig):
    """``type = "token-endpoint"``: :class:`providers.TokenEndpointProvider`. The client secret
    stays in the keyring: ``client_secret_keyring = ["SERVICE", "USER"]`` says where."""

    type_name = "token-endpoint"
    token_url: str
    client_id: str
    client_secret_keyring: tuple[str, str] | None = None
    scope: str | None = None
    audience: str | None = None
    auth: TokenEndpointAuth = "client-secret"
    # auth = "private-key-jwt": the PEM file of the client's private key, and the assertion's
    # kid and algorithm (None: none, and the one that fits the key).
    client_key_file: str | None = None
    client_key_id: str | None = None
    client_key_algorithm: str | None = None
    ca_file: str | None = None
    kerberos_hostname: str | None = None
    positive_response: bool = False
    timeout: float = DEFAULT_TIMEOUT
    proxy: str | None = None  # http://HOST:PORT, for an https:// token_url only


def _provider() -> type[TokenEndpointProvider]:
    from providers._token_endpoint import TokenEndpointProvider

    return TokenEndpointProvider


def _build(identity: TokenEndpointIdentity, _member: BuildMember) -> IdentityProvider:
    return _provider()(
        identity.token_url,
        client_id=identity.client_id,
        client_secret_keyring=identity.client_secret_keyring,
        scope=identity.scope,
        audience=identity.audience,
        auth=identity.auth,
        client_key_file=identity.client_key_file,
        client_key_id=identity.client_key_id,
        client_key_algorithm=identity.client_key_algorithm,
        ca_file=identity.ca_file,
        kerberos_hostname=identity.kerberos_hostname,
        positive_response=identity.positive_response,
        timeout=identity.timeout,
        proxy=identity.proxy,
    )


def _secret_location(identity: TokenEndpointIdentity) -> tuple[str, str, str] | None:
    if identity.client_secret_keyring is None:
        return None
    service, username = identity.client_secret_keyring
    return service, username, "client secret"


def _cross_check(
    path: tuple[str, ...], values: dict[str, Any], invalid: set[str], problems: Problems
) -> None:
    """The constructor's own rules, checked here to be reported with the rest."""
    if "token_url" in values and isinstance(values["token_url"], str):
        try:
            check_token_url(values["token_url"])
        except (ValueError, InsecureTokenEndpoint) as exc:
            problems.add(v.dotted((*path, "token_url")), str(exc))
        else:
            if values.get("proxy") is not None and "proxy" not in invalid:
                try:
                    check_proxy_url(values["proxy"], values["token_url"])
                except ValueError as exc:
                    problems.add(v.dotted((*path, "proxy")), str(exc))
    if invalid & {"auth", "client_secret_keyring"}:
        return  # already reported
    has_keyring = values["client_secret_keyring"] is not None
    if values["auth"] in ("client-secret", "client-secret-basic") and not has_keyring:
        problems.add(
            v.dotted((*path, "client_secret_keyring")),
            f'missing; with auth = "{values["auth"]}" it names the keyring entry holding the '
            'client secret, ["SERVICE", "USER"] (store it with: dicom-identity keyring set PEER); '
            'or set auth = "kerberos"',
        )
    if values["auth"] in ("kerberos", "private-key-jwt") and has_keyring:
        problems.add(
            v.dotted((*path, "client_secret_keyring")),
            f'not used with auth = "{values["auth"]}" (no client secret is sent); remove it',
        )
    key_file = values.get("client_key_file") is not None
    if values["auth"] == "private-key-jwt" and not key_file and "client_key_file" not in invalid:
        problems.add(
            v.dotted((*path, "client_key_file")),
            'missing; with auth = "private-key-jwt" it is the PEM file of the client\'s private '
            "key, which signs the client assertion (RFC 7523)",
        )
    if values["auth"] != "private-key-jwt":
        for key in ("client_key_file", "client_key_id", "client_key_algorithm"):
            if values.get(key) is not None:
                problems.add(
                    v.dotted((*path, key)), 'only with auth = "private-key-jwt"; remove it'
                )


def _from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    if not args.token_url:
        stray = [flag for dest, flag in _TOKEN_FLAGS.items() if getattr(args, dest) is not None]
        if stray:
            raise ConfigError(f"{', '.join(stray)}: only with --token-url URL (a token endpoint)")
        return None
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
        return _provider()(
            args.token_url,
            client_id=args.client_id,
            client_secret_keyring=entry,
            scope=args.scope,
            auth=auth,
            positive_response=bool(args.pos_response),
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


TOKEN_ENDPOINT = IdentityTypeEntry(
    config=TokenEndpointIdentity,
    provider=_provider,
    key_checks={
        "token_url": v.text,
        "client_id": v.text,
        "client_secret_keyring": v.keyring_entry,
        "scope": v.text,
        "audience": v.text,
        "auth": v.one_of(*_TOKEN_AUTHS),
        "client_key_file": v.text,
        "client_key_id": v.text,
        "client_key_algorithm": v.text,
        "ca_file": v.text,
        "kerberos_hostname": v.text,
        "positive_response": v.flag,
        "timeout": v.seconds,
        "proxy": v.text,
    },
    build=_build,
    cross_check=_cross_check,
    path_keys=("ca_file", "client_key_file"),
    secret_location=_secret_location,
    options=(
        Option(
            "--token-url",
            {
                "metavar": "URL",
                "help": "OAuth2 token endpoint (client-credentials grant); its access token is "
                "sent as a JWT (type 5); needs --client-id",
            },
            exclusive=True,
        ),
        Option("--client-id", {"metavar": "ID", "help": "OAuth2 client id (with --token-url)"}),
        Option(
            "--client-secret-keyring",
            {
                "metavar": "SERVICE:USER",
                "help": "keyring entry holding the OAuth2 client secret (split at the first "
                "colon; store it with 'dicom-identity keyring set --keyring-service SERVICE "
                "--user USER'); needed by --token-auth client-secret",
            },
        ),
        Option("--scope", {"metavar": "S", "help": "OAuth2 scope to ask for (with --token-url)"}),
        Option(
            "--token-auth",
            {
                "choices": _TOKEN_AUTHS,
                "help": "how the client authenticates to the token endpoint (default "
                "client-secret)",
            },
        ),
    ),
    from_flags=_from_flags,
    flag_fields={
        "--token-url": "token_url",
        "--client-id": "client_id",
        "--client-secret-keyring": lambda value: {"client_secret_keyring": keyring_entry(value)},
        "--scope": "scope",
        "--token-auth": "auth",
    },
)
