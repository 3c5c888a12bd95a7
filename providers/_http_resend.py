"""Send a request once more with another ``Authorization``: the one retry an auth object makes.

Called from an auth object's response hook (what ``requests``' own digest auth does): the first
answer is read (at most :data:`MAX_DISCARDED_BODY` bytes) and closed, the request copied with its
cookies, its body rewound, and sent through the same adapter with the same ``send`` arguments.
The retry goes straight to the adapter, so no response hook runs on its answer: the auth object
handles that answer itself, and a retry can never lead to another.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.cookies import extract_cookies_to_jar
from requests.utils import rewind_body

MAX_DISCARDED_BODY = 64 * 1024  # of a 401's body: an error page, never data


def can_resend(request: requests.PreparedRequest) -> bool:
    """Whether the body can be sent again: none, bytes or text, or a file-like object whose
    position was recorded (a generator or a pipe cannot be rewound)."""
    body: Any = request.body  # typed bytes | str | None; a file or generator in practice
    if body is None or isinstance(body, bytes | str):
        return True
    position = getattr(request, "_body_position", None)
    return isinstance(position, int) and hasattr(body, "seek")


def discard_body(response: requests.Response) -> None:
    """Read what is left of ``response`` (bounded) so its connection can be reused, keep it as
    the response's content, and close it."""
    state: Any = response  # requests' private fields, as its own digest auth uses them
    if not state._content_consumed:
        body = bytearray()
        try:
            for chunk in response.raw.stream(8192, decode_content=False):
                body += chunk
                if len(body) > MAX_DISCARDED_BODY:
                    break
        except Exception:  # noqa: S110  (a broken error page: closed below either way)
            pass
        state._content = bytes(body[:MAX_DISCARDED_BODY])
        state._content_consumed = True
    response.close()


def resend(
    response: requests.Response, authorization: str, send_kwargs: dict[str, Any]
) -> requests.Response:
    """``response.request`` again with ``Authorization: authorization``; the new answer, with
    ``response`` first in its history. The caller checked :func:`can_resend`."""
    discard_body(response)
    request = response.request.copy()
    jar = request._cookies  # type: ignore[attr-defined]
    extract_cookies_to_jar(jar, response.request, response.raw)  # type: ignore[no-untyped-call]
    request.prepare_cookies(jar)
    body: Any = request.body
    if body is not None and not isinstance(body, bytes | str):
        rewind_body(request)
    request.headers["Authorization"] = authorization
    connection: Any = response.connection  # the adapter that sent the first request
    answer: requests.Response = connection.send(request, **send_kwargs)
    answer.history.append(response)
    answer.request = request
    return answer
