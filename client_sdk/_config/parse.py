"""From the TOML document to the configuration's dataclasses, every problem collected.

Three passes: each table's keys and values; then the names that tables refer to
(:mod:`client_sdk._config.references`); then, when nothing was wrong, the dataclasses.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from client_sdk._config.audit import AUDIT_KEYS, AuditConfig, audit_config
from client_sdk._config.problems import Problems
from client_sdk._config.references import check_chain_cycles, check_references
from client_sdk._config.schema import (
    DEFAULTS_KEYS,
    IDENTITY_TYPES,
    PEER_KEYS,
    PEER_REQUIRED_KEYS,
    POLICY_KEYS,
    REQUIRED,
    TABLES,
    DefaultsConfig,
    IdentityConfig,
    PeerConfig,
    PolicyConfig,
    Schema,
    identity_keys,
)
from client_sdk._config.secret_keys import without_secrets
from client_sdk._config.values import Invalid, dotted, show
from client_sdk._identity_types.registry import BY_CONFIG
from client_sdk._tls import TlsConfig

_TLS_FILES = ("ca_file", "cert_file", "key_file")
Values = dict[str, Any]


@dataclass(frozen=True)
class ParsedFile:
    defaults: DefaultsConfig
    peers: dict[str, PeerConfig]
    identities: dict[str, IdentityConfig]
    policies: dict[str, PolicyConfig]
    audit: AuditConfig


def parse_document(
    document: Mapping[str, Any], problems: Problems, base_dir: Path
) -> ParsedFile | None:
    """The file's configuration, or None when ``problems`` got any."""
    document = without_secrets(document, problems)
    for key in document:
        if key not in TABLES:
            problems.add(dotted([key]), _unknown(key, TABLES, "table"))
    defaults = check_table(
        _table(document, "defaults", problems), DEFAULTS_KEYS, ("defaults",), problems
    )
    peers = {
        name: _peer_values(name, table, problems)
        for name, table in _named_tables(document, "peers", problems).items()
    }
    identities = {
        name: _identity_values(name, table, problems)
        for name, table in _named_tables(document, "identities", problems).items()
    }
    policies = {
        name: check_table(table, POLICY_KEYS, ("policies", name), problems)
        for name, table in _named_tables(document, "policies", problems).items()
    }
    audit = check_table(_table(document, "audit", problems), AUDIT_KEYS, ("audit",), problems)
    chains = {
        name: entry[1]["identities"]
        for name, entry in identities.items()
        if entry is not None and "identities" in entry[1]
    }
    check_references(defaults, peers, identities.keys(), policies.keys(), chains, problems)
    check_chain_cycles(chains, problems)
    if problems.lines:
        return None
    defaults["timeouts"] = MappingProxyType(defaults.get("timeouts", {}))
    return ParsedFile(
        defaults=DefaultsConfig(**defaults),
        peers={name: _peer(name, values, base_dir) for name, values in peers.items()},
        identities={
            name: _identity(name, kind_and_values, base_dir)
            for name, kind_and_values in identities.items()
            if kind_and_values is not None
        },
        policies={name: _policy(name, values) for name, values in policies.items()},
        audit=audit_config(audit, base_dir),
    )


def check_table(
    table: Mapping[str, Any], schema: Schema, path: tuple[str, ...], problems: Problems
) -> Values:
    """The valid values of ``table``; unknown keys and bad values go to ``problems``."""
    valid: Values = {}
    for key, value in table.items():
        where = dotted((*path, key))
        rule = schema.get(key)
        if rule is None:
            problems.add(where, _unknown(key, schema, "key"))
        elif isinstance(rule, Mapping):
            if isinstance(value, dict):
                valid[key] = check_table(value, rule, (*path, key), problems)
            else:
                problems.add(where, f"must be a table, got {show(value)}")
        else:
            try:
                valid[key] = rule(value)
            except Invalid as exc:
                problems.add(where, str(exc))
    return valid


def _unknown(key: str, choices: Iterable[str], noun: str) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(key, choices, n=1)
    hint = f" (did you mean {show(close[0])}?)" if close else ""
    return f"unknown {noun}{hint}; valid {noun}s: {', '.join(choices)}"


def _table(document: Mapping[str, Any], key: str, problems: Problems) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        problems.add(dotted([key]), f"must be a table ([{key}]), got {show(value)}")
        return {}
    return value


def _named_tables(
    document: Mapping[str, Any], key: str, problems: Problems
) -> dict[str, Mapping[str, Any]]:
    tables: dict[str, Mapping[str, Any]] = {}
    for name, value in _table(document, key, problems).items():
        if isinstance(value, dict):
            tables[name] = value
        else:
            problems.add(dotted((key, name)), f"must be a table ([{key}.NAME]), got {show(value)}")
    return tables


def _peer_values(name: str, table: Mapping[str, Any], problems: Problems) -> Values:
    path = ("peers", name)
    values = check_table(table, PEER_KEYS, path, problems)
    if "url" in table:
        _check_web_peer(path, table, problems)
    elif "proxy" in table:
        problems.add(dotted((*path, "proxy")), "only for a DICOMweb peer (url): DIMSE has none")
    for key in PEER_REQUIRED_KEYS if "url" not in table else ():
        if key not in table:
            problems.add(
                dotted((*path, key)),
                "missing; a peer needs host, port and ae_title (or url, for DICOMweb)",
            )
    tls = values.get("tls", {})
    if "key_file" in tls and "cert_file" not in tls:
        problems.add(
            dotted((*path, "tls", "key_file")),
            "needs cert_file too (the client certificate whose private key this is)",
        )
    return values


def _check_web_peer(path: tuple[str, ...], table: Mapping[str, Any], problems: Problems) -> None:
    """A DICOMweb peer: an http(s) URL with a host, and none of the DIMSE address keys."""
    for key in PEER_REQUIRED_KEYS:
        if key in table:
            problems.add(
                dotted((*path, key)),
                "not with url: a peer is either DICOMweb (url) or DIMSE (host, port, ae_title)",
            )
    url = table["url"]
    if isinstance(url, str) and not re.match(r"https?://[^/?#\s]+", url, re.IGNORECASE):
        problems.add(
            dotted((*path, "url")),
            "must be the http:// or https:// root of the DICOMweb service, e.g. "
            "https://pacs.example.org/dicom-web",
        )
    proxy = table.get("proxy")
    # No user part: a proxy password has no place in a configuration file.
    if isinstance(proxy, str) and not re.fullmatch(r"https?://[^/@?#\s]+/?", proxy, re.I):
        problems.add(
            dotted((*path, "proxy")),
            "must be the http:// URL of the proxy, host and port only (no user or path), e.g. "
            "http://proxy.example.org:3128",
        )


def _peer(name: str, values: Values, base_dir: Path) -> PeerConfig:
    tls = values.pop("tls", None)
    if tls is not None:
        files = {key: _resolve_path(tls[key], base_dir) for key in _TLS_FILES if key in tls}
        tls = TlsConfig(**{**tls, **files})
    timeouts = MappingProxyType(values.pop("timeouts", {}))
    return PeerConfig(name=name, tls=tls, timeouts=timeouts, **values)


def _policy(name: str, values: Values) -> PolicyConfig:
    per_type = MappingProxyType(values.pop("per_type", {}))
    return PolicyConfig(name=name, per_type=per_type, **values)


IdentityValues = tuple[type[IdentityConfig], Values] | None


def _identity_values(name: str, table: Mapping[str, Any], problems: Problems) -> IdentityValues:
    path = ("identities", name)
    type_key = dotted((*path, "type"))
    kinds = ", ".join(IDENTITY_TYPES)
    if "type" not in table:
        problems.add(type_key, f"missing; the identity type, one of {kinds}")
        return None
    kind = IDENTITY_TYPES.get(table["type"]) if isinstance(table["type"], str) else None
    if kind is None:
        problems.add(type_key, f"must be one of {kinds}; got {show(table['type'])}")
        return None
    keys = identity_keys(kind)
    entry = BY_CONFIG[kind]
    schema = {key: entry.key_checks[key] for key in keys}
    values = check_table({k: v for k, v in table.items() if k != "type"}, schema, path, problems)
    required = [key for key, default in keys.items() if default is REQUIRED]
    for key in required:
        if key not in table:
            problems.add(
                dotted((*path, key)),
                f"missing; a {kind.type_name} identity needs {' and '.join(required)}",
            )
    invalid = set(table) - set(values) - {"type"}
    if entry.cross_check is not None:
        entry.cross_check(path, {**keys, **values}, invalid, problems)
    return kind, values


def _identity(
    name: str, kind_and_values: tuple[type[IdentityConfig], Values], base_dir: Path
) -> IdentityConfig:
    kind, values = kind_and_values
    given = frozenset(values)
    entry = BY_CONFIG[kind]
    for key in entry.path_keys:
        # with residual_paths, "TYPE:residual" (a keytab or ccache) is no file path
        if key in values and not (entry.residual_paths and ":" in values[key]):
            values = {**values, key: _resolve_path(values[key], base_dir)}
    return kind(name=name, from_file=given, **values)


def _resolve_path(value: str, base_dir: Path) -> str:
    """``~`` expanded; a relative path is relative to the configuration file's folder."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base_dir / path)
