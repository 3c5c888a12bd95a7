"""The names that tables refer to: identities and policies of peers, members of chains, and
chains that contain themselves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from client_sdk._config.problems import Problems
from client_sdk._config.values import dotted, show


def check_references(
    defaults: Mapping[str, Any],
    peers: Mapping[str, Mapping[str, Any]],
    identities: Iterable[str],
    policies: Iterable[str],
    chains: Mapping[str, Sequence[str]],
    problems: Problems,
) -> None:
    """Every name a table refers to is defined (broken tables count as defined: reported once)."""
    defined_identities = sorted(identities)
    defined_policies = sorted(policies)
    if "policy" in defaults and defaults["policy"] not in defined_policies:
        problems.add("defaults.policy", _no_such("policy", defaults["policy"], defined_policies))
    for name, values in peers.items():
        if "identity" in values and values["identity"] not in defined_identities:
            problems.add(
                dotted(("peers", name, "identity")),
                _no_such("identity", values["identity"], defined_identities),
            )
        if "policy" in values and values["policy"] not in defined_policies:
            problems.add(
                dotted(("peers", name, "policy")),
                _no_such("policy", values["policy"], defined_policies),
            )
    for name, members in chains.items():
        for index, member in enumerate(members):
            if member not in defined_identities:
                problems.add(
                    dotted(("identities", name, "identities", index)),
                    _no_such("identity", member, defined_identities),
                )


def _no_such(kind: str, name: str, defined: Sequence[str]) -> str:
    plural = "policies" if kind == "policy" else "identities"
    if not defined:
        return f"no {kind} {show(name)}; no {plural} are defined"
    return f"no {kind} {show(name)}; defined {plural}: {', '.join(defined)}"


def check_chain_cycles(chains: Mapping[str, Sequence[str]], problems: Problems) -> None:
    """A chain that contains itself, directly or through other chains, is reported once."""
    reported: set[frozenset[str]] = set()
    explored: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = [*trail[trail.index(name) :], name]
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                problems.add(
                    dotted(("identities", cycle[0], "identities")),
                    f"the chain refers to itself: {' -> '.join(cycle)}",
                )
            return
        if name in explored:
            return
        for member in chains.get(name, ()):
            visit(member, [*trail, name])
        explored.add(name)

    for name in chains:
        visit(name, [])
