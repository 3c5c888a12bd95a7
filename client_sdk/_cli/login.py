"""``dicom-identity login PEER [--device|--browser]``, ``logout PEER``, ``whoami PEER``: the
OpenID Connect login of a configured peer whose identity is ``type = "oidc-login"``.

``login`` runs the flow now (the person's part is printed on stderr), ``whoami`` says who is
logged in (principal, issuer, client, scopes, expiry; never a token), ``logout`` revokes the
refresh token at the issuer where it can and deletes it from the keyring. For the other commands
a configured oidc-login peer logs in by itself only when stdin is a terminal
(:func:`login_identity_for_peer`); otherwise a missing login is an error that names the command
to run.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up, issue 16)

if TYPE_CHECKING:  # the parser imports this module: the rest loads when a command runs
    from client_sdk._cli.report import Reporter
    from client_sdk._config.model import Config
    from client_sdk._identity_types.oidc_login import OidcLoginIdentity
    from providers._oidc_login import LoginStatus, OidcLoginProvider

__all__ = ["LOGIN_COMMANDS", "add_login_commands", "login_identity_for_peer"]


def add_login_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "login", help="log in to a peer's OpenID Provider (its identity is type oidc-login)"
    )
    p.add_argument("peer", help='a configured peer whose identity is type = "oidc-login"')
    flows = p.add_mutually_exclusive_group()
    flows.add_argument(
        "--device",
        dest="flow",
        action="store_const",
        const="device",
        help="device flow: print a URL and a code to enter on any device",
    )
    flows.add_argument(
        "--browser",
        dest="flow",
        action="store_const",
        const="browser",
        help="browser flow: open a browser on this machine (authorization code with PKCE)",
    )
    p = sub.add_parser("logout", help="revoke and forget a peer's OpenID Connect login")
    p.add_argument("peer", help='a configured peer whose identity is type = "oidc-login"')
    p = sub.add_parser("whoami", help="who is logged in for a peer (never a token)")
    p.add_argument("peer", help='a configured peer whose identity is type = "oidc-login"')


def _login_identity(config: Config, peer: str) -> OidcLoginIdentity | None:
    from client_sdk._identity_types.oidc_login import OidcLoginIdentity

    configured = config.peers.get(peer)
    name = None if configured is None else configured.identity
    identity = None if name is None else config.identities.get(name)
    return identity if isinstance(identity, OidcLoginIdentity) else None


def _provider(config: Config, peer: str, *, interactive: bool) -> OidcLoginProvider:
    identity = _login_identity(config, peer)
    if identity is None:
        from client_sdk._errors import ConfigError  # not at import: the parser imports this

        if peer not in config.peers:
            known = ", ".join(sorted(config.peers)) or "none"
            raise ConfigError(
                f"peer {peer!r} is not in the configuration ({config.where}; configured: "
                f"{known}); login, logout and whoami take a configured peer's name"
            )
        name = config.peers[peer].identity
        kind = "none" if name is None else f'{name!r}, type = "{config.identities[name].type_name}"'
        raise ConfigError(
            f"peer {peer!r} in {config.where} has no OpenID Connect login (its identity: {kind}); "
            f'login, logout and whoami need an identity of type = "oidc-login" (issuer, '
            f"client_id, scopes, audience) for the peer"
        )
    from client_sdk._identity_types.oidc_login import build_login

    return build_login(
        identity, interactive=interactive, login_command=f"dicom-identity login {peer}"
    )


def login_identity_for_peer(config: Config, peer: str) -> OidcLoginProvider | None:
    """A configured oidc-login peer's provider for echo, store, find...: it logs in by itself
    when stdin is a terminal, and its errors name ``dicom-identity login PEER``. None for any
    other peer."""
    if _login_identity(config, peer) is None:
        return None
    return _provider(config, peer, interactive=sys.stdin.isatty())


def _status(report: Reporter, peer: str, status: LoginStatus, what: str) -> None:
    from providers._token_answer import iso_time

    expires = iso_time(status.expires_at) if status.expires_at is not None else None
    fields = {
        "peer": peer,
        "principal": status.principal,
        "name": status.name,
        "issuer": status.issuer,
        "client_id": status.client_id,
        "scopes": " ".join(status.scopes),
        "expires": expires,
    }
    if report.as_json:
        report.item(what, fields)
        return
    shown = f"{status.principal!r}" + (f" ({status.name})" if status.name else "")
    report.message(
        f"{peer}: {what} as {shown} at {status.issuer} (client {status.client_id}); "
        f"scopes {fields['scopes'] or '-'}; access token valid until {expires or 'unknown'}"
    )


def _login(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    provider = _provider(config, args.peer, interactive=True)
    _status(report, args.peer, provider.login(args.flow), "logged in")
    return 0


def _whoami(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    # Never waits for a person: no login, or one that ended, is LoginRequired naming the command.
    provider = _provider(config, args.peer, interactive=False)
    _status(report, args.peer, provider.whoami(), "logged in")
    return 0


def _logout(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    provider = _provider(config, args.peer, interactive=False)
    result = provider.logout()
    fields = {"peer": args.peer, "revoked": result.revoked, "deleted": result.deleted}
    if report.as_json:
        report.item("logged out", {**fields, "note": result.note})
        return 0
    revoked = "revoked at the issuer" if result.revoked else f"not revoked ({result.note})"
    deleted = "deleted from the keyring" if result.deleted else "none was in the keyring"
    report.message(f"{args.peer}: logged out; the refresh token {revoked}; {deleted}")
    return 0


LOGIN_COMMANDS = {"login": _login, "logout": _logout, "whoami": _whoami}
