"""The loopback redirect of a native app (RFC 8252 7.3): a one-shot HTTP listener on 127.0.0.1.

It listens on a port the system chooses, on 127.0.0.1 only, and answers GET requests until one
reaches ``/callback`` with the ``state`` of this login (compared in constant time); a request
for another path or with another state gets a plain error page and changes nothing (another
local program cannot end the login, nor slip its own code into it). The authorization response
is kept (its ``code`` a :class:`Secret`) and the browser gets a page without any of it.
Nothing of a request is logged: the request line carries the code. Each connection has a 5 s
socket timeout, so a client that connects and says nothing holds the listener no longer.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret

CALLBACK_PATH = "/callback"
_CONNECTION_TIMEOUT = 5.0
_MAX_FIELDS = 20
_DONE_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Login</title></head><body>"
    b"<p>The login is complete: you can close this window and return to the program.</p>"
    b"</body></html>"
)
_OTHER_PAGE = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Login</title></head><body>"
    b"<p>This is not the answer the waiting program expects.</p></body></html>"
)


@dataclass(frozen=True)
class AuthorizationResponse:
    """The query of the callback: ``code``, or ``error`` (and ``error_description``); ``iss``
    when the provider sends it (RFC 9207). Texts are the server's, to be shown scrubbed."""

    code: Secret | None
    error: str | None
    error_description: str | None
    iss: str | None

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: f"AuthorizationResponse(code={self.code is not None}, error={self.error!r})",
        )


class _Server(HTTPServer):
    state: bytes
    response: AuthorizationResponse | None
    refused: int  # callbacks with another state
    arrived: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hung up; the default prints a traceback to stderr


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _CONNECTION_TIMEOUT
    server_version = "dicom-identity"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line holds the authorization code

    @secret_safe  # the request line holds the code
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH or self.server.response is not None:
            self._answer(404, _OTHER_PAGE)
            return
        try:
            query = parse_qs(parts.query, max_num_fields=_MAX_FIELDS)
        except ValueError:
            query = {}
        state = _one(query, "state")
        if state is None or not hmac.compare_digest(
            state.encode("utf-8", "surrogatepass"), self.server.state
        ):
            self.server.refused += 1
            self._answer(400, _OTHER_PAGE)
            return
        code = _one(query, "code")
        self.server.response = AuthorizationResponse(
            code=Secret(code) if code else None,
            error=_one(query, "error"),
            error_description=_one(query, "error_description"),
            iss=_one(query, "iss"),
        )
        del code, query
        self._answer(200, _DONE_PAGE)
        self.server.arrived.set()

    def _answer(self, status: int, page: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(page)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and len(values) == 1 else None


class LoopbackListener:
    """Listens on 127.0.0.1 for the authorization response of the login whose ``state`` it
    holds; a context manager that stops it."""

    def __init__(self, state: str) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = state.encode()
        self._server.response = None
        self._server.refused = 0
        self._server.arrived = threading.Event()
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"dicom-identity login callback :{self.port}",
            daemon=True,
        )

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"LoopbackListener(port={self.port})")

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    @property
    def refused(self) -> int:
        """Callbacks that came with another state."""
        return self._server.refused

    def __enter__(self) -> LoopbackListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait(self, timeout: float) -> AuthorizationResponse | None:
        """The authorization response, or None if none came within ``timeout`` seconds."""
        self._server.arrived.wait(max(timeout, 0.0))
        return self._server.response

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=_CONNECTION_TIMEOUT + 1)
        self._server.server_close()
