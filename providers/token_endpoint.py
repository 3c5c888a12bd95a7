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
loopback host. Every request has a timeout.
"""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

import jwt
import requests
import requests.adapters
import requests.auth

from providers.base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers.errors import (
    CredentialError,
    CredentialUnavailable,
    IdentityError,
    MutualAuthenticationFailed,
)
from providers.kerberos import EXTRA_HINT
from providers.secret import Secret

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
DEFAULT_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 1 << 20
_SHOWN_TEXT = 300
_BASE64URL_PART = re.compile(r"^[A-Za-z0-9_-]+$")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


class TokenEndpointError(CredentialError):
    """The token endpoint gave no usable token; nothing was sent to the peer."""


class InsecureTokenEndpoint(TokenEndpointError):
    """``token_url`` is plain HTTP to a host outside loopback: the secret would travel in clear."""


class TokenEndpointUnreachable(TokenEndpointError):
    """No answer from the token endpoint: refused, timed out, or TLS failed."""


class TokenRequestRejected(TokenEndpointError):
    """The token endpoint answered with an HTTP error; ``error`` is the OAuth error code."""

    def __init__(
        self, message: str, *, status: int, error: str | None, error_description: str | None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.error_description = error_description


class InvalidTokenResponse(TokenEndpointError):
    """The answer is not a usable token: not JSON, no ``access_token``, not a JWT, expired."""


class TokenEndpointNotAuthenticated(TokenEndpointError, MutualAuthenticationFailed):
    """Kerberos mutual authentication of the token service failed: its answer is not trusted."""


@dataclass(frozen=True)
class _Token:
    value: Secret
    principal: str
    expires_at: float | None
    advisory_at: float  # refresh early from here on
    mandatory_at: float  # refresh or fail from here on


class TokenEndpointProvider:
    """A JWT from an OAuth2 token endpoint, cached until shortly before it expires.

    ``client_secret_keyring=(SERVICE, USER)`` names the keyring entry holding the client secret
    (``keyring set SERVICE USER``); it is read at each refresh, never cached, never logged. With
    ``auth="kerberos"`` there is no secret: the ticket cache (``kinit``) or ``KRB5_CLIENT_KTNAME``
    authenticates the client; ``kerberos_hostname`` overrides the host of ``HTTP/host`` when the
    URL's host is not the name the token service is registered under. ``scope`` and ``audience``
    are sent with the request when given; a token whose ``aud`` lacks ``audience`` is refused.
    ``clock`` (seconds since the epoch) is injectable for tests.
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
        self._kerberos_auth: Callable[[], requests.auth.AuthBase] | None = None
        self._mutual_auth_error: type[Exception] | None = None
        if auth == "kerberos":
            self._kerberos_auth, self._mutual_auth_error = _kerberos_auth_factory(kerberos_hostname)
        self._refresh_lock = threading.Lock()
        self._token: _Token | None = None
        self._advisory_retry_at = 0.0

    def __repr__(self) -> str:
        return (
            f"TokenEndpointProvider(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"auth={self.auth!r}, scope={self.scope!r}, audience={self.audience!r})"
        )

    @property
    def source(self) -> str:
        return f"token endpoint {self.token_url} (client {self.client_id!r}, {self.auth})"

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
                f"{self._lock_wait:g} s; check that the token service answers"
            )
        try:
            return self._refresh()
        finally:
            self._refresh_lock.release()

    @property
    def _lock_wait(self) -> float:
        # A Kerberos refresh is two requests (401, then the authenticated one), each with a
        # connect and a read timeout.
        return 4 * self.timeout + 5

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
                    _iso(token.expires_at),
                    _iso(self._advisory_retry_at),
                    _iso(token.mandatory_at),
                )
                return token
            raise
        self._token = fresh
        log.debug(
            "token for %r from %s, expires at %s",
            fresh.principal,
            self.token_url,
            _iso(fresh.expires_at),
        )
        return fresh

    # One request -----------------------------------------------------------------------------

    def _fetch(self) -> _Token:
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        secret = self._client_secret()
        auth = self._kerberos_auth() if self._kerberos_auth is not None else None
        if secret is not None:
            form["client_secret"] = secret.reveal().decode("utf-8")
        try:
            status, reason, headers, body = self._post(form, auth)
        finally:
            form.clear()  # the one plain copy of the client secret
        if 300 <= status < 400:
            raise TokenRequestRejected(
                f"the token endpoint {self.token_url} redirected (HTTP {status}) to "
                f"{_printable(headers.get('location', '(nowhere)'))}; set token_url to the "
                "final URL (a token request is never re-sent to another URL)",
                status=status,
                error=None,
                error_description=None,
            )
        if status >= 400 or status < 200:
            raise self._rejected(status, reason, headers, body, secret)
        return self._token_from(body)

    def _post(
        self, form: dict[str, str], auth: requests.auth.AuthBase | None
    ) -> tuple[int, str, Mapping[str, str], bytes]:
        context = self._tls_context() if self.token_url.lower().startswith("https:") else None
        try:
            with requests.Session() as session:
                if context is not None:
                    session.mount("https://", _ContextAdapter(context))
                response = session.post(
                    self.token_url,
                    data=form,
                    auth=auth,
                    headers={"Accept": "application/json"},
                    timeout=(self.timeout, self.timeout),
                    verify=True,  # against the context: ca_file, or the system's trust store
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    body = _read_body(response, self.token_url)
                    return response.status_code, response.reason or "", response.headers, body
        except Exception as exc:
            failure = self._explain(exc)
            if failure is None:
                raise
        # Raised outside the handler: the requests exception (which holds the prepared request,
        # client secret included) is not chained to ours.
        raise failure

    def _tls_context(self) -> ssl.SSLContext:
        """``ca_file`` alone, or the system's trust store (not certifi's bundle, which requests
        uses by default and which knows no hospital's private CA)."""
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TokenEndpointError(
                f"the CA file {self.ca_file} for the token endpoint {self.token_url} cannot be "
                f"loaded ({getattr(exc, 'strerror', None) or exc}); give a PEM file of the "
                "CA certificates that sign the token service's certificate"
            ) from None

    def _explain(self, exc: Exception) -> TokenEndpointError | None:
        """Our error for a failed request; None for an exception that is not about the request."""
        url = self.token_url
        if self._mutual_auth_error is not None and isinstance(exc, self._mutual_auth_error):
            return TokenEndpointNotAuthenticated(
                f"the token endpoint {url} did not prove its identity (Kerberos mutual "
                f"authentication failed for HTTP@{self.kerberos_hostname or self.host}): its "
                "answer is not trusted. Check that the service is the real one and is "
                "configured for Kerberos"
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return TokenEndpointUnreachable(
                f"TLS with the token endpoint {url} failed ({_root_cause(exc)}). "
                "If the service uses a private CA, give ca_file=PATH (PEM)"
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return TokenEndpointUnreachable(
                f"no connection to the token endpoint {url} within {self.timeout:g} s; "
                "check the URL, the network and any firewall"
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return TokenEndpointUnreachable(
                f"the token endpoint {url} accepted the connection but did not answer "
                f"within {self.timeout:g} s; check the token service"
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            return TokenEndpointUnreachable(
                f"cannot reach the token endpoint {url} ({_root_cause(exc)}); check "
                "the URL and that the token service is running"
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return TokenEndpointUnreachable(
                f"the request to the token endpoint {url} failed ({_root_cause(exc)})"
            )
        return None

    def _client_secret(self) -> Secret | None:
        if self.client_secret_keyring is None:
            return None
        import keyring
        import keyring.errors

        service, user = self.client_secret_keyring
        where = f"keyring service {service!r}, user {user!r}"
        try:
            backend = self._keyring_backend or keyring.get_keyring()
            value = backend.get_password(service, user)
        except keyring.errors.NoKeyringError:
            raise CredentialUnavailable(
                f"no usable keyring backend for the client secret of {self.token_url} ({where}). "
                "Install one (for a headless server: pip install keyrings.alt) and select it "
                "with PYTHON_KEYRING_BACKEND"
            ) from None
        except Exception as exc:  # a backend may raise anything (locked, D-Bus down, corrupt)
            raise CredentialError(
                f"the keyring backend failed reading the client secret ({where}): "
                f"{type(exc).__name__}. Check that the keyring is unlocked (keyring diagnose)"
            ) from None
        if not value:
            raise CredentialUnavailable(
                f"no client secret for {self.token_url} in {where}. Add it with: "
                f"keyring set {service} {user}"
            )
        return Secret(value)

    # The answer ------------------------------------------------------------------------------

    def _rejected(
        self,
        status: int,
        reason: str,
        headers: Mapping[str, str],
        body: bytes,
        secret: Secret | None,
    ) -> TokenRequestRejected:
        error = description = None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            if isinstance(answer.get("error"), str):
                error = _shown(answer["error"], secret)
            if isinstance(answer.get("error_description"), str):
                description = _shown(answer["error_description"], secret)
        oauth = f", OAuth error {error!r}" if error else ""
        oauth += f": {description}" if description else ""
        return TokenRequestRejected(
            f"the token endpoint {self.token_url} refused the request: HTTP {status} "
            f"{_printable(reason)}{oauth}. {self._hint(status, error, headers)}",
            status=status,
            error=error,
            error_description=description,
        )

    def _hint(self, status: int, error: str | None, headers: Mapping[str, str]) -> str:
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
            offered = "negotiate" in headers.get("www-authenticate", "").lower()
            return (
                "Kerberos authentication failed: check the ticket (klist; kinit, or a client "
                "keytab in KRB5_CLIENT_KTNAME) and that the KDC knows the service principal of "
                f"HTTP@{self.kerberos_hostname or self.host} (HTTP/ its canonical host name)"
                if offered
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

    def _token_from(self, body: bytes) -> _Token:
        where = f"the token endpoint {self.token_url}"
        try:
            answer = json.loads(body)
        except ValueError:
            raise InvalidTokenResponse(
                f"{where} answered with something that is not JSON ({len(body)} bytes); check "
                "that token_url is the token endpoint, not a login page"
            ) from None
        if not isinstance(answer, dict):
            raise InvalidTokenResponse(f"{where} answered with JSON that is not an object")
        value = answer.get("access_token")
        if not isinstance(value, str) or not value.strip():
            raise InvalidTokenResponse(
                f"{where} answered without an access_token (keys: "
                f"{_printable(', '.join(sorted(str(k)[:40] for k in answer)[:10])) or 'none'}); "
                "check the "
                "grant type and the client's registration"
            )
        token_type = answer.get("token_type")
        if isinstance(token_type, str) and token_type.lower() != "bearer":
            raise InvalidTokenResponse(
                f"{where} issued a token of type {_printable(token_type[:40])!r}, not a bearer "
                "token; a DICOM identity can only carry a bearer JWT"
            )
        value = value.strip()
        claims = self._claims(value, where)
        now = self._clock()
        expiries = []
        if "exp" in claims:
            exp = claims["exp"]
            if isinstance(exp, bool) or not isinstance(exp, int | float):
                raise InvalidTokenResponse(f"{where} issued a JWT whose 'exp' is not a number")
            expiries.append(float(exp))
        expires_in = _seconds(answer.get("expires_in"))  # some services send "3599"
        if expires_in is not None:
            expiries.append(now + expires_in)
        expires_at = min(expiries) if expiries else None
        if expires_at is not None and expires_at <= now:
            raise InvalidTokenResponse(
                f"{where} issued a token that expired at {_iso(expires_at)} (now {_iso(now)}); "
                "check this machine's clock and the service's"
            )
        if self.audience is not None and claims:
            aud = claims.get("aud")
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if self.audience not in audiences:
                raise InvalidTokenResponse(
                    f"{where} issued a token for audience {audiences or 'none'}, not "
                    f"{self.audience!r}; check the audience/scope the client asks for"
                )
        sub = claims.get("sub")
        principal = sub if isinstance(sub, str) and sub else self.client_id
        return self._cached(Secret(value), principal, claims, expires_at, now)

    def _claims(self, value: str, where: str) -> Mapping[str, Any]:
        parts = value.split(".")
        if len(parts) not in (3, 5) or not all(_BASE64URL_PART.match(p) for p in parts[:2]):
            raise InvalidTokenResponse(
                f"{where} issued an access token that is not a JWT ({len(parts)} dot-separated "
                "part(s)); a DICOM type 5 identity needs a JWT: configure the service to issue "
                "JWT access tokens for this client"
            )
        if len(parts) == 5:
            return {}  # a JWE: its claims are encrypted; expires_in tells the lifetime
        try:
            claims = jwt.decode(value, options={"verify_signature": False, "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise InvalidTokenResponse(
                f"{where} issued an access token that does not decode as a JWT "
                f"({type(exc).__name__})"
            ) from None
        return claims

    def _cached(
        self,
        value: Secret,
        principal: str,
        claims: Mapping[str, Any],
        expires_at: float | None,
        now: float,
    ) -> _Token:
        if expires_at is None:  # no lifetime known: used once, fetched again next time
            return _Token(value, principal, None, now, now)
        iat = claims.get("iat")
        issued = float(iat) if isinstance(iat, int | float) and iat <= now else now
        lifetime = max(expires_at - issued, 0.0)
        advisory = min(self.advisory_window, ADVISORY_FRACTION * lifetime)
        mandatory = min(self.mandatory_window, MANDATORY_FRACTION * lifetime)
        return _Token(value, principal, expires_at, expires_at - advisory, expires_at - mandatory)


def check_token_url(url: str) -> str:
    """The URL's host; raises :class:`InsecureTokenEndpoint` for plain HTTP off loopback and
    ``ValueError`` for a URL that is not http(s) with a host."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValueError("token_url must not carry credentials (user:password@)")
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"token_url must be an https:// URL with a host: {url!r}")
    if parts.scheme == "http" and not Target(host, 0, "", "").is_loopback:
        raise InsecureTokenEndpoint(
            f"refusing plain HTTP to the token endpoint {url}: the client credentials and the "
            "token would travel in clear. Use https:// (plain http only to 127.0.0.1, ::1 or "
            "localhost)"
        )
    return host


def _kerberos_auth_factory(
    hostname: str | None,
) -> tuple[Callable[[], requests.auth.AuthBase], type[Exception]]:
    """A maker of fresh ``HTTPKerberosAuth`` objects, and the error it raises when the server
    fails mutual authentication."""
    try:
        from requests_kerberos import REQUIRED, HTTPKerberosAuth
        from requests_kerberos.exceptions import MutualAuthenticationError
    except ImportError as exc:
        from providers.kerberos import KerberosUnavailable

        raise KerberosUnavailable(
            f'auth="kerberos" needs requests-kerberos ({exc.name} is missing): {EXTRA_HINT}'
        ) from exc
    _quiet_negotiate_tokens()

    def make() -> requests.auth.AuthBase:
        # A fresh one per request: after its first success, an HTTPKerberosAuth skips mutual
        # authentication of every later response.
        return HTTPKerberosAuth(  # type: ignore[no-any-return]
            mutual_authentication=REQUIRED, hostname_override=hostname
        )

    return make, MutualAuthenticationError


class _ContextAdapter(requests.adapters.HTTPAdapter):
    """Verifies HTTPS with one ``SSLContext`` and nothing else (requests would add certifi)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(pool)
        pool_kwargs["ssl_context"] = self._context
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        return host, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        base: Any = super()
        base.cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None  # the context alone decides


class _NegotiateLogFilter(logging.Filter):
    """requests-kerberos logs the SPNEGO tokens it sends and receives, base64, at DEBUG."""

    _TOKEN = re.compile(r"((?:Negotiate|Authenticate header:)\s*)[A-Za-z0-9+/=]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._TOKEN.sub(r"\1[redacted]", message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_negotiate_filter = _NegotiateLogFilter()


def _quiet_negotiate_tokens() -> None:
    from providers.kerberos import _quiet_spnego_tokens

    _quiet_spnego_tokens()
    for name in ("requests_kerberos", "requests_kerberos.kerberos_"):
        logger = logging.getLogger(name)
        if _negotiate_filter not in logger.filters:
            logger.addFilter(_negotiate_filter)


def _read_body(response: requests.Response, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        size += len(data)
        if size > MAX_RESPONSE_BYTES:
            raise InvalidTokenResponse(
                f"the token endpoint {url} answered with more than {MAX_RESPONSE_BYTES} bytes; "
                "check that token_url is the token endpoint"
            )
        chunks.append(data)
    return b"".join(chunks)


def _root_cause(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, e.g. "[Errno 111] Connection refused"."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        inner = reason if isinstance(reason, BaseException) else None
        if inner is None and current.args and isinstance(current.args[0], BaseException):
            inner = current.args[0]
        if inner is None:
            inner = current.__cause__ or current.__context__
        if inner is None:
            break
        current = inner
    text = str(current)
    # urllib3 prefixes "<urllib3.connection.HTTPConnection object at 0x...>: " to the reason.
    text = re.sub(r"^<[^>]+>:\s*", "", text)
    return _printable(text)[:_SHOWN_TEXT] or type(current).__name__


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub(" ", text)


def _shown(text: str, secret: Secret | None) -> str:
    """Server text for a message: printable, shortened, never the client secret."""
    if secret is not None:
        value = secret.reveal().decode("utf-8", "replace")
        if value:
            text = text.replace(value, "[redacted]")
    return _printable(text)[:_SHOWN_TEXT]


def _iso(ts: float | None) -> str:
    if ts is None:
        return "(unknown)"
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):  # a server's "exp" may be anything
        return f"{ts:g} s after the epoch"
