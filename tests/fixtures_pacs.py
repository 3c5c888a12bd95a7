"""The embedded PACS most tests talk to, and a client for it (loaded by ``tests/conftest.py``).

``pacs`` knows the users of ``tests.conftest.USERS`` and trusts JWTs signed with
``tests.conftest.JWT_KEY`` for ``tests.conftest.AUDIENCE``. A module whose PACS must hold other
credentials (its own canary password, so a leak names the module) defines its own ``pacs``
fixture; ``tests/test_suite_structure.py`` lists those overrides. Other configurations come from
``embedded_pacs_factory`` (``client_sdk.testing.pytest_plugin``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from client_sdk import Client, Peer
from client_sdk.testing import EmbeddedPacs
from tests.conftest import AUDIENCE, JWT_KEY, USERS
from tests.timeouts import LOCAL


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    """A fresh embedded PACS on 127.0.0.1: the conftest users, JWTs for the conftest audience."""
    with EmbeddedPacs(users=USERS, jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as server:
        yield server


def client_for(pacs: EmbeddedPacs, identity: Any = None, **kwargs: Any) -> Client:
    """A client of ``pacs`` with ``identity`` (a provider, or ``None``): the ``LOCAL`` timeouts
    unless ``timeouts=`` says otherwise; other keywords go to :class:`Client`."""
    kwargs.setdefault("timeouts", LOCAL)
    return Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=identity, **kwargs)


@contextlib.contextmanager
def pacs_on_first_use(make: Callable[..., EmbeddedPacs]) -> Iterator[Callable[..., EmbeddedPacs]]:
    """``get(*key)``: one embedded PACS per distinct ``key``, made by ``make(*key)`` and started on
    first use (a module's cases share it); every one is stopped at the end."""
    started: dict[tuple[Any, ...], EmbeddedPacs] = {}

    def get(*key: Any) -> EmbeddedPacs:
        if key not in started:
            started[key] = make(*key).start()
        return started[key]

    try:
        yield get
    finally:
        for pacs in started.values():
            pacs.stop()
