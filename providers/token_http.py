"""The HTTP side of the token endpoint: one POST with verified TLS, optionally Kerberos.

HTTPS is verified against ``ca_file`` or the system's trust store, never certifi's bundle (which
requests uses by default and which knows no hospital's private CA). With Kerberos, a fresh
``HTTPKerberosAuth`` per request requires mutual authentication; the SPNEGO tokens that
requests-kerberos and pyspnego log at DEBUG are redacted. Every failure becomes a
:class:`~providers.token_errors.TokenEndpointError` that says what to do, raised without the
requests exception chained to it (that one holds the prepared request, client secret included).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
import requests.auth

from providers.kerberos import EXTRA_HINT
from providers.token_errors import (
    InvalidTokenResponse,
    TokenEndpointError,
    TokenEndpointNotAuthenticated,
    TokenEndpointUnreachable,
)

__all__ = ["MAX_RESPONSE_BYTES", "HttpAnswer", "TokenTransport", "printable", "shortened"]

MAX_RESPONSE_BYTES = 1 << 20
_SHOWN_TEXT = 300
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


class TokenTransport:
    """POSTs to ``token_url``; ``kerberos=True`` authenticates with SPNEGO (mutual auth
    required, as ``HTTP@kerberos_hostname`` or the URL's host)."""

    def __init__(
        self,
        token_url: str,
        *,
        host: str,
        timeout: float,
        ca_file: str | None,
        kerberos: bool,
        kerberos_hostname: str | None,
    ) -> None:
        self.token_url = token_url
        self.host = host
        self.timeout = timeout
        self.ca_file = ca_file
        self.kerberos_hostname = kerberos_hostname
        self._kerberos_auth: Callable[[], requests.auth.AuthBase] | None = None
        self._mutual_auth_error: type[Exception] | None = None
        if kerberos:
            self._kerberos_auth, self._mutual_auth_error = _kerberos_auth_factory(kerberos_hostname)

    def post(self, form: dict[str, str]) -> HttpAnswer:
        """POST ``form`` (form-encoded) and read the answer; raises a :class:`TokenEndpointError`
        subclass for anything that kept an answer from coming back."""
        auth = self._kerberos_auth() if self._kerberos_auth is not None else None
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
                    return HttpAnswer(
                        response.status_code, response.reason or "", response.headers, body
                    )
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
    return shortened(text) or type(current).__name__


def printable(text: str) -> str:
    """Server text for a message: control characters replaced."""
    return _UNPRINTABLE.sub(" ", text)


def shortened(text: str) -> str:
    """Server text for a message: printable, and at most 300 characters."""
    return printable(text)[:_SHOWN_TEXT]
