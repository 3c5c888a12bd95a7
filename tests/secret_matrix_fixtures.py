"""The fixtures of the secret-matrix modules, loaded with
``pytest_plugins = ["tests.secret_matrix_fixtures"]``: every debug output on, and the keeper of
the errors a case raises (``tests/secret_matrix_support.py``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any, cast

import pynetdicom
import pytest
from pynetdicom import AE, evt
from pynetdicom._handlers import debug_data

from tests.secret_matrix_support import FINISHED, KEPT, ErrorKeeper, KeptError


def _with_hex_dumps(original: Callable[..., Any]) -> Callable[..., Any]:
    def bound(self: AE, *args: Any, **kwargs: Any) -> Any:
        handlers = list(kwargs.pop("evt_handlers", None) or [])
        handlers += [(evt.EVT_DATA_SENT, debug_data), (evt.EVT_DATA_RECV, debug_data)]
        return original(self, *args, evt_handlers=handlers, **kwargs)

    return bound


@pytest.fixture(scope="module")
def hex_dumps() -> Iterator[None]:
    """pynetdicom's ``debug_data`` on every PDU of every association of this module, both ends."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(AE, "associate", _with_hex_dumps(AE.associate))
        mp.setattr(AE, "start_server", _with_hex_dumps(AE.start_server))
        yield


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture
def debug_everything(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[pytest.LogCaptureFixture]:
    """``debug_logger()`` (to the captured stderr), pyspnego and every other logger at DEBUG."""
    pynetdicom_logger = logging.getLogger("pynetdicom")
    spnego_logger = logging.getLogger("spnego")
    before = (pynetdicom_logger.level, list(pynetdicom_logger.handlers), spnego_logger.level)
    pynetdicom.debug_logger()
    # debug_logger()'s handler keeps the sys.stderr of this fixture's set-up, a stream pytest
    # closes before the test runs (every line then failed, and logging printed its own
    # "--- Logging error ---" report instead): write to the test's sys.stderr, that capfd reads.
    (handler,) = pynetdicom_logger.handlers
    cast(logging.StreamHandler[Any], handler).setStream(_CurrentStderr())
    spnego_logger.setLevel(logging.DEBUG)
    with caplog.at_level(logging.DEBUG):
        yield caplog
    pynetdicom_logger.setLevel(before[0])
    pynetdicom_logger.handlers = before[1]
    spnego_logger.setLevel(before[2])


@pytest.fixture
def keep_errors(request: pytest.FixtureRequest) -> Iterator[ErrorKeeper]:
    keeper = ErrorKeeper(request.node.nodeid)
    yield keeper
    KEPT.extend(KeptError(keeper.case, error, tuple(keeper.secrets)) for error in keeper.errors)
    FINISHED[keeper.case] = keeper
