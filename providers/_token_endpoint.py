"""Type 5: a JWT access token from an OAuth2 token endpoint (client credentials, RFC 6749 4.4).

The provider authenticates to the token service (:mod:`providers._token_client_auth`) with a
client secret read from the OS keyring, in the request body (``client_secret_post``) or in
``Authorization: Basic`` (``client_secret_basic``); with an assertion signed by the client's
private key, read from a PEM file (``private_key_jwt``, RFC 7523); or with Kerberos (SPNEGO,
``HTTPKerberosAuth`` from requests-kerberos, mutual authentication required: the token service
must prove it holds the key of ``HTTP/host``), for services behind Windows Integrated
Authentication.

The token is cached until shortly before its ``exp``, with an advisory and a mandatory refresh
window (:mod:`providers._token_cache`); only one refresh runs at a time across threads. HTTPS is
verified against ``ca_file`` or the system's trust store (not certifi's bundle, requests'
default); plain HTTP is allowed only to a loopback host; no proxy from the environment, an HTTPS
proxy only when ``proxy`` names it. Each exchange has one deadline, ``timeout``, for everything
from connect to the last byte (:mod:`providers._token_http`); the answer is read by
:mod:`providers._token_answer`, which shows the server's text only through
:func:`providers._scrub.server_text`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from providers._base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers._recipe import KeyringBackendRecipe, ProviderRecipe, not_rebuildable
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._token_answer import IssuedToken, read_answer
from providers._token_cache import (
    DEFAULT_ADVISORY_WINDOW,
    DEFAULT_MANDATORY_WINDOW,
    CachedToken,
    TokenCache,
)
from providers._token_client_auth import (
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    TokenEndpointAuth,
    client_authentication,
)
from providers._token_errors import (
    check_proxy_url,
    check_token_url,
)
from providers._token_http import TokenTransport

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger("providers.token_endpoint")

DEFAULT_TIMEOUT = 10.0  # seconds for one whole exchange with the endpoint
# What a refresh may take besides its HTTP exchange (the keyring read, the JWT decode): other
# threads wait for the refresh at most timeout + this.
LOCK_MARGIN = 5.0
_Token = CachedToken  # its name before token_cache held it


class TokenEndpointProvider:
    """A JWT from an OAuth2 token endpoint, cached until shortly before it expires.

    ``auth`` is how the client authenticates (:mod:`providers._token_client_auth`):
    ``"client-secret"`` (``client_secret_post``) and ``"client-secret-basic"`` read the client
    secret from the keyring entry ``client_secret_keyring=(SERVICE, USER)`` (``keyring set
    SERVICE USER``) at each refresh, never cached, never logged; ``"private-key-jwt"`` signs an
    assertion with the private key in ``client_key_file`` (PEM, read at each refresh; optional
    ``client_key_id``, the ``kid``, and ``client_key_algorithm``, by default the key's);
    ``"kerberos"`` sends no secret: the ticket cache (``kinit``) or ``KRB5_CLIENT_KTNAME``
    authenticates the client, and ``kerberos_hostname`` overrides the host of ``HTTP/host``
    when the URL's host is not the name the token service is registered under. ``scope`` and
    ``audience`` are sent with the request when given; a token whose ``aud`` lacks
    ``audience`` is refused. ``timeout`` bounds each exchange with the endpoint as a whole.
    ``proxy`` (``http://HOST:PORT``, for an ``https://`` token URL only) tunnels through that
    proxy; no proxy is ever taken from the environment. ``clock`` (seconds since the epoch) is
    injectable for tests.
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
        client_key_file: str | os.PathLike[str] | None = None,
        client_key_id: str | None = None,
        client_key_algorithm: str | None = None,
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
        if not client_id:
            raise ValueError("client_id must be a non-empty string")
        self._client_auth = client_authentication(
            auth,
            client_secret_keyring=client_secret_keyring,
            client_key_file=client_key_file,
            client_key_id=client_key_id,
            client_key_algorithm=client_key_algorithm,
            keyring_backend=keyring_backend,
            purpose=f" for {token_url}",
        )
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds: {timeout!r}")
        self.token_url = token_url
        self.host = check_token_url(token_url)
        self.proxy = check_proxy_url(proxy, token_url) if proxy is not None else None
        self.client_id = client_id
        self.client_secret_keyring = client_secret_keyring
        self.client_key_file = client_key_file
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
        # The holder's exchange (both requests of Kerberos) ends within timeout.
        self._cache = TokenCache(
            source=token_url,
            lock_wait=timeout + LOCK_MARGIN,
            advisory_window=advisory_window,
            mandatory_window=mandatory_window,
            clock=clock,
            log=log,
        )

    def recipe(self) -> ProviderRecipe:
        """How a worker process builds this provider again: the endpoint's settings and where
        the client secret or key lives (read there); the token is fetched there."""
        if self._clock is not time.time:
            raise not_rebuildable(self, "its clock is a function of this process")
        key_file = self.client_key_file
        return ProviderRecipe.of(
            self,
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret_keyring=self.client_secret_keyring,
            scope=self.scope,
            audience=self.audience,
            auth=self.auth,
            client_key_file=None if key_file is None else os.fspath(key_file),
            client_key_id=getattr(self._client_auth, "key_id", None),
            client_key_algorithm=getattr(self._client_auth, "algorithm", None),
            ca_file=self.ca_file,
            kerberos_hostname=self.kerberos_hostname,
            positive_response=self.positive_response,
            timeout=self.timeout,
            proxy=self.proxy,
            advisory_window=self.advisory_window,
            mandatory_window=self.mandatory_window,
            keyring_backend=KeyringBackendRecipe.of(self._keyring_backend),
        )

    def __repr__(self) -> str:
        # Total (providers._safe_errors): an __init__ that raised leaves a half-built provider
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
        token = self._cache.current(self._fetch)
        request = IdentityRequest(
            IdentityType.JWT,
            token.value,
            positive_response_requested=self.positive_response,
            principal=token.principal,
            source=self.source,
        )
        return IdentityExchange(request)

    def forget(self, refused: Secret) -> None:
        """A server refused ``refused``: if it is still the cached token, drop it, so the next
        :meth:`negotiate` fetches another."""
        self._cache.forget(refused)

    # One request -----------------------------------------------------------------------------

    def _fetch(self) -> IssuedToken:
        fields = {"grant_type": "client_credentials"}
        if self.scope:
            fields["scope"] = self.scope
        if self.audience:
            fields["audience"] = self.audience
        credentials = self._client_auth.credentials(self.client_id, self.token_url)
        answer = self._transport.post(fields, credentials)
        return read_answer(
            answer,
            url=self.token_url,
            client_id=self.client_id,
            sent=credentials.secrets,
            audience=self.audience,
            now=self._clock(),
            hint=self._hint,
        )

    # Advice ------------------------------------------------------------------------------------

    def _hint(self, status: int, error: str | None, negotiate_offered: bool) -> str:
        """What to do about an HTTP error (a :data:`providers._token_answer.Hint`)."""
        client_auth = self._client_auth
        by_secret = isinstance(client_auth, ClientSecretPost | ClientSecretBasic | PrivateKeyJwt)
        if error == "invalid_client" or (status == 401 and by_secret):
            return client_auth.advice(self.client_id)
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
        if error == "invalid_request" and isinstance(client_auth, ClientSecretBasic):
            # oidc-provider, for one, refuses Basic credentials outside RFC 6749's VSCHAR.
            return (
                "Check token_url, scope and audience, and that the client id and secret are "
                "printable ASCII (RFC 6749 2.3.1), which some providers require of Basic "
                "credentials"
            )
        if error == "invalid_request":
            return "Check token_url, scope and audience"
        if status == 429:
            return "The token service is rate limiting; try again later"
        if status >= 500:
            return "The token service failed; try again later or ask its administrators"
        return "Check token_url and the client's registration"
