"""The HTTP side of the token endpoint: one POST (or GET) with verified TLS, optionally Kerberos.

HTTPS is verified against ``ca_file`` or the system's trust store, never certifi's bundle (which
requests uses by default and which knows no hospital's private CA). Nothing is taken from the
environment (``trust_env`` is off): no ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, no
``.netrc`` credentials, no ``REQUESTS_CA_BUNDLE`` (which the TLS context already ignored). An
HTTPS endpoint is reached through a proxy only when ``proxy`` says so, by a ``CONNECT`` tunnel:
the proxy sees the host and port, never the request. The whole exchange, connect to the last
byte of the body (both requests of Kerberos), has one deadline (:mod:`providers._http_deadline`).

With Kerberos, a fresh ``HTTPKerberosAuth`` per request requires mutual authentication; the
SPNEGO tokens that requests-kerberos and pyspnego log at DEBUG are redacted. Every failure
becomes a :class:`~providers._token_errors.TokenEndpointError` that says what to do, raised
without the requests exception chained to it (that one holds the prepared request, client secret
included); any text of the server or of the HTTP stack in it went through
:func:`providers._scrub.server_text`.
"""

from __future__ import annotations

import http.client
import logging
import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlencode

import requests
import requests.adapters
import requests.auth
import urllib3.exceptions

from providers._http_deadline import (
    ContextAdapter,
    Deadline,
    DeadlineAdapter,
    DeadlineSSLSocket,
    PlainHttpOffLoopback,
    exchange_deadline,
)
from providers._kerberos import EXTRA_HINT
from providers._safe_errors import secret_safe, total_repr
from providers._scrub import in_flight, install_log_scrubber, server_text
from providers._secret import Secret
from providers._token_client_auth import ClientCredentials
from providers._token_errors import (
    InsecureTokenEndpoint,
    TokenEndpointError,
    TokenEndpointNotAuthenticated,
    TokenEndpointUnreachable,
)

MAX_RESPONSE_BYTES = 1 << 20
# Loggers of the HTTP stack that may quote the server (urllib3 logs a header it cannot parse,
# with the raw bytes around it): scrubbed of the exchange's secrets while it runs.
_HTTP_LOGGERS = (
    "requests",
    "urllib3",
    "urllib3.connection",
    "urllib3.connectionpool",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)


class HttpAnswer:
    """What the token endpoint answered. The body may hold tokens: it is a :class:`Secret`;
    ``sent`` holds the credentials that went with the request (Kerberos' ``Authorization``),
    for scrubbing. Neither the ``repr`` nor anything else shows the server's text unscrubbed."""

    __slots__ = ("body", "headers", "sent", "status", "too_large")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: Secret,
        sent: tuple[Secret, ...] = (),
        *,
        too_large: bool = False,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.sent = sent
        self.too_large = too_large

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"HttpAnswer(status={self.status})")


class TokenTransport:
    """POSTs to ``token_url`` (or GETs it); ``kerberos=True`` authenticates with SPNEGO (mutual
    auth required, as ``HTTP@kerberos_hostname`` or the URL's host); ``proxy``
    (``http://host:port``, HTTPS endpoints only) tunnels through that proxy. ``what`` names the
    endpoint in messages ("the token endpoint", "the JWKS endpoint of ISSUER")."""

    def __init__(
        self,
        token_url: str,
        *,
        host: str,
        timeout: float,
        ca_file: str | None,
        kerberos: bool,
        kerberos_hostname: str | None,
        proxy: str | None = None,
        what: str = "the token endpoint",
    ) -> None:
        self.token_url = token_url
        self.what = what
        self.host = host
        self.timeout = timeout
        self.ca_file = ca_file
        self.kerberos_hostname = kerberos_hostname
        self.proxy = proxy
        self._kerberos_auth: Callable[[], requests.auth.AuthBase] | None = None
        self._mutual_auth_error: type[Exception] | None = None
        install_log_scrubber(*_HTTP_LOGGERS)
        if kerberos:
            self._kerberos_auth, self._mutual_auth_error = _kerberos_auth_factory(kerberos_hostname)

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"TokenTransport({self.token_url!r})")

    @secret_safe  # requests' and urllib3's frames hold the form, client secret included
    def post(
        self, fields: Mapping[str, str], credentials: ClientCredentials | None = None
    ) -> HttpAnswer:
        """POST ``fields`` with the client's ``credentials`` (form fields, ``Authorization``)
        and read the answer, all within ``timeout``; raises a :class:`TokenEndpointError`
        subclass for anything that kept an answer from coming back."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if credentials is not None and credentials.authorization is not None:
            headers["Authorization"] = credentials.authorization.reveal().decode("ascii")
        sent = credentials.secrets if credentials is not None else ()
        return self._send("POST", _form(fields, credentials), headers, sent)

    @secret_safe
    def get(self) -> HttpAnswer:
        """GET the URL (a discovery document, a JWKS), with the same rules as :meth:`post`."""
        return self._send("GET", None, {}, ())

    def _send(
        self,
        method: str,
        data: bytes | None,
        headers: Mapping[str, str],
        secrets: tuple[Secret, ...],
    ) -> HttpAnswer:
        auth = self._kerberos_auth() if self._kerberos_auth is not None else None
        context = self._tls_context() if self.token_url.lower().startswith("https:") else None
        with exchange_deadline(self.timeout) as deadline, in_flight(secrets):
            try:
                with _Session() as session:
                    session.trust_env = False  # no proxy, .netrc or CA bundle from the environment
                    session.mount("http://", DeadlineAdapter())
                    if context is not None:
                        session.mount("https://", ContextAdapter(context))
                    response = session.request(
                        method,
                        self.token_url,
                        data=data,
                        auth=auth,
                        headers={
                            "Accept": "application/json",
                            "Accept-Encoding": "identity",  # no compressed answers asked for
                            **headers,
                        },
                        timeout=(self.timeout, self.timeout),
                        verify=True,  # against the context: ca_file, or the system's trust store
                        allow_redirects=False,
                        proxies={"https": self.proxy} if self.proxy else {},
                        stream=True,
                    )
                    with response:
                        body, too_large = _read_body(response)
                        return HttpAnswer(
                            response.status_code,
                            response.headers,
                            body,
                            _sent_credentials(response),
                            too_large=too_large,
                        )
            except Exception as exc:
                failure = self._explain(exc, deadline, (*secrets, *_sent_credentials(exc)))
                if failure is None:
                    raise
        # Raised outside the handler: the requests exception (which holds the prepared request,
        # client secret included) is not chained to ours.
        raise failure

    def _tls_context(self) -> ssl.SSLContext:
        """``ca_file`` alone, or the system's trust store (not certifi's bundle, which requests
        uses by default and which knows no hospital's private CA)."""
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TokenEndpointError(
                f"the CA file {self.ca_file} for {self.what} {self.token_url} cannot be "
                f"loaded ({getattr(exc, 'strerror', None) or exc}); give a PEM file of the "
                "CA certificates that sign the token service's certificate"
            ) from None
        context.sslsocket_class = DeadlineSSLSocket
        return context

    def _explain(
        self, exc: Exception, deadline: Deadline, secrets: Iterable[Secret | None]
    ) -> TokenEndpointError | None:
        """Our error for a failed request; None for an exception that is not about the request."""
        url = self.token_url
        if self._mutual_auth_error is not None and isinstance(exc, self._mutual_auth_error):
            return TokenEndpointNotAuthenticated(
                f"{self.what} {url} did not prove its identity (Kerberos mutual "
                f"authentication failed for HTTP@{self.kerberos_hostname or self.host}): its "
                "answer is not trusted. Check that the service is the real one and is "
                "configured for Kerberos"
            )
        if isinstance(exc, PlainHttpOffLoopback):
            return InsecureTokenEndpoint(
                f"refusing plain HTTP to {self.what} {url}: {self.host!r} led to "
                f"{exc.address}, not a loopback address, so the connection was closed and "
                "nothing was sent (the client credentials would have crossed the network in "
                "clear). Use https://, or a loopback address"
            )
        if not isinstance(exc, _REQUEST_FAILURES):
            return None
        via = f" through the proxy {self.proxy}" if self.proxy else ""
        if deadline.passed:
            return TokenEndpointUnreachable(
                f"{self.what} {url}{via} did not complete its answer within the deadline "
                f"of {self.timeout:g} s (connect, headers and body); check the token service, "
                "or raise timeout if it is only slow"
            )
        root = _root(exc)
        cause = _reason(root, secrets)
        if isinstance(exc, requests.exceptions.ProxyError):
            return TokenEndpointUnreachable(
                f"the proxy {self.proxy} did not open a tunnel to {self.what} {url} "
                f"({cause}); check the proxy setting and that the proxy allows CONNECT to it"
            )
        if isinstance(root, http.client.HTTPException):
            return TokenEndpointUnreachable(
                f"{self.what} {url}{via} sent an answer that is not valid HTTP ({cause}); "
                f"check that the URL is {self.what}, and the service"
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return TokenEndpointUnreachable(
                f"TLS with {self.what} {url} failed ({cause}). "
                "If the service uses a private CA, give ca_file=PATH (PEM)"
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            return TokenEndpointUnreachable(
                f"cannot reach {self.what} {url}{via} ({cause}); check "
                "the URL and that the token service is running"
            )
        return TokenEndpointUnreachable(f"the request to {self.what} {url}{via} failed ({cause})")


# What a failed exchange raises: requests' errors, and what some paths of requests let through
# unwrapped (urllib3's ProtocolError, http.client's errors, a socket's OSError).
_REQUEST_FAILURES = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


class _Session(requests.Session):
    """Never follows a redirect, and never reads a redirect's body to get ready to: requests
    does that, whole and unbounded, even with ``allow_redirects=False``."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def _form(fields: Mapping[str, str], credentials: ClientCredentials | None) -> bytes:
    """The form body; a client secret or assertion is only ever in this value and requests'
    copy of it."""
    items = list(fields.items())
    if credentials is not None:
        items += credentials.fields.items()
        items += [
            (name, value.reveal().decode("utf-8")) for name, value in credentials.secret_fields
        ]
    return urlencode(items).encode("ascii")


def _sent_credentials(source: object) -> tuple[Secret, ...]:
    """The ``Authorization`` values sent (Kerberos' SPNEGO tokens), from a response and the
    responses before it, or from a requests exception."""
    responses = [source, *getattr(source, "history", ())]
    sent = []
    for response in responses:
        request = getattr(response, "request", None)
        value = getattr(request, "headers", {}).get("Authorization") if request else None
        if isinstance(value, str) and value:
            sent.append(Secret(value))
            credential = value.partition(" ")[2]
            if credential:
                sent.append(Secret(credential))
    return tuple(sent)


def _kerberos_auth_factory(
    hostname: str | None,
) -> tuple[Callable[[], requests.auth.AuthBase], type[Exception]]:
    """A maker of fresh ``HTTPKerberosAuth`` objects, and the error it raises when the server
    fails mutual authentication."""
    try:
        from requests_kerberos import REQUIRED, HTTPKerberosAuth
        from requests_kerberos.exceptions import MutualAuthenticationError
    except ImportError as exc:
        from providers._kerberos import KerberosUnavailable

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
    from providers._kerberos import _quiet_spnego_tokens

    _quiet_spnego_tokens()
    for name in ("requests_kerberos", "requests_kerberos.kerberos_"):
        logger = logging.getLogger(name)
        if _negotiate_filter not in logger.filters:
            logger.addFilter(_negotiate_filter)


def _read_body(response: requests.Response) -> tuple[Secret, bool]:
    """The body, and whether it was cut at :data:`MAX_RESPONSE_BYTES` (the caller raises: not
    here, where the chunks are locals that an error reporter would show)."""
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        if len(body) > MAX_RESPONSE_BYTES:
            return Secret(b""), True
    return Secret(bytes(body)), False


def _root(exc: BaseException) -> BaseException:
    """The innermost reason of a requests/urllib3 error (a socket error, an SSL error, an
    http.client error)."""
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
    return current


def _reason(root: BaseException, secrets: Iterable[Secret | None]) -> str:
    """``root`` for a message, e.g. "[Errno 111] Connection refused", scrubbed. An http.client
    error quotes the server's own bytes (a whole bad status line): only its name is shown."""
    if isinstance(root, http.client.HTTPException) and not isinstance(
        root, http.client.IncompleteRead
    ):
        return type(root).__name__
    # urllib3 prefixes "<urllib3.connection.HTTPConnection object at 0x...>: " to the reason.
    text = re.sub(r"^<[^>]+>:\s*", "", str(root))
    return server_text(text, secrets) or type(root).__name__
