"""HTTP Bearer (RFC 6750) with the token of a JWT file or of a token endpoint.

Each request takes the token from the provider, through the provider's own cache: the JWT
file is re-read when it changed, the token endpoint's token is refreshed before it expires. A 401
whose challenge says ``Bearer error="invalid_token"`` (expired, revoked, or signed by a key the
server no longer trusts) gets one more try where a new token can exist: the JWT file is read
again (an agent may have rotated it), the token endpoint is asked for a new token even though
the cached one has not reached its refresh window. The same token again, a second 401, or any
other answer ends it: the auth object never loops. Plain HTTP only reaches loopback unless
allowed (:mod:`providers._http_origin`).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Protocol, runtime_checkable

import requests
import requests.auth

from providers._base import IdentityProvider, IdentityType, Target
from providers._errors import CredentialError
from providers._http_auth_errors import HttpAuthUnsupported
from providers._http_debug_scrub import quiet_http_debug
from providers._http_origin import CredentialGuard, Origin
from providers._http_resend import can_resend, resend
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._token_endpoint import TokenEndpointProvider
from providers._www_authenticate import find_challenge

_TOKEN68 = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")  # what a Bearer credential may hold


class TokenSource(Protocol):
    """Where an :class:`HttpBearerAuth` gets its tokens."""

    def current(self) -> Secret:
        """The token to send now."""
        ...

    def renewed(self, refused: Secret) -> Secret | None:
        """A token other than ``refused`` (which the server refused), or None if there is
        none to be had."""
        ...


@runtime_checkable
class ForgetsRefusedTokens(Protocol):
    """A provider with a token cache that can be told a server refused a token
    (``TokenEndpointProvider.forget``, ``OidcLoginProvider.forget``)."""

    def forget(self, refused: Secret) -> None: ...


class ProviderTokens:
    """The type 5 tokens of a provider. ``renewed`` tells a provider with a token cache
    (:class:`ForgetsRefusedTokens`) that the token was refused, so it fetches another (unless
    another thread already has); a JWT file is simply read again."""

    def __init__(self, provider: IdentityProvider, target: Target) -> None:
        self.provider = provider
        self.target = target
        self.principal = ""  # who the last token names (never secret), for audit records

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"{type(self).__name__}({self.provider!r})")

    @secret_safe  # the provider's frames hold the token
    def current(self) -> Secret:
        identity = self.provider.negotiate(self.target).request
        if identity.identity_type is not IdentityType.JWT:
            raise HttpAuthUnsupported(
                f"{self.provider!r} gives a {identity.identity_type.label} identity, not a "
                "token: HTTP Bearer needs a JWT"
            )
        self.principal = identity.principal
        return identity.primary

    def renewed(self, refused: Secret) -> Secret | None:
        if isinstance(self.provider, ForgetsRefusedTokens):
            self.provider.forget(refused)
        token = self.current()
        return None if token == refused else token


class TokenEndpointTokens(ProviderTokens):
    """A token endpoint's tokens (the provider's own ``forget`` drops a refused one)."""

    provider: TokenEndpointProvider

    def __init__(self, provider: TokenEndpointProvider, target: Target) -> None:
        super().__init__(provider, target)


class HttpBearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` for requests to the origin of ``url`` only, tokens from
    ``tokens``. ``allow_plain_http``, ``transport_checks_loopback``: see
    :class:`CredentialGuard`."""

    def __init__(
        self,
        tokens: TokenSource,
        *,
        url: str,
        what: str = "a bearer token",
        allow_plain_http: bool = False,
        transport_checks_loopback: bool = False,
    ) -> None:
        self.tokens = tokens
        self.origin = Origin.of(url)
        self.guard = CredentialGuard(
            self.origin,
            what,
            bearer=True,
            allow_plain_http=allow_plain_http,
            transport_checks_loopback=transport_checks_loopback,
        )
        quiet_http_debug()

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"HttpBearerAuth({self.tokens!r}, origin='{self.origin}')")

    @property
    def principal(self) -> str:
        """Who the last token sent names ("" before the first, or when it names no one)."""
        named = getattr(self.tokens, "principal", "")
        return named if isinstance(named, str) else ""

    @secret_safe  # the header holds the token
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.guard.check(str(request.url))  # before the token is even fetched
        token = self.tokens.current()
        request.headers["Authorization"] = _header(token)
        request.register_hook("response", _OneRefresh(self, token).handle)  # type: ignore[no-untyped-call]
        return request


class _OneRefresh:
    """The response hook of one request: one retry with a new token after ``invalid_token``;
    nothing for the answers of redirects."""

    def __init__(self, auth: HttpBearerAuth, sent: Secret) -> None:
        self._auth = auth
        self._sent = sent
        self._done = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"_OneRefresh(done={self._done})")

    @secret_safe  # its frames hold the new token
    def handle(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        with self._lock:
            if self._done or response.status_code != 401:
                return response
            self._done = True
        challenge = find_challenge(response.headers.get("WWW-Authenticate"), "Bearer")
        if challenge is None or challenge.params.get("error") != "invalid_token":
            return response  # no token, or not one that a new token would fix
        if not can_resend(response.request):
            return response
        self._auth.guard.check(str(response.request.url))
        fresh = self._auth.tokens.renewed(self._sent)
        if fresh is None:
            return response  # the same token again would get the same answer
        return resend(response, _header(fresh), send_kwargs)


def _header(token: Secret) -> str:
    # Only yes/no questions to the token: no error below holds any of it.
    if _TOKEN68.fullmatch(token.reveal()) is None:
        raise CredentialError(
            "the token holds characters that an HTTP Bearer credential cannot carry (RFC 6750: "
            "letters, digits and -._~+/ then '='); check what the token source issues"
        )
    return "Bearer " + token.reveal().decode("ascii")
