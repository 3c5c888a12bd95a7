"""Type 5: a JWT access token from an OAuth2 token endpoint (client credentials, RFC 6749 4.4).

The provider authenticates to the token service either with a client secret read from the OS
keyring (sent form-encoded in the request body, ``client_secret_post``), or with Kerberos (SPNEGO,
``HTTPKerberosAuth`` from requests-kerberos, mutual authentication required: the token service
must prove it holds the key of ``HTTP/host``), for services behind Windows Integrated
Authentication.

The token is cached until shortly before its ``exp``. Two windows before expiry, each clamped to a
fraction of the token's lifetime so a short-lived token is still used for a while:

* advisory (default 300 s, at most half the lifetime): one caller refreshes early; the others keep
  using the still-valid token meanwhile; a failed refresh keeps the token, logs a warning, and
  the next early attempt waits 30 s (at most half the time left before the mandatory window);
* mandatory (default 60 s, at most a quarter of the lifetime): every caller waits for the refresh;
  a failed refresh raises.

Only one refresh runs at a time across threads. HTTPS is verified against ``ca_file`` or the
system's trust store (not certifi's bundle, requests' default); plain HTTP is allowed only to a
loopback host; no proxy from the environment, an HTTPS proxy only when ``proxy`` names it. Each
exchange has one deadline, ``timeout``, for everything from connect to the last byte
(:mod:`providers.token_http`); the answer is read by :mod:`providers.token_answer`, which shows
the server's text only through :func:`providers.scrub.server_text`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from providers.base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers.errors import CredentialError, CredentialUnavailable, IdentityError
from providers.keyring_access import KeyringEntryMissing, default_backend
from providers.safe_errors import secret_safe, total_repr
from providers.secret import Secret
from providers.token_answer import IssuedToken, iso_time, read_answer
from providers.token_errors import (
    InsecureTokenEndpoint,
    InvalidTokenResponse,
    TokenEndpointError,
    TokenEndpointNotAuthenticated,
    TokenEndpointUnreachable,
    TokenRequestRejected,
    check_proxy_url,
    check_token_url,
)
from providers.token_http import TokenTransport

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = [
    "InsecureTokenEndpoint",
    "InvalidTokenResponse",
    "TokenEndpointAuth",
    "TokenEndpointError",
    "TokenEndpointNotAuthenticated",
    "TokenEndpointProvider",
    "TokenEndpointUnreachable",
    "TokenRequestRejected",
    "check_token_url",
]

log = logging.getLogger(__name__)

TokenEndpointAuth = Literal["client-secret", "kerberos"]
DEFAULT_ADVISORY_WINDOW = 300.0
DEFAULT_MANDATORY_WINDOW = 60.0
ADVISORY_FRACTION = 0.5  # of the token's lifetime, at most
MANDATORY_FRACTION = 0.25
# After a failed early refresh, the next early attempt waits this long (or half the time left
# before the mandatory window): an outage must not make every association wait for a timeout.
ADVISORY_RETRY = 30.0
DEFAULT_TIMEOUT = 10.0  # seconds for one whole exchange with the endpoint
# What a refresh may take besides its HTTP exchange (the keyring read, the JWT decode): other
# threads wait for the refresh at most timeout + this.
LOCK_MARGIN = 5.0


@dataclass(frozen=True)
class _Token:
    value: Secret
    principal: str
    expires_at: float | None
    advisory_at: float  # refresh early from here on
    mandatory_at: float  # refresh or fail from here on

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"_Token(principal={self.principal!r}, expires_at={self.expires_at!r})"
        )


class TokenEndpointProvider:
    """A JWT from an OAuth2 token endpoint, cached until shortly before it expires.

    ``client_secret_keyring=(SERVICE, USER)`` names the keyring entry holding the client secret
    (``keyring set SERVICE USER``); it is read at each refresh, never cached, never logged. With
    ``auth="kerberos"`` there is no secret: the ticket cache (``kinit``) or ``KRB5_CLIENT_KTNAME``
    authenticates the client; ``kerberos_hostname`` overrides the host of ``HTTP/host`` when the
    URL's host is not the name the token service is registered under. ``scope`` and ``audience``
    are sent with the request when given; a token whose ``aud`` lacks ``audience`` is refused.
    ``timeout`` bounds each exchange with the endpoint as a whole. ``proxy``
    (``http://HOST:PORT``, for an ``https://`` token URL only) tunnels through that proxy; no
    proxy is ever taken from the environment. ``clock`` (seconds since the epoch) is injectable
    for tests.
    """

    identity_type = IdentityType.JWT

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret_keyring: tuple[str, str] | None = None,
        scope: str | None = None,
        audience: str | None = None,
        auth: TokenEndpointAuth = "client-secret",
        ca_file: str | None = None,
        kerberos_hostname: str | None = None,
        positive_response: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        proxy: str | None = None,
        advisory_window: float = DEFAULT_ADVISORY_WINDOW,
        mandatory_window: float = DEFAULT_MANDATORY_WINDOW,
        clock: Callable[[], float] = time.time,
        keyring_backend: KeyringBackend | None = None,
    ) -> None:
        if auth not in get_args(TokenEndpointAuth):
            raise ValueError(f"auth must be one of {get_args(TokenEndpointAuth)}: {auth!r}")
        if not client_id:
            raise ValueError("client_id must be a non-empty string")
        if auth == "client-secret" and client_secret_keyring is None:
            raise ValueError(
                'auth="client-secret" needs client_secret_keyring=(SERVICE, USER): the keyring '
                "entry that holds the client secret"
            )
        if auth == "kerberos" and client_secret_keyring is not None:
            raise ValueError('auth="kerberos" sends no client secret: drop client_secret_keyring')
        if client_secret_keyring is not None and (
            len(client_secret_keyring) != 2 or not all(client_secret_keyring)
        ):
            raise ValueError("client_secret_keyring must be (SERVICE, USER), both non-empty")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds: {timeout!r}")
        if not 0 <= mandatory_window <= advisory_window:
            raise ValueError(
                "need 0 <= mandatory_window <= advisory_window: "
                f"{mandatory_window!r}, {advisory_window!r}"
            )
        self.token_url = token_url
        self.host = check_token_url(token_url)
        self.proxy = check_proxy_url(proxy, token_url) if proxy is not None else None
        self.client_id = client_id
        self.client_secret_keyring = client_secret_keyring
        self.scope = scope
        self.audience = audience
        self.auth: TokenEndpointAuth = auth
        self.ca_file = ca_file
        self.kerberos_hostname = kerberos_hostname
        self.positive_response = positive_response
        self.timeout = timeout
        self.advisory_window = advisory_window
        self.mandatory_window = mandatory_window
        self._clock = clock
        self._keyring_backend = keyring_backend
        self._transport = TokenTransport(
            token_url,
            host=self.host,
            timeout=timeout,
            ca_file=ca_file,
            kerberos=auth == "kerberos",
            kerberos_hostname=kerberos_hostname,
            proxy=self.proxy,
        )
        self._refresh_lock = threading.Lock()
        self._token: _Token | None = None
        self._advisory_retry_at = 0.0

    def __repr__(self) -> str:
        # Total (providers.safe_errors): an __init__ that raised leaves a half-built provider
        # in a frame that an error reporter formats.
        return total_repr(
            self,
            lambda: (
                f"TokenEndpointProvider(token_url={self.token_url!r}, "
                f"client_id={self.client_id!r}, auth={self.auth!r}, scope={self.scope!r}, "
                f"audience={self.audience!r})"
            ),
        )

    @property
    def source(self) -> str:
        return f"token endpoint {self.token_url} (client {self.client_id!r}, {self.auth})"

    @secret_safe  # its frames hold the client secret, the answer and the token
    def negotiate(self, target: Target) -> IdentityExchange:
        token = self._current_token()
        request = IdentityRequest(
            IdentityType.JWT,
            token.value,
            positive_response_requested=self.positive_response,
            principal=token.principal,
            source=self.source,
        )
        return IdentityExchange(request)

    # The cache -------------------------------------------------------------------------------

    def _current_token(self) -> _Token:
        token = self._token
        now = self._clock()
        if token is not None and now < token.advisory_at:
            return token
        if token is not None and now < token.mandatory_at:
            # Advisory window: one caller refreshes; the others use the still-valid token, and
            # after a failed early refresh nobody retries before the back-off ends.
            if now < self._advisory_retry_at or not self._refresh_lock.acquire(blocking=False):
                return token
        elif not self._refresh_lock.acquire(timeout=self._lock_wait):
            raise TokenEndpointUnreachable(
                f"another thread's token refresh from {self.token_url} did not finish within "
                f"{self._lock_wait:g} s (its exchange's deadline is {self.timeout:g} s); check "
                "that the token service answers"
            )
        try:
            return self._refresh()
        finally:
            self._refresh_lock.release()

    @property
    def _lock_wait(self) -> float:
        # The holder's exchange (both requests of Kerberos) ends within timeout.
        return self.timeout + LOCK_MARGIN

    def _refresh(self) -> _Token:
        token = self._token
        now = self._clock()
        if token is not None and now < token.advisory_at:
            return token  # another thread refreshed while this one waited
        try:
            fresh = self._fetch()
        except IdentityError as exc:
            if token is not None and now < token.mandatory_at:
                self._advisory_retry_at = now + min(ADVISORY_RETRY, (token.mandatory_at - now) / 2)
                log.warning(
                    "could not refresh the token from %s early (%s); keeping the current one, "
                    "valid until %s; next attempt at %s, mandatory from %s",
                    self.token_url,
                    exc,
                    iso_time(token.expires_at),
                    iso_time(self._advisory_retry_at),
                    iso_time(token.mandatory_at),
                )
                return token
            raise
        self._token = fresh
        log.debug(
            "token for %r from %s, expires at %s",
            fresh.principal,
            self.token_url,
            iso_time(fresh.expires_at),
        )
        return fresh

    # One request -----------------------------------------------------------------------------

    def _fetch(self) -> _Token:
        fields = {"grant_type": "client_credentials", "client_id": self.client_id}
        if self.scope:
            fields["scope"] = self.scope
        if self.audience:
            fields["audience"] = self.audience
        secret = self._client_secret()
        answer = self._transport.post(fields, secret)
        issued = read_answer(
            answer,
            url=self.token_url,
            client_id=self.client_id,
            client_secret=secret,
            audience=self.audience,
            now=self._clock(),
            hint=self._hint,
        )
        return self._cached(issued)

    @secret_safe  # the keyring backend's frames hold the value it read
    def _client_secret(self) -> Secret | None:
        if self.client_secret_keyring is None:
            return None
        import keyring.errors

        service, user = self.client_secret_keyring
        where = f"keyring service {service!r}, user {user!r}"
        failure: IdentityError | None = None
        # A backend that cannot load, or none at all: a typed error with the real cause.
        backend = self._keyring_backend or default_backend()
        try:
            value = backend.get_password(service, user)
        except keyring.errors.NoKeyringError:
            failure = CredentialUnavailable(
                f"no usable keyring backend for the client secret of {self.token_url} ({where}). "
                "Install one (for a headless server: pip install keyrings.alt) and select it "
                "with PYTHON_KEYRING_BACKEND"
            )
        except Exception as exc:  # a backend may raise anything (locked, D-Bus down, corrupt)
            failure = CredentialError(
                f"the keyring backend failed reading the client secret ({where}): "
                f"{type(exc).__name__}. Check that the keyring is unlocked (keyring diagnose)"
            )
        if failure is not None:
            raise failure  # outside the handler: no context that holds the backend's frames
        if not value:
            raise KeyringEntryMissing(
                service, user, what="client secret", purpose=f" for {self.token_url}"
            )
        try:
            return Secret(value)
        finally:
            del value  # not a local of this frame if Secret refuses it

    # Advice and the cache ----------------------------------------------------------------------

    def _hint(self, status: int, error: str | None, negotiate_offered: bool) -> str:
        """What to do about an HTTP error (a :data:`providers.token_answer.Hint`)."""
        keyring_hint = (
            f"keyring set {self.client_secret_keyring[0]} {self.client_secret_keyring[1]}"
            if self.client_secret_keyring
            else ""
        )
        if error == "invalid_client" or (status == 401 and self.auth == "client-secret"):
            return (
                f"Check client_id {self.client_id!r} and the client secret in the keyring "
                f"({keyring_hint})"
                if self.auth == "client-secret"
                else f"Check that the Kerberos principal is registered as client {self.client_id!r}"
            )
        if status == 401 and self.auth == "kerberos":
            return (
                "Kerberos authentication failed: check the ticket (klist; kinit, or a client "
                "keytab in KRB5_CLIENT_KTNAME) and that the KDC knows the service principal of "
                f"HTTP@{self.kerberos_hostname or self.host} (HTTP/ its canonical host name)"
                if negotiate_offered
                else "the service does not offer Kerberos (no WWW-Authenticate: Negotiate)"
            )
        if error == "invalid_scope":
            return f"Check the scope {self.scope!r} with the token service's administrators"
        if error == "unauthorized_client":
            return f"Allow the client-credentials grant for client {self.client_id!r}"
        if error == "unsupported_grant_type":
            return "This endpoint does not offer the client-credentials grant; check token_url"
        if error == "invalid_request":
            return "Check token_url, scope and audience"
        if status == 429:
            return "The token service is rate limiting; try again later"
        if status >= 500:
            return "The token service failed; try again later or ask its administrators"
        return "Check token_url and the client's registration"

    def _cached(self, issued: IssuedToken) -> _Token:
        expires_at = issued.expires_at
        if expires_at is None:  # no lifetime known: used once, fetched again next time
            issued_at = issued.issued_at
            return _Token(issued.value, issued.principal, None, issued_at, issued_at)
        lifetime = max(expires_at - issued.issued_at, 0.0)
        advisory = min(self.advisory_window, ADVISORY_FRACTION * lifetime)
        mandatory = min(self.mandatory_window, MANDATORY_FRACTION * lifetime)
        return _Token(
            issued.value,
            issued.principal,
            expires_at,
            expires_at - advisory,
            expires_at - mandatory,
        )
