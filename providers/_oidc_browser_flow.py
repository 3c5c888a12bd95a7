"""The authorization code flow with PKCE (RFC 7636) on a loopback redirect (RFC 8252), for a
desktop with a browser.

A listener on 127.0.0.1 on a port the system chooses (:mod:`providers._oidc_loopback`) waits for
the redirect to ``http://127.0.0.1:PORT/callback``. The authorization URL carries a PKCE S256
challenge, a ``state`` and a ``nonce`` (each from :func:`secrets.token_urlsafe`); it is opened
with ``open_browser`` (``webbrowser.open`` by default) and shown to the person as well
(:mod:`providers._oidc_prompt`), since a browser may not open. ``offline_access`` among the
scopes adds ``prompt=consent`` (OpenID Connect Core 11: without it a provider may drop the
refresh token). The callback's ``state`` must be this login's; ``iss``, when sent (RFC 9207),
this issuer. The code is exchanged with the verifier; the ID token's ``nonce`` is checked by the
caller (:class:`~providers._oidc_id_token.IdTokenVerifier`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
import webbrowser
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

from providers._oidc_device_flow import FlowAnswer
from providers._oidc_errors import LoginDenied, LoginExpired, OidcDiscoveryError, OidcLoginError
from providers._oidc_loopback import LoopbackListener
from providers._oidc_prompt import LoginPrompt, PromptCallback
from providers._oidc_server import OidcServer
from providers._safe_errors import secret_safe, total_repr
from providers._scrub import server_text
from providers._secret import Secret
from providers._token_client_auth import ClientCredentials

log = logging.getLogger("providers.oidc_browser_flow")

OpenBrowser = Callable[[str], object]


def pkce_pair() -> tuple[Secret, str]:
    """A code verifier (64 characters of base64url) and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return Secret(verifier), challenge


def _with_query(url: str, query: dict[str, str]) -> str:
    parts = urlsplit(url)
    joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))


class BrowserFlow:
    """One browser login for the public client ``client_id`` at ``server``."""

    def __init__(
        self,
        server: OidcServer,
        *,
        client_id: str,
        scopes: tuple[str, ...],
        resource: str | None,
        max_wait: float,
        prompt: PromptCallback,
        open_browser: OpenBrowser = webbrowser.open,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.client_id = client_id
        self.scopes = scopes
        self.resource = resource
        self.max_wait = max_wait
        self.prompt = prompt
        self.open_browser = open_browser
        self._clock = clock

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"BrowserFlow({self.server.issuer!r}, {self.client_id!r})")

    @secret_safe  # the verifier, the code and the answer
    def run(self) -> FlowAnswer:
        endpoints = self.server.endpoints()
        issuer = self.server.issuer
        if endpoints.authorization is None:
            raise OidcDiscoveryError(
                f"the OpenID Provider {issuer} names no authorization_endpoint; use the device flow"
            )
        if not endpoints.pkce_s256:
            raise OidcDiscoveryError(
                f"the OpenID Provider {issuer} does not offer PKCE with S256 "
                "(code_challenge_methods_supported): a login on a loopback address needs it"
            )
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        deadline = time.monotonic() + self.max_wait
        with LoopbackListener(state) as listener:
            query = {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": listener.redirect_uri,
                "scope": " ".join(self.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            if "offline_access" in self.scopes:
                query["prompt"] = "consent"
            if self.resource:
                query["resource"] = self.resource
            url = _with_query(endpoints.authorization, query)
            self.prompt(LoginPrompt("browser", issuer, url, self._clock() + self.max_wait))
            try:
                self.open_browser(url)
            except Exception as exc:  # no browser here: the printed URL is the way
                log.warning("could not open a browser (%s); open the URL shown", type(exc).__name__)
            response = listener.wait(deadline - time.monotonic())
            refused = listener.refused
        if response is None:
            more = f" ({refused} answer(s) for another login were refused)" if refused else ""
            raise LoginExpired(
                f"the browser did not come back to {listener.redirect_uri} within "
                f"{self.max_wait:g} s{more}; log in again"
            )
        if response.iss is not None and response.iss.rstrip("/") != issuer:
            raise OidcLoginError(
                f"the login's answer names the issuer {server_text(response.iss, limit=120)!r}, "
                f"not {issuer!r} (RFC 9207): an answer from another provider; log in again"
            )
        if response.error is not None:
            error = server_text(response.error, limit=64)
            text = server_text(response.error_description or "", limit=200)
            detail = f" ({error}{': ' + text if text else ''})"
            if response.error == "access_denied":
                raise LoginDenied(
                    f"the login at {issuer} was refused{detail}: the person declined, or the "
                    "provider's policy refused it"
                )
            raise OidcLoginError(f"the OpenID Provider {issuer} ended the login{detail}")
        if response.code is None:
            raise OidcLoginError(f"the login's answer from {issuer} carries no code")
        fields = {
            "grant_type": "authorization_code",
            "redirect_uri": listener.redirect_uri,
        }
        if self.resource:
            fields["resource"] = self.resource
        credentials = ClientCredentials({"client_id": self.client_id}).adding(
            ("code", response.code), ("code_verifier", verifier)
        )
        answer = self.server.post(endpoints.token, "the token endpoint", fields, credentials)
        return FlowAnswer(answer, endpoints.token, credentials.secrets, nonce=nonce)
