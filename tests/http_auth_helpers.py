"""Helpers of the HTTP auth tests (tests/test_http_*auth*.py): a QIDO that marks its request so
that Apache's access log lines of exactly that request can be counted, and a request with a
hook that acts before the auth object's own (an agent at work while the request is on its way).

The mark is QIDO's ``limit`` parameter, a number no other request uses: Apache logs the request
line with its query, so the lines of one call (its first request and any retry) are found and
counted however late Apache writes them, and lines of other tests never get in the way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import requests

from tests.conftest import poll
from tests.web_helpers import HTTP_TIMEOUT, session
from tests.web_servers import ApacheProxy

__all__ = ["lines_for", "logged", "new_mark", "qido", "send_with_hook"]

_marks = itertools.count(100_001)


def new_mark() -> int:
    return next(_marks)


def qido(auth: Any, url: str, mark: int | None = None, **kwargs: Any) -> requests.Response:
    """``GET url/studies?limit=mark`` through ``auth`` (a fresh mark unless given)."""
    with session(auth) as s:
        return s.get(
            f"{url}/studies",
            params={"limit": new_mark() if mark is None else mark},
            timeout=HTTP_TIMEOUT,
            **kwargs,
        )


def lines_for(proxy: ApacheProxy, mark: int) -> list[str]:
    """The access-log lines of the requests marked ``mark``."""
    return [line for line in proxy.access_log() if f"limit={mark} " in line]


def logged(proxy: ApacheProxy, mark: int, count: int) -> list[str]:
    """The ``count`` lines of ``mark``, once written; more than ``count`` fails."""
    poll(lambda: len(lines_for(proxy, mark)) >= count, timeout=5, what=f"{count} lines")
    lines = lines_for(proxy, mark)
    assert len(lines) == count, lines
    return lines


def send_with_hook(
    auth: Any, url: str, mark: int, hook: Callable[[requests.Response], None]
) -> requests.Response:
    """``GET url/studies?limit=mark`` with ``hook`` called on the answer before the auth
    object's own hook."""

    def first(response: requests.Response, **kwargs: Any) -> requests.Response:
        hook(response)
        return response

    with session() as s:
        request = requests.Request(
            "GET", f"{url}/studies", params={"limit": mark}, hooks={"response": [first]}
        )
        prepared = s.prepare_request(request)
        auth(prepared)  # after the prepare: its hook comes after ``first``
        return s.send(prepared, timeout=HTTP_TIMEOUT)
