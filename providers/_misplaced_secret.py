"""Secrets typed where no secret belongs, found in one place, shown masked, refused uniformly.

An address, a URL, a username, a flag's or a setting's value never holds a secret: whatever is
typed there is echoed in error messages, logs, the audit trail and shell history. What is
recognised as a secret typed there (issue 14, finding 10):

* the user part of an address or URL: ``alice:pw@host:104``, ``https://u:pw@idp/token``;
* a URL query or fragment parameter named like a secret (``client_secret``, ``password``,
  ``access_token``, ``api_key``, ``sig`` ...);
* a JWT (``eyJ...``), anywhere;
* for a username: ``USER:PASSWORD`` typed as one (``--user alice:pw``).

The refusal shows the value with every such part replaced by ``***`` (``alice:***@host:104``),
says where the secret belongs, and raises the caller's own error type (providers raise
``ValueError`` or ``InvalidIdentity``, the configuration ``InvalidConfig``, the command line
``ConfigError``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from providers._outside_text import quoted

MASK = "***"
_SHOWN_LENGTH = 160

# Where each kind of secret belongs instead (the Python API's and the command line's words).
_KEYRING_PASSWORD = (
    'a password goes in the keyring (type = "keyring-password", KeyringPasswordProvider, '
    "or --user NAME --keyring-service SERVICE)"
)
_KEYRING_CLIENT_SECRET = (
    'an OAuth2 client secret goes in the keyring (client_secret_keyring = ["SERVICE", "USER"], '
    "or --client-secret-keyring SERVICE:USER)"
)
_TOKEN_FILE = 'a token goes in a file an agent rotates (type = "jwt-file", or --jwt-file PATH)'
WHERE_SECRETS_GO = f"{_KEYRING_PASSWORD}; {_TOKEN_FILE}; {_KEYRING_CLIENT_SECRET}"

# A URL's user part: scheme://USERINFO@, up to the last @ before any ? or # (a password may hold
# an unencoded @ or /: all of it is masked rather than any of it shown).
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^?#\s]*)@")
# A host or HOST:PORT with a user part in front: USERINFO@host..., up to the last @.
_ADDRESS_USERINFO = re.compile(r"^(?P<userinfo>.*)@")
# A JWT's header is base64url JSON ({"alg": ...}): "eyJ" and at least a dozen more characters.
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{12,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?")
# name=value pairs after ? or # (and after & or ; within them).
_PARAMETER = re.compile(r"(?P<lead>[?#&;])(?P<name>[^=&;#]+)=(?P<value>[^&;#]*)")

_SECRET_WORDS = (
    "password",
    "passwd",
    "passcode",
    "secret",
    "token",
    "apikey",
    "api_key",
    "assertion",
    "credential",
    "signature",
    "samlresponse",
)
_SECRET_NAMES = frozenset({"pwd", "pass", "pw", "key", "sig", "auth", "authorization"})


@dataclass(frozen=True)
class MisplacedSecret:
    """What looked like a secret, the whole value with every one masked, and where it belongs."""

    what: str
    shown: str
    fix: str


def is_secret_name(name: str) -> bool:
    """A parameter name that says its value is a secret (``client_secret``, ``X-Api-Key``)."""
    word = name.strip().lower().replace("-", "_")
    return word in _SECRET_NAMES or any(part in word for part in _SECRET_WORDS)


def find_misplaced_secret(
    value: object, *, address: bool = False, username: bool = False
) -> MisplacedSecret | None:
    """The first secret-looking part of ``value``, with the whole value masked; None if none.

    ``address``: the value is a host or ``HOST:PORT`` (a user part in front is a secret);
    ``username``: a colon splits ``USER:PASSWORD``. URLs are recognised in any value.
    """
    if not isinstance(value, str):
        return None
    found: list[tuple[str, str]] = []
    shown = _mask(value, address=address, username=username, found=found)
    return MisplacedSecret(found[0][0], shown, found[0][1]) if found else None


def masked(value: str, *, address: bool = False, username: bool = False) -> str:
    """``value`` with every secret-looking part replaced by ``***`` (unchanged if none)."""
    return _mask(value, address=address, username=username, found=[])


def refuse_misplaced_secret(
    value: object,
    where: str,
    *,
    error: Callable[[str], Exception] = ValueError,
    address: bool = False,
    username: bool = False,
) -> None:
    """Raise ``error(message)`` when ``value`` holds a secret; the message names ``where``,
    shows the value masked, and says where the secret belongs. Returns when it holds none."""
    finding = find_misplaced_secret(value, address=address, username=username)
    if finding is None:
        return
    del value  # not kept by this frame once the error leaves it
    raise error(refusal(where, finding))


def refusal(where: str, finding: MisplacedSecret) -> str:
    """The one wording of the refusal, for callers that collect problems instead of raising."""
    return (
        f"{where} {quoted(finding.shown, _SHOWN_LENGTH)} holds {finding.what}, and no secret goes "
        "there: it would be repeated in messages, logs, the audit trail and shell history. "
        f"Nothing was used or sent. {finding.fix}. If it is a real secret, change it: it was "
        "typed where others can read it"
    )


def _mask(value: str, *, address: bool, username: bool, found: list[tuple[str, str]]) -> str:
    text = value
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: _userinfo(m["scheme"], m["userinfo"], found), text)
        text = _PARAMETER.sub(lambda m: _parameter(m, found), text)
    elif address and "@" in text:
        text = _ADDRESS_USERINFO.sub(lambda m: _userinfo("", m["userinfo"], found), text)
    elif username and ":" in text:
        user, _, _ = text.partition(":")
        found.append(
            (
                "a password after the colon (USER:PASSWORD)",
                f"Give the username alone: {_KEYRING_PASSWORD}",
            )
        )
        text = f"{user}:{MASK}"
    if _JWT.search(text):
        found.append(("a JWT", f"Remove it: {_TOKEN_FILE}"))
        text = _JWT.sub(MASK, text)
    return text


def _userinfo(scheme: str, userinfo: str, found: list[tuple[str, str]]) -> str:
    if scheme:
        fix = f"Give the URL without a user part: {_KEYRING_CLIENT_SECRET}; {_KEYRING_PASSWORD}"
    else:
        fix = f"Give the address as HOST:PORT: {_KEYRING_PASSWORD}"
    user, colon, _ = userinfo.partition(":")
    if colon:
        found.append(("credentials in its user part (USER:PASSWORD@)", fix))
        return f"{scheme}{user}:{MASK}@"
    # A user part alone can be a token too (https://TOKEN@host/): mask it whole.
    found.append(("a user part (USER@), which may be a credential", fix))
    return f"{scheme}{MASK}@"


def _parameter(match: re.Match[str], found: list[tuple[str, str]]) -> str:
    name = match["name"]
    if not match["value"] or not is_secret_name(name):
        return match[0]
    found.append(
        (f"the parameter {quoted(name, 40)}", f"Drop the parameter: {_KEYRING_CLIENT_SECRET}")
    )
    return f"{match['lead']}{name}={MASK}"
