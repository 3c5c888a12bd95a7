"""No secret on the command line: a flag or argument that holds one is refused, shown masked.

argv is readable by every user of the machine (``ps``, ``/proc/PID/cmdline``) and kept in shell
history, and the values of flags are repeated in messages and, for ``--user``, in the audit
trail. So before anything else runs, every string the parser produced is checked with
:func:`providers._misplaced_secret.find_misplaced_secret`: a URL's user part or secret-named
query parameter, a JWT, an address with a user part (the peer, ``alice:pw@host:104``) and a
``USER:PASSWORD`` given to ``--user``. The refusal (exit 3) shows the value masked.
"""

from __future__ import annotations

import argparse

from client_sdk._errors import ConfigError
from providers._misplaced_secret import refuse_misplaced_secret

# argparse dests that are positional arguments, as the usage line names them.
_POSITIONALS = {"peer": "the peer argument", "paths": "the PATH argument"}
_KEYS = "key"  # -k KEY=VALUE


def refuse_secrets_in_flags(args: argparse.Namespace) -> None:
    """:class:`ConfigError` naming the first flag that holds a secret; the secret masked."""
    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                refuse_misplaced_secret(
                    item,
                    _where(dest),
                    error=ConfigError,
                    # HOST:PORT (a configured peer's name has no colon, nor a user part)
                    address=dest == "peer" and ":" in item,
                    username=dest == "user",
                )


def _where(dest: str) -> str:
    if dest in _POSITIONALS:
        return _POSITIONALS[dest]
    if dest == _KEYS:
        return "-k"
    return "--" + dest.replace("_", "-")
