"""What ``dicom-identity --help`` shows that lives in heavier modules, written out (issue 16).

The parser is built for every command line, ``--help`` and ``--version`` included; importing the
identity-type registry (every type's entry and config checks), the SDK's errors (``providers``'
base classes) and the policy to describe a few flags cost about two thirds of the start-up.
These copies are what the parser shows; ``tests/test_cli_startup_imports.py`` checks that each
equals its source (``OPTIONS`` of the registry, ``EXIT_CODES``, ``MissingResponse``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up (issue 16)
if TYPE_CHECKING:
    from typing import Any

# client_sdk._identity_types.registry.OPTIONS: (flag, add_argument keywords, exclusive).
IDENTITY_FLAGS: tuple[tuple[str, dict[str, Any], bool], ...] = (
    (
        "--user",
        {
            "metavar": "NAME",
            "help": "username (type 1, or 2 with --keyring-service); on a configured peer, the "
            "username of its username or keyring-password identity (the other flags likewise "
            "change only the configured identity's own fields)",
        },
        False,
    ),
    (
        "--keyring-service",
        {
            "metavar": "SERVICE",
            "help": "password of --user from the keyring (store it with 'dicom-identity keyring "
            "set --keyring-service SERVICE --user NAME')",
        },
        False,
    ),
    ("--jwt-file", {"metavar": "PATH", "help": "JWT read from this file (type 5)"}, True),
    (
        "--kerberos",
        {
            "nargs": "?",
            "const": "",
            "metavar": "SERVICE@HOST",
            "help": "Kerberos ticket from the ticket cache (type 3); default service "
            "dicom@PEER-HOST",
        },
        True,
    ),
    (
        "--saml-file",
        {"metavar": "PATH", "help": "SAML 2.0 assertion read from this file (type 4)"},
        True,
    ),
    (
        "--token-url",
        {
            "metavar": "URL",
            "help": "OAuth2 token endpoint (client-credentials grant); its access token is sent "
            "as a JWT (type 5); needs --client-id",
        },
        True,
    ),
    ("--client-id", {"metavar": "ID", "help": "OAuth2 client id (with --token-url)"}, False),
    (
        "--client-secret-keyring",
        {
            "metavar": "SERVICE:USER",
            "help": "keyring entry holding the OAuth2 client secret (split at the first colon; "
            "store it with 'dicom-identity keyring set --keyring-service SERVICE --user USER'); "
            "needed by --token-auth client-secret",
        },
        False,
    ),
    ("--scope", {"metavar": "S", "help": "OAuth2 scope to ask for (with --token-url)"}, False),
    (
        "--token-auth",
        {
            "choices": ("client-secret", "client-secret-basic", "private-key-jwt", "kerberos"),
            "help": "how the client authenticates to the token endpoint (default client-secret)",
        },
        False,
    ),
)

# client_sdk._cli.exit_codes.EXIT_CODES (and EXIT_OTHER, and argparse's 2): code, meaning.
EXIT_CODE_LINES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (1, "any other error"),
    (2, "usage error"),
    (3, "configuration or command-line error"),
    (4, "credential unavailable or unusable; nothing was sent"),
    (5, "peer unreachable"),
    (6, "authentication rejected, or mutual authentication failed"),
    (7, "positive response missing, and the policy stopped"),
    (8, "association rejected or aborted (not for the identity)"),
    (9, "DIMSE operation failed (including 0x0124 not authorized)"),
    (10, "audit required and its event could not be written; no DIMSE operation"),
)

# client_sdk._policy.MissingResponse values, for --on-missing-response.
MISSING_RESPONSE_CHOICES: tuple[str, ...] = ("abort", "release", "warn", "proceed")


def exit_code_help() -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODE_LINES)
