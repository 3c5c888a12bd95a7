"""An OAuth2 token endpoint on 127.0.0.1 for tests: the client-credentials grant, real JWTs.

A standard-library ``ThreadingHTTPServer`` in a thread. It issues JWTs signed with ``key``
(an HS256 secret, or an RSA private key in PEM for RS256) that an ``EmbeddedPacs(jwt_key=...,
jwt_audience=...)`` trusts. Variants: HTTPS with a certificate from :mod:`tests.tls_certs`
(``tls=``), and Kerberos (``kerberos_keytab=``): the client authenticates with SPNEGO
(``Authorization: Negotiate``), the server accepts as ``HTTP/host`` from its keytab and answers
with its own token (mutual authentication), like IIS or Apache with mod_auth_gssapi.

Knobs for error cases: ``reply`` (a fixed answer for every request: a :class:`Reply`, or a
:class:`RawReply` whose bytes are written as they are, status line and headers included,
optionally a byte at a time), ``gate`` (requests wait for it, so a test can line up concurrent
callers), ``kerberos_reply`` ("valid", "none": no
mutual-authentication token, "garbage": a token that does not verify). ``requests`` records each
request without the client secret.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qs

import jwt

from tests.tls_certs import CertificateFiles

__all__ = ["RawReply", "Reply", "SeenRequest", "TokenServer", "silent_listener"]

KerberosReply = Literal["valid", "none", "garbage"]
_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """A fixed answer: ``body`` as JSON (a dict) or raw bytes."""

    status: int
    body: Mapping[str, Any] | bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawReply:
    """Bytes written as the whole answer (a hostile server's): ``drip`` seconds between bytes
    (paced on the server's stop event, so stopping the server ends it), then the connection
    stays open ``hold`` seconds (a Content-Length that promises more) and is closed."""

    data: bytes
    drip: float = 0.0
    hold: float = 0.0


@dataclass(frozen=True)
class SeenRequest:
    path: str
    form_keys: tuple[str, ...]
    client_id: str | None
    scope: str | None
    audience: str | None
    negotiate: bool  # an Authorization: Negotiate header came with it
    kerberos_principal: str | None


class _Server(ThreadingHTTPServer):
    """Keeps a client's hang-up (the tests abandon connections on purpose: timeouts, refused
    TLS) out of stderr; any other handler error is printed as usual."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError | TimeoutError):
            return
        super().handle_error(request, client_address)


class TokenServer:
    """``with TokenServer(key=...) as server: server.url``; see the module docstring."""

    def __init__(
        self,
        *,
        key: str | bytes,
        algorithm: str = "HS256",
        audience: str = "EMBEDDED_PACS",
        clients: Mapping[str, str] | None = None,
        lifetime: float = 300,
        scopes: tuple[str, ...] | None = None,
        tls: CertificateFiles | None = None,
        host: str = "127.0.0.1",
        url_host: str | None = None,
        kerberos_keytab: str | None = None,
        kerberos_service: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.algorithm = algorithm
        self.audience = audience
        self.clients = dict(clients or {})
        self.lifetime = lifetime
        self.scopes = scopes
        self.tls = tls
        self.host = host
        self.url_host = url_host or host
        self.clock = clock
        self.reply: Reply | RawReply | None = None
        self.gate: threading.Event | None = None
        self.kerberos_reply: KerberosReply = "valid"
        self._acceptor: Any = None
        if kerberos_keytab is not None:
            from client_sdk.testing._kerberos_acceptor import KerberosAcceptor

            self._acceptor = KerberosAcceptor(kerberos_keytab, kerberos_service)
        self._lock = threading.Lock()
        self._requests: list[SeenRequest] = []
        self.issued: list[str] = []
        self.negotiate_tokens: list[str] = []  # base64, both directions, for leak checks
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.url_host}:{self._server.server_address[1]}/token"

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    def start(self) -> Self:
        server = _Server((self.host, 0), _handler_for(self))
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.server_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.gate is not None:
            self.gate.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # What the handler calls ------------------------------------------------------------------

    def record(self, seen: SeenRequest) -> None:
        with self._lock:
            self._requests.append(seen)

    def issue(self, subject: str, scope: str | None, audience: str | None) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": "https://idp.test.example",
            "sub": subject,
            "aud": audience or self.audience,
            "iat": now,
            "exp": now + int(self.lifetime),
        }
        if scope:
            claims["scope"] = scope
        token = jwt.encode(claims, self.key, algorithm=self.algorithm)
        with self._lock:
            self.issued.append(token)
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(self.lifetime)}

    def accept_kerberos(self, token: bytes) -> tuple[str, bytes]:
        from client_sdk.testing._kerberos_acceptor import KerberosRejected

        try:
            result: tuple[str, bytes] = self._acceptor.accept(token)
        except KerberosRejected as exc:
            raise PermissionError(str(exc)) from None
        return result


def _handler_for(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: pytest shows the test's own output

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, _MAX_BODY))
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            negotiate = self.headers.get("Authorization", "")
            has_negotiate = negotiate.lower().startswith("negotiate ")
            principal = None
            reply_token = b""
            if server._acceptor is not None and has_negotiate:
                server.negotiate_tokens.append(negotiate.split(None, 1)[1])
                try:
                    principal, reply_token = server.accept_kerberos(
                        base64.b64decode(negotiate.split(None, 1)[1])
                    )
                except (PermissionError, ValueError):
                    principal = None
            server.record(
                SeenRequest(
                    self.path,
                    tuple(sorted(form)),
                    form.get("client_id"),
                    form.get("scope"),
                    form.get("audience"),
                    has_negotiate,
                    principal,
                )
            )
            if server.gate is not None:
                server.gate.wait(timeout=10)
            if isinstance(server.reply, RawReply):
                self._send_raw(server.reply)
                return
            if server.reply is not None:
                self._send(server.reply)
                return
            if server.scopes is not None and form.get("scope") not in server.scopes:
                self._send(Reply(400, {"error": "invalid_scope", "error_description": "unknown"}))
                return
            if server._acceptor is not None:
                self._kerberos(form, principal, reply_token, has_negotiate)
                return
            self._client_secret(form)

        def _kerberos(
            self, form: dict[str, str], principal: str | None, reply: bytes, offered: bool
        ) -> None:
            if principal is None:
                headers = {"WWW-Authenticate": "Negotiate"}
                error = "invalid_client" if offered else "unauthorized"
                self._send(Reply(401, {"error": error}, headers))
                return
            mode = server.kerberos_reply
            headers = {}
            if mode == "valid":
                encoded = base64.b64encode(reply).decode()
                server.negotiate_tokens.append(encoded)
                headers["WWW-Authenticate"] = "Negotiate " + encoded
            elif mode == "garbage":
                headers["WWW-Authenticate"] = (
                    "Negotiate " + base64.b64encode(b"\x60\x03junk").decode()
                )
            self._send(Reply(200, self._issue(form, principal), headers))

        def _client_secret(self, form: dict[str, str]) -> None:
            if form.get("grant_type") != "client_credentials":
                self._send(Reply(400, {"error": "unsupported_grant_type"}))
                return
            client_id = form.get("client_id", "")
            expected = server.clients.get(client_id)
            if expected is None or form.get("client_secret") != expected:
                self._send(
                    Reply(
                        401,
                        {"error": "invalid_client", "error_description": "client unknown"},
                    )
                )
                return
            self._send(Reply(200, self._issue(form, client_id)))

        def _issue(self, form: dict[str, str], subject: str) -> dict[str, Any]:
            return server.issue(subject, form.get("scope"), form.get("audience"))

        def _send(self, reply: Reply) -> None:
            body = (
                json.dumps(reply.body).encode()
                if isinstance(reply.body, Mapping)
                else bytes(reply.body)
            )
            self.send_response(reply.status)
            ctype = "application/json" if isinstance(reply.body, Mapping) else "text/plain"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _send_raw(self, reply: RawReply) -> None:
            self.close_connection = True
            if not reply.drip:
                self.wfile.write(reply.data)
            for index in range(len(reply.data) if reply.drip else 0):
                self.wfile.write(reply.data[index : index + 1])
                self.wfile.flush()
                if server.stopping.wait(reply.drip):
                    break
            self.wfile.flush()
            server.stopping.wait(reply.hold)

    return Handler


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers: ``http://...`` URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/token"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for conn in held:
            conn.close()
