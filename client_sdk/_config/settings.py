"""Where each setting comes from: one table, read as argument, then environment, then file,
then default. Every effective value keeps its source."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from client_sdk._config import values as v
from client_sdk._config.problems import InvalidConfig, Problems
from client_sdk._config.schema import MISSING_RESPONSES
from client_sdk._peer import DEFAULT_CALLING_AE_TITLE
from client_sdk._policy import MissingResponse, Policy
from client_sdk._timeouts import Timeouts
from client_sdk._tls import TlsConfig
from providers import IdentityProvider
from providers._misplaced_secret import (
    WHERE_SECRETS_GO,
    find_misplaced_secret,
    is_secret_name,
    refusal,
)

SOURCE_ARGUMENT = "argument"
ENVIRONMENT_PREFIX = "DICOM_IDENTITY_"
SOURCE_DEFAULT = "default"


@dataclass(frozen=True)
class Overrides:
    """What the caller (the CLI's flags) gives: each field, when set, wins over everything else.

    ``identity`` replaces the configured identity; ``tls`` the configured TLS of the peer;
    ``missing_response`` the policy's rule (its ``per_type`` rules still apply); ``audit_file``
    the ``[audit]`` file (DICOM audit messages; the logging record stays as configured);
    ``audit_required`` its ``required``.
    """

    calling_ae_title: str | None = None
    connect_timeout: float | None = None
    acse_timeout: float | None = None
    dimse_timeout: float | None = None
    network_timeout: float | None = None
    identity: IdentityProvider | None = None
    missing_response: str | MissingResponse | None = None
    allow_insecure_transport: bool | None = None
    tls: TlsConfig | None = None
    audit_file: str | None = None
    audit_required: bool | None = None


@dataclass(frozen=True)
class Setting:
    """One effective setting of a peer, shown: ``source`` is "argument", "environment: NAME",
    "file: PATH:DOTTED.KEY" or "default"."""

    key: str
    value: str
    source: str


@dataclass(frozen=True)
class Resolved:
    value: Any
    source: str


def _stripped(text: str) -> str:
    return text.strip()


def _lowered(text: str) -> str:
    return text.strip().lower()


def _missing_response(value: object) -> str:
    rule = value.value if isinstance(value, MissingResponse) else value
    return str(v.one_of(*MISSING_RESPONSES)(rule))


def _identity_provider(value: object) -> IdentityProvider:
    if not isinstance(value, IdentityProvider):
        raise v.Invalid(f"must be an identity provider (with negotiate(target)), got {value!r}")
    return value


def _tls_config(value: object) -> TlsConfig:
    if not isinstance(value, TlsConfig):
        raise v.Invalid(f"must be a TlsConfig, got {value!r}")
    return value


@dataclass(frozen=True)
class LayeredSetting:
    """One row of the precedence table.

    ``file_keys``: dotted keys tried in order, the first present wins; ``{peer}`` is the peer's
    name, ``{policy}`` the effective ``policy`` (a row above). ``check`` validates arguments and
    environment values (the file's are checked when it is loaded); ``from_text`` turns an
    environment variable into the value ``check`` takes.
    """

    key: str
    argument: str | None  # the Overrides field
    environment: str | None
    file_keys: tuple[str, ...]
    default: Any
    check: v.Check
    from_text: Callable[[str], Any] = _stripped


_TIMEOUTS = Timeouts()
_POLICY = Policy()
_DEFAULT_RULE = _POLICY.missing_response

# fmt: off
SETTINGS: tuple[LayeredSetting, ...] = (
    LayeredSetting("tls", "tls", None, ("peers.{peer}.tls",), None, _tls_config),
    LayeredSetting(
        "calling_ae_title", "calling_ae_title", "DICOM_IDENTITY_CALLING_AE_TITLE",
        ("peers.{peer}.calling_ae_title", "defaults.calling_ae_title"),
        DEFAULT_CALLING_AE_TITLE, v.ae_title,
    ),
    LayeredSetting(
        "timeouts.connect", "connect_timeout", "DICOM_IDENTITY_CONNECT_TIMEOUT",
        ("peers.{peer}.timeouts.connect", "defaults.timeouts.connect"),
        _TIMEOUTS.connect, v.seconds, v.number_from_text,
    ),
    LayeredSetting(
        "timeouts.acse", "acse_timeout", "DICOM_IDENTITY_ACSE_TIMEOUT",
        ("peers.{peer}.timeouts.acse", "defaults.timeouts.acse"),
        _TIMEOUTS.acse, v.seconds, v.number_from_text,
    ),
    LayeredSetting(
        "timeouts.dimse", "dimse_timeout", "DICOM_IDENTITY_DIMSE_TIMEOUT",
        ("peers.{peer}.timeouts.dimse", "defaults.timeouts.dimse"),
        _TIMEOUTS.dimse, v.seconds, v.number_from_text,
    ),
    LayeredSetting(
        "timeouts.network", "network_timeout", "DICOM_IDENTITY_NETWORK_TIMEOUT",
        ("peers.{peer}.timeouts.network", "defaults.timeouts.network"),
        _TIMEOUTS.network, v.seconds, v.number_from_text,
    ),
    LayeredSetting(
        "identity", "identity", None, ("peers.{peer}.identity",), None, _identity_provider,
    ),
    LayeredSetting("policy", None, None, ("peers.{peer}.policy", "defaults.policy"), None, v.text),
    LayeredSetting(
        "policy.missing_response", "missing_response", "DICOM_IDENTITY_ON_MISSING_RESPONSE",
        ("policies.{policy}.missing_response",),
        _DEFAULT_RULE.value if isinstance(_DEFAULT_RULE, MissingResponse) else "abort",
        _missing_response, _lowered,
    ),
    LayeredSetting(
        "policy.allow_insecure_transport", "allow_insecure_transport",
        "DICOM_IDENTITY_ALLOW_INSECURE_TRANSPORT", ("policies.{policy}.allow_insecure_transport",),
        _POLICY.allow_insecure_transport, v.flag, v.flag_from_text,
    ),
    LayeredSetting(
        "policy.echo_is_missing", None, None, ("policies.{policy}.echo_is_missing",),
        _POLICY.echo_is_missing, v.flag,
    ),
    # [audit]: one table for every peer (client_sdk/_config/audit.py).
    LayeredSetting("audit.file", "audit_file", None, ("audit.file",), None, v.text),
    LayeredSetting("audit.log", None, None, ("audit.log",), True, v.flag),
    LayeredSetting("audit.fsync", None, None, ("audit.fsync",), False, v.flag),
    LayeredSetting(
        "audit.required", "audit_required", "DICOM_IDENTITY_AUDIT_REQUIRED", ("audit.required",),
        False, v.flag, v.flag_from_text,
    ),
    LayeredSetting("audit.source_id", None, None, ("audit.source_id",), None, v.text),
    LayeredSetting("audit.site_id", None, None, ("audit.site_id",), None, v.text),
)
# fmt: on

# The file's value at a dotted key (as parts) and its source, or None when the file has none.
FileLookup = Callable[[tuple[str, ...]], "Resolved | None"]


def read_environment(environ: Mapping[str, str], problems: Problems) -> dict[str, str]:
    """The variables of the table that are set (and not empty), each checked."""
    found: dict[str, str] = {}
    _refuse_secret_variables(environ, problems)
    for setting in SETTINGS:
        name = setting.environment
        if name is None or not environ.get(name, "").strip():
            continue
        found[name] = environ[name]
        misplaced = find_misplaced_secret(environ[name])
        if misplaced is not None:  # a token or a URL with a password: refused, shown masked
            problems.add(name, refusal("the value", misplaced))
            continue
        try:
            setting.check(setting.from_text(environ[name]))
        except v.Invalid as exc:
            problems.add(name, str(exc))
    return found


def _refuse_secret_variables(environ: Mapping[str, str], problems: Problems) -> None:
    """``DICOM_IDENTITY_PASSWORD`` and the like: no secret is read from the environment."""
    for name in sorted(environ):
        if name.startswith(ENVIRONMENT_PREFIX) and is_secret_name(name[len(ENVIRONMENT_PREFIX) :]):
            problems.add(
                name,
                "is set, but no secret is read from the environment (every process started from "
                f"this shell inherits it): unset it. {WHERE_SECRETS_GO[0].upper()}"
                f"{WHERE_SECRETS_GO[1:]}",
            )


def resolve(
    overrides: Overrides,
    environment: Mapping[str, str],
    file_value: FileLookup,
    peer: str | None,
) -> dict[str, Resolved]:
    """Every setting of the table for one peer (None: an address not in the file)."""
    arguments = Problems("argument")
    variables = Problems("environment")
    resolved: dict[str, Resolved] = {}
    for setting in SETTINGS:
        names = {"peer": peer, "policy": resolved["policy"].value if "policy" in resolved else None}
        resolved[setting.key] = _resolve_one(
            setting, overrides, environment, file_value, names, arguments, variables
        )
    if arguments.lines or variables.lines:
        raise InvalidConfig(arguments.lines + variables.lines)
    return resolved


def _resolve_one(
    setting: LayeredSetting,
    overrides: Overrides,
    environment: Mapping[str, str],
    file_value: FileLookup,
    names: Mapping[str, str | None],
    arguments: Problems,
    variables: Problems,
) -> Resolved:
    argument = getattr(overrides, setting.argument) if setting.argument else None
    if argument is not None:
        try:
            return Resolved(setting.check(argument), SOURCE_ARGUMENT)
        except v.Invalid as exc:
            arguments.add(str(setting.argument), str(exc))
    text = environment.get(setting.environment, "") if setting.environment else ""
    if text.strip():
        try:
            return Resolved(
                setting.check(setting.from_text(text)), f"environment: {setting.environment}"
            )
        except v.Invalid as exc:
            variables.add(str(setting.environment), str(exc))
    for template in setting.file_keys:
        filled = [_fill(part, names) for part in template.split(".")]
        parts = tuple(part for part in filled if part is not None)
        found = file_value(parts) if len(parts) == len(filled) else None
        if found is not None:
            return found
    return Resolved(setting.default, SOURCE_DEFAULT)


def _fill(part: str, names: Mapping[str, str | None]) -> str | None:
    if part.startswith("{") and part.endswith("}"):
        return names[part[1:-1]]
    return part
