"""Configuration errors, collected so that one run reports every problem at once."""

from __future__ import annotations

from collections.abc import Iterable

from client_sdk._errors import ConfigError


class InvalidConfig(ConfigError):
    """A :class:`ConfigError` whose ``errors`` lists every problem found, one line each."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class Problems:
    """Collects ``where: what`` lines for one source (a file, the environment, the arguments)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.lines.append(f"{self.where}: {key}: {problem}" if key else f"{self.where}: {problem}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise InvalidConfig(self.lines)
