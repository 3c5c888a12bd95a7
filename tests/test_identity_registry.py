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
