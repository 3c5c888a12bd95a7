"""pytest fixtures for the embedded PACS (registered as a ``pytest11`` entry point).

* ``embedded_pacs_factory(**kwargs)``: start an :class:`EmbeddedPacs` with those keyword arguments;
  every PACS it started is stopped at teardown.
* ``embedded_pacs``: a started PACS with ``users={"alice": "secret"}`` in ``"standard"`` mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from client_sdk.testing._pacs import EmbeddedPacs

__all__ = ["embedded_pacs", "embedded_pacs_factory"]


@pytest.fixture
def embedded_pacs_factory() -> Iterator[Callable[..., EmbeddedPacs]]:
    started: list[EmbeddedPacs] = []

    def factory(**kwargs: Any) -> EmbeddedPacs:
        pacs = EmbeddedPacs(**kwargs)
        pacs.start()
        started.append(pacs)
        return pacs

    yield factory
    for pacs in reversed(started):
        pacs.stop()


@pytest.fixture
def embedded_pacs(embedded_pacs_factory: Callable[..., EmbeddedPacs]) -> EmbeddedPacs:
    return embedded_pacs_factory(users={"alice": "secret"}, response_mode="standard")
