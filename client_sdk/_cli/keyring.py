"""``dicom-identity keyring set|check|delete``, and keyring advice in the command line's terms.

An entry is named by a configured peer (the keyring entry its identity reads: a keyring-password
identity's password, or a token endpoint's client secret) or, for a peer not in the
configuration, by ``--keyring-service SERVICE --user NAME``, the flags ``echo`` takes.

The providers do not know the command line: a missing entry is a
:class:`~providers.KeyringEntryMissing` that carries the service and user, and
:func:`in_cli_terms` re-words its advice as the ``dicom-identity keyring set`` command that adds
exactly that entry. The backend comes from :func:`providers._keyring_access.default_backend`, so
``keyring set`` and ``echo`` give the same advice when no backend is usable.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING

from client_sdk._cli.report import Reporter
from client_sdk._errors import ConfigError
from providers import CredentialError, CredentialUnavailable, KeyringEntryMissing, Secret
from providers._keyring_access import backend_name, default_backend, describe_backend_error

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

    from client_sdk._config.model import Config, KeyringEntry


def keyring_command(config: Config, args: argparse.Namespace, report: Reporter) -> int:
    entry = _entry(config, args)
    command = _set_command(config, args, entry)
    backend = default_backend()  # the same error, and advice, as echo's when none is usable
    name = backend_name(backend)
    fields = {
        "service": entry.service,
        "username": entry.username,
        "kind": entry.what,
        "identity": entry.identity,
        "backend": name,
    }
    what = f"the {entry.what} of {entry.username!r} for keyring service {entry.service!r} in {name}"
    if entry.identity:
        what += f" (identity {entry.identity!r})"
    if args.keyring_command == "set":
        _store(backend, entry)
        report.message(f"stored {what}", **fields)
    elif args.keyring_command == "check":
        if not _present(backend, entry, name, command):
            raise CredentialError(f"{what} is empty: set it again with: {command}")
        report.message(f"present: {what}", present=True, **fields)
    else:
        try:
            _present(backend, entry, name, command)
        except KeyringEntryMissing:
            raise CredentialUnavailable(
                f"nothing to delete: there is no {what}. Check the peer name, or list what "
                f"the peer's identity reads with: dicom-identity config show PEER"
            ) from None
        try:
            backend.delete_password(entry.service, entry.username)
        except Exception as exc:  # a backend may raise anything (locked, read-only)
            raise CredentialError(f"cannot delete {what}: {describe_backend_error(exc)}") from None
        report.message(f"deleted {what}", **fields)
    return 0


def in_cli_terms(error: Exception, config: Config | None, args: argparse.Namespace) -> Exception:
    """``error`` with its advice as a ``dicom-identity`` command, where it has one."""
    if not isinstance(error, KeyringEntryMissing):
        return error
    from client_sdk._config.model import KeyringEntry  # the config: not loaded for --help

    entry = KeyringEntry(error.service, error.username, error.what, "")
    return error.advising(_set_command(config, args, entry))


def _entry(config: Config, args: argparse.Namespace) -> KeyringEntry:
    given = (args.keyring_service, args.user)
    if args.peer is not None:
        if any(given):
            raise ConfigError(
                f"keyring {args.keyring_command}: give a configured PEER or --keyring-service "
                "SERVICE --user NAME, not both"
            )
        return config.keyring_entry(args.peer)
    if not all(given):
        raise ConfigError(
            f"keyring {args.keyring_command}: give a configured PEER, or --keyring-service "
            "SERVICE --user NAME for an entry no configured peer reads"
        )
    from client_sdk._config.model import KeyringEntry

    return KeyringEntry(args.keyring_service, args.user, "password", "")


def _set_command(config: Config | None, args: argparse.Namespace, entry: KeyringEntry) -> str:
    """The command that stores ``entry``: ``keyring set PEER`` when ``args.peer`` is configured
    and its identity reads exactly that entry, else with --keyring-service and --user."""
    peer = getattr(args, "peer", None)
    if config is not None and isinstance(peer, str) and peer in config.peers:
        try:
            configured = config.keyring_entry(peer)
        except ConfigError:  # the peer's identity reads no keyring entry
            configured = None
        if configured is not None and (configured.service, configured.username) == (
            entry.service,
            entry.username,
        ):
            return f"dicom-identity{_config_flag(args)} keyring set {shlex.quote(peer)}"
    return (
        f"dicom-identity keyring set --keyring-service {shlex.quote(entry.service)} "
        f"--user {shlex.quote(entry.username)}"
    )


def _config_flag(args: argparse.Namespace) -> str:
    path = getattr(args, "config", None)
    return f" --config {shlex.quote(path)}" if isinstance(path, str) else ""


def _store(backend: KeyringBackend, entry: KeyringEntry) -> None:
    import getpass

    if sys.stdin.isatty():
        secret = Secret(
            getpass.getpass(
                f"{entry.what.capitalize()} of {entry.username} (keyring service {entry.service}): "
            )
        )
    else:  # a pipe, for scripts: the first line, never argv
        secret = Secret(sys.stdin.readline().rstrip("\r\n"))
    if not secret:
        raise ConfigError(f"empty {entry.what}: nothing stored")
    failure: CredentialError | None = None
    try:
        backend.set_password(entry.service, entry.username, secret.reveal().decode("utf-8"))
    except Exception as exc:  # a backend may raise anything (locked, D-Bus down, read-only)
        failure = CredentialError(
            f"the keyring backend {backend_name(backend)} could not store the {entry.what} of "
            f"{entry.username!r} for keyring service {entry.service!r}: "
            f"{describe_backend_error(exc)}"
        )
    del secret
    if failure is not None:
        raise failure  # outside the handler: no context holding the frame with the secret


def _present(backend: KeyringBackend, entry: KeyringEntry, name: str, command: str) -> bool:
    """Whether the entry exists and is not empty; raises KeyringEntryMissing when absent. The
    value is dropped at once, never shown."""
    failure: CredentialError | None = None
    try:
        value = backend.get_password(entry.service, entry.username)
        found, filled = value is not None, bool(value)
        del value
    except Exception as exc:  # a backend may raise anything (locked, D-Bus down, corrupt)
        failure = CredentialError(
            f"the keyring backend {name} failed reading keyring service {entry.service!r}, "
            f"user {entry.username!r}: {describe_backend_error(exc)}"
        )
    if failure is not None:
        raise failure
    if not found:
        raise KeyringEntryMissing(
            entry.service, entry.username, what=entry.what, backend=name, advice=command
        )
    return filled
