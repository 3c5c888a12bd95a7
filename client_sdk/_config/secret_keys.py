"""The configuration file never holds a secret: keys and values that look like one are refused.

A refused key is removed before the rest is validated, so it is reported once, as a secret; a
value that looks like a token is replaced by WITHHELD. Neither value ever reaches a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from client_sdk._config.problems import Problems
from client_sdk._config.values import dotted

WITHHELD = "(withheld: it looked like a token)"

NO_SECRETS_HINT = (
    "the configuration file never holds a secret: keep a password in the keyring "
    '(dicom-identity keyring set PEER, with an identity of type = "keyring-password"), a '
    'token in a file an agent rotates (type = "jwt-file", path = ...), and a client secret in '
    'the keyring (type = "token-endpoint", client_secret_keyring = ["SERVICE", "USER"])'
)
_SECRET_NAMES = frozenset(
    {"password", "passcode", "passwd", "secret", "token", "client_secret", "api_key", "apikey"}
)
_SECRET_PARTS = ("password", "secret")
# access_token, bearer_token ...; but token_format (Kerberos) is no secret.
_SECRET_LAST_WORDS = frozenset({"token", "passcode"})
_REFERENCE_SUFFIX = "_keyring"
_JWT = re.compile(r"\s*(?:bearer\s+)?eyJ[\w-]*\.[\w-]*\.", re.IGNORECASE)
# Under these tables the keys are names the user chose (an identity may be called "x-password").
_NAMED_TABLES = ("peers", "identities", "policies")


def is_secret_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    if name.endswith(_REFERENCE_SUFFIX):
        return False  # client_secret_keyring = [SERVICE, USER]: where a secret is, not the secret
    return (
        name in _SECRET_NAMES
        or any(part in name for part in _SECRET_PARTS)
        or name.rsplit("_", 1)[-1] in _SECRET_LAST_WORDS
    )


def looks_like_a_token(value: object) -> bool:
    return isinstance(value, str) and _JWT.match(value) is not None


def without_secrets(document: Mapping[str, Any], problems: Problems) -> dict[str, Any]:
    """A copy of ``document`` without secret-looking keys and values, each one reported."""
    return _clean_table(document, (), problems)


def _clean_table(
    table: Mapping[str, Any], path: tuple[str | int, ...], problems: Problems
) -> dict[str, Any]:
    keys_are_names = len(path) == 1 and path[0] in _NAMED_TABLES
    clean: dict[str, Any] = {}
    for key, value in table.items():
        where = (*path, key)
        if not keys_are_names and is_secret_key(key):
            problems.add(dotted(where), NO_SECRETS_HINT)
        elif looks_like_a_token(value):
            problems.add(dotted(where), f"this looks like a JWT; {NO_SECRETS_HINT}")
            clean[key] = WITHHELD
        else:
            clean[key] = _clean_value(value, where, problems)
    return clean


def _clean_value(value: Any, path: tuple[str | int, ...], problems: Problems) -> Any:
    if isinstance(value, Mapping):
        return _clean_table(value, path, problems)
    if isinstance(value, list):
        clean: list[Any] = []
        for index, item in enumerate(value):
            where = (*path, index)
            if looks_like_a_token(item):
                problems.add(dotted(where), f"this looks like a JWT; {NO_SECRETS_HINT}")
                clean.append(WITHHELD)
            else:
                clean.append(_clean_value(item, where, problems))
        return clean
    return value
