"""A scripted OpenID Provider on 127.0.0.1 for what the real one (tests/oidc_op) never does.

It serves a discovery document, a JWKS of its own RSA key, a device authorization endpoint and a
token endpoint, each answer changeable by the test: polls answered from a script (an OAuth error,
tokens, or a dropped connection), ``slow_down``, an ``interval`` or none, and ID tokens signed
with the key it serves but claiming another issuer, another audience or another nonce, and
``token_reply``: any answer to a token request that is not a device-code poll, made from the
request (a server that quotes the client's credentials back). Every request is recorded (path,
form, Authorization header, time). Tokens are real RS256 JWTs; the access token is for the
embedded PACS's audience.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

PACS_AUDIENCE = "EMBEDDED_PACS"
DROP = "drop"  # a poll answered by closing the connection
TOKENS = "tokens"  # a poll answered with the tokens
Poll = str | tuple[int, dict[str, Any]]  # DROP, TOKENS, or (status, JSON body)


@dataclass
class Seen:
    path: str
    form: dict[str, str]
    at: float  # time.monotonic()
    authorization: str | None = None  # the Authorization header, as sent


@dataclass
class HostileOp:
    """What the server answers; change the fields before (or while) the client runs."""

    client_id: str = "hostile-client"
    issuer_in_discovery: str | None = None  # None: the server's own URL
    discovery_extra: dict[str, Any] = field(default_factory=dict)
    device_answer: dict[str, Any] = field(default_factory=dict)
    polls: list[Poll] = field(default_factory=lambda: [TOKENS])  # the last one repeats
    id_claims: dict[str, Any] = field(default_factory=dict)  # overrides (iss, aud, nonce ...)
    seen: list[Seen] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)  # every token it gave out
    nonce_sent: str | None = None  # the nonce of the last authorization URL "opened"
    # The answer (status, JSON) to a token request that is not a device-code poll; None: tokens.
    token_reply: Callable[[Seen], tuple[int, dict[str, Any]]] | None = None
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = "hostile-key-1"
    url: str = ""

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [jwk]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer_in_discovery or self.url,
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "authorization_endpoint": f"{self.url}/auth",
            "device_authorization_endpoint": f"{self.url}/device",
            "id_token_signing_alg_values_supported": ["RS256"],
            **self.discovery_extra,
        }

    def device(self) -> dict[str, Any]:
        answer = {
            "device_code": "hostile-device-code-" + secrets.token_urlsafe(16),
            "user_code": "WDJB-MJHT",
            "verification_uri": f"{self.url}/activate",
            "expires_in": 60,
        }
        answer.update(self.device_answer)
        self.issued.append(str(answer["device_code"]))
        return {k: v for k, v in answer.items() if v is not None}

    def tokens(self) -> dict[str, Any]:
        now = int(time.time())
        sign = {"algorithm": "RS256", "headers": {"kid": self.kid}}
        access = jwt.encode(
            {"iss": self.url, "sub": "alice", "aud": PACS_AUDIENCE, "iat": now, "exp": now + 300},
            self.key,
            **sign,  # type: ignore[arg-type]
        )
        claims: dict[str, Any] = {"iss": self.url, "sub": "alice", "aud": self.client_id}
        claims |= {"iat": now, "exp": now + 300}
        if self.nonce_sent is not None:
            claims["nonce"] = self.nonce_sent
        claims.update(self.id_claims)
        claims = {k: v for k, v in claims.items() if v is not None}  # None: the claim is absent
        id_token = jwt.encode(claims, self.key, **sign)  # type: ignore[arg-type]
        refresh = "hostile-refresh-" + secrets.token_urlsafe(24)
        self.issued += [access, id_token, refresh]
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token,
            "refresh_token": refresh,
            "scope": "openid offline_access dicom",
        }

    def next_poll(self) -> Poll:
        polls = [s for s in self.seen if s.path == "/token"]
        return self.polls[min(len(polls) - 1, len(self.polls) - 1)]

    def open_browser(self, url: str, *, state: str | None = None, **extra: str) -> int:
        """What a browser and the login would do: back to the redirect URI with a code (and
        this login's state, or ``state``, and ``extra`` parameters); the listener's status."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        self.nonce_sent = query.get("nonce")
        params = {"code": "hostile-code", "state": state or query["state"], **extra}
        with requests.Session() as browser:
            browser.trust_env = False
            answer = browser.get(query["redirect_uri"], params=params, timeout=5)
            answer.close()
            return answer.status_code


def _handler(op: HostileOp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            op.seen.append(Seen(path, {}, time.monotonic()))
            if path == "/.well-known/openid-configuration":
                self._json(200, op.discovery())
            elif path == "/jwks":
                self._json(200, op.jwks())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            path = urlsplit(self.path).path
            seen = Seen(path, form, time.monotonic(), self.headers.get("Authorization"))
            op.seen.append(seen)
            if path == "/device":
                self._json(200, op.device())
                return
            if path != "/token":
                self._json(404, {"error": "not_found"})
                return
            if op.token_reply is not None and not form.get("grant_type", "").endswith(
                "device_code"
            ):
                self._json(*op.token_reply(seen))
                return
            poll = op.next_poll() if form.get("grant_type", "").endswith("device_code") else TOKENS
            if poll == DROP:
                self.close_connection = True
                self.request.shutdown(socket.SHUT_RDWR)
            elif poll == TOKENS:
                self._json(200, op.tokens())
            else:
                assert isinstance(poll, tuple)
                self._json(*poll)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def running(op: HostileOp) -> Iterator[HostileOp]:
    """Serve ``op`` on 127.0.0.1 while the generator is suspended (a fixture's body)."""
    server = _Server(("127.0.0.1", 0), _handler(op))
    op.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield op
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
