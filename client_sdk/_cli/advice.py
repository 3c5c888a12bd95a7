"""Advice in the command line's terms.

An SDK error's message speaks to a Python caller (``Policy(per_type={...})``). Where an error
carries its advice as data, the command line words it with what its user can change: flags and
the keys of the configuration file. ``Reporter.error`` prints what :func:`error_text` returns.
"""

from __future__ import annotations

import re

from client_sdk._errors import ResponseAdvice, ServerResponseMissing, never_answers

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_POLICY_TABLE = "[policies.NAME] (the peer's policy)"


def error_text(error: BaseException) -> str:
    """The one line the command line shows for ``error`` (without the class name)."""
    if isinstance(error, ServerResponseMissing) and error.advice is not None:
        return f"{error.fact} {response_advice(error.advice)}"
    return str(error)


def response_advice(advice: ResponseAdvice) -> str:
    """What lets an association without its requested response go on, as flags and keys."""
    if advice.required_by:
        return (
            "The kerberos identity requires the answer whatever the policy says (mutual_auth = "
            '"required"); set mutual_auth = "optional" in its [identities.NAME] only for a peer '
            "that never answers"
        )
    label = advice.identity_type.label
    per_type = f'per_type.{_toml_key(label)} = "warn"'
    if advice.per_type:
        rule = (
            f"set {per_type} in {_POLICY_TABLE}: the rule for {label} identities is set there, "
            "and --on-missing-response does not change it"
        )
    else:
        rule = (
            f'run with --on-missing-response warn, or set missing_response = "warn" in '
            f"{_POLICY_TABLE} ({per_type} for {label} identities only)"
        )
    if advice.echoed:
        return (
            "The peer's acceptor sends every requestor its own token back (dcm4che's default): "
            f"if that is all this peer does, set echo_is_missing = false in {_POLICY_TABLE}, "
            f"or {rule}"
        )
    return f"If this peer never answers {never_answers(advice.identity_type)}, {rule}"


def _toml_key(key: str) -> str:
    """A TOML key as it must be written: bare when it can be, else quoted ("username+passcode")."""
    return key if _BARE_KEY.fullmatch(key) else f'"{key}"'
