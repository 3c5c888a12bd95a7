"""The registry of identity types is consistent: each entry checks exactly its table's keys, its
path keys are keys, and every flag it names is declared once and parsed by the CLI (pure logic:
the end-to-end behaviour is in test_config*, test_identity_flags and test_cli)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from client_sdk._cli.parser import build_parser
from client_sdk._config.schema import IDENTITY_TYPES, identity_keys
from client_sdk._identity_types.entry import IdentityTypeEntry
from client_sdk._identity_types.registry import BY_CONFIG, OPTIONS, REGISTRY
from providers import UsernameProvider

FLAGS = {option.flag for option in OPTIONS}


def test_every_type_is_in_the_registry_once() -> None:
    assert list(IDENTITY_TYPES) == [entry.name for entry in REGISTRY]
    assert len(BY_CONFIG) == len(REGISTRY)
    assert all(entry.name for entry in REGISTRY)  # each dataclass sets its type_name
    assert Counter(option.flag for option in OPTIONS).most_common(1)[0][1] == 1


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda entry: entry.name)
def test_an_entry_declares_its_table_and_flags(entry: IdentityTypeEntry) -> None:
    keys = identity_keys(entry.config)
    assert set(entry.key_checks) == set(keys)
    assert set(entry.path_keys) <= set(keys)
    fields = {f.name for f in dataclasses.fields(entry.config)}
    for flag, change in entry.flag_fields.items():
        assert flag in FLAGS, f"{entry.name}: {flag} is not declared by any entry"
        assert not isinstance(change, str) or change in fields


def test_the_cli_parses_every_declared_flag() -> None:
    args = vars(build_parser().parse_args(["echo", "peer"]))
    missing = [option.flag for option in OPTIONS if option.dest not in args]
    assert missing == []
    assert {"--user", "--jwt-file", "--kerberos", "--token-url"} <= FLAGS


def test_the_token_endpoint_default_timeout_is_the_providers() -> None:
    from client_sdk._identity_types import token_endpoint
    from providers import _token_endpoint as provider_module

    assert token_endpoint.DEFAULT_TIMEOUT == provider_module.DEFAULT_TIMEOUT
    assert token_endpoint.TokenEndpointIdentity.__dataclass_fields__["timeout"].default == 10.0


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda entry: entry.name)
def test_an_entry_builds_its_own_provider(entry: IdentityTypeEntry) -> None:
    tables = {
        "username": {"username": "alice"},
        "keyring-password": {"service": "s", "username": "alice"},
        "jwt-file": {"path": "/nonexistent/token.jwt"},
        "saml-file": {"path": "/nonexistent/assertion.xml"},
        "kerberos": {},
        "token-endpoint": {
            "token_url": "https://idp.example/token",
            "client_id": "c",
            "client_secret_keyring": ("s", "c"),
        },
        "oidc-login": {"issuer": "https://idp.example.org", "client_id": "c"},
        "chain": {"identities": ("member",)},
    }
    identity = entry.config(name="x", **tables[entry.name])
    built = entry.build(identity, lambda _name: UsernameProvider("bob"))  # a chain's member
    assert isinstance(built, entry.provider()), entry.name
