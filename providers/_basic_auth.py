"""HTTP Basic (RFC 7617) with a username and password from a password provider.

The password comes from the provider (``PasswordProvider``, ``KeyringPasswordProvider``) on the
first request, is kept in a :class:`~providers._secret.Secret` by the auth object, and becomes
text only inside the header built for each request. A 401 that asks for Basic again reads the
source once more: when the keyring now holds another password (it was changed meanwhile) the
request is sent once more with it; otherwise the 401 is the answer. Plain HTTP only reaches
loopback unless allowed (:mod:`providers._http_origin`).
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import requests
import requests.auth

from providers._base import IdentityProvider, IdentityType
from providers._http_auth_errors import HttpAuthUnsupported
from providers._http_debug_scrub import quiet_http_debug
from providers._http_origin import CredentialGuard, Origin
from providers._http_resend import can_resend, resend
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._www_authenticate import find_challenge


class HttpBasicAuth(requests.auth.AuthBase):
    """``Authorization: Basic`` for requests to the origin of ``url`` only.

    ``provider`` gives a username and password identity (type 2) through ``negotiate``.
    ``allow_plain_http`` and ``transport_checks_loopback``: see :class:`CredentialGuard`."""

    def __init__(
        self,
        provider: IdentityProvider,
        *,
        url: str,
        allow_plain_http: bool = False,
        transport_checks_loopback: bool = False,
    ) -> None:
        self.provider = provider
        self.origin = Origin.of(url)
        self.username = str(getattr(provider, "username", "") or "")
        self.guard = CredentialGuard(
            self.origin,
            f"the password of {self.username!r}" if self.username else "a password",
            bearer=True,
            allow_plain_http=allow_plain_http,
            transport_checks_loopback=transport_checks_loopback,
        )
        self._lock = threading.Lock()
        self._credential: tuple[Secret, Secret] | None = None
        quiet_http_debug()

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"HttpBasicAuth(username={self.username!r}, origin='{self.origin}')"
        )

    @secret_safe  # the header built here is the password in base64
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.guard.check(str(request.url))  # before the password is even read
        with self._lock:
            if self._credential is None:
                self._credential = self._read()
            credential = self._credential
        request.headers["Authorization"] = _header(*credential)
        request.register_hook("response", _OneRetry(self, credential).handle)  # type: ignore[no-untyped-call]
        return request

    @secret_safe  # the provider's frames hold the password it read
    def _read(self) -> tuple[Secret, Secret]:
        identity = self.provider.negotiate(self.origin.target).request
        if identity.identity_type is not IdentityType.USERNAME_PASSCODE or not identity.secondary:
            raise HttpAuthUnsupported(
                f"{self.provider!r} gives a {identity.identity_type.label} identity, not a "
                "username and password: HTTP Basic needs both"
            )
        if b":" in identity.primary.reveal():
            raise HttpAuthUnsupported(
                f"the username {identity.principal!r} holds a colon, which HTTP Basic cannot "
                "carry (RFC 7617: the first colon ends the name); use another account"
            )
        return identity.primary, identity.secondary

    def renewed(self, sent: tuple[Secret, Secret]) -> tuple[Secret, Secret] | None:
        """The source read again: its credential when it differs from ``sent``, else None."""
        fresh = self._read()
        with self._lock:
            self._credential = fresh
        return None if fresh == sent else fresh


class _OneRetry:
    """The response hook of one request: on a Basic challenge, one retry with a changed
    password; nothing for the answers of redirects."""

    def __init__(self, auth: HttpBasicAuth, sent: tuple[Secret, Secret]) -> None:
        self._auth = auth
        self._sent = sent
        self._done = False

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"_OneRetry(done={self._done})")

    @secret_safe  # its frames hold the new header
    def handle(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        if self._done or response.status_code != 401:
            return response
        self._done = True
        challenge = find_challenge(response.headers.get("WWW-Authenticate"), "Basic")
        if challenge is None or not can_resend(response.request):
            return response
        self._auth.guard.check(str(response.request.url))
        fresh = self._auth.renewed(self._sent)
        if fresh is None:
            return response  # the same password again would get the same answer
        return resend(response, _header(*fresh), send_kwargs)


def _header(username: Secret, password: Secret) -> str:
    pair = username.reveal() + b":" + password.reveal()  # UTF-8, as RFC 7617's charset says
    return "Basic " + base64.b64encode(pair).decode("ascii")
