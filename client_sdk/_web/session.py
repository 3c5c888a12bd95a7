"""The ``requests.Session`` of a DICOMweb peer: the provider's HTTP auth, one deadline per
request, ``TlsConfig``'s verification and client certificate, no environment settings, and the
same ``Policy`` as DIMSE.

* auth: :func:`providers._http_auth.http_auth` (Basic, Bearer, Negotiate), bound to the peer's
  origin; a password or token goes over plain HTTP only to a loopback address (checked on the
  connected address by :class:`providers._http_deadline.DeadlineAdapter`) unless
  ``Policy.allow_insecure_transport``; a Negotiate reply that fails mutual authentication is
  refused by the auth object itself.
* one deadline for each request as a whole (connect, TLS, headers, body, Kerberos' second leg).
* ``trust_env=False``: no proxy, ``.netrc`` or CA bundle from the environment; a proxy only when
  given (``https://`` through a CONNECT tunnel; a password or token goes to a proxy in clear
  only for a literal loopback server, unless the policy allows plain HTTP).
* ``TlsConfig.server_hostname``: the name sent in SNI and checked against the certificate.
* failures become SDK errors (:mod:`client_sdk._web.failures`), raised outside the handler of the
  requests exception, which holds the Authorization header.
"""

from __future__ import annotations

import ssl
from typing import Any

import requests

from client_sdk._policy import Policy
from client_sdk._tls import TlsConfig
from client_sdk._web.failures import failure_of, status_failure
from providers._base import IdentityProvider
from providers._http_auth import http_auth
from providers._http_deadline import (
    ContextAdapter,
    DeadlineAdapter,
    DeadlineSSLSocket,
    exchange_deadline,
)
from providers._http_origin import Origin
from providers._safe_errors import secret_safe, total_repr

__all__ = ["WebSession", "web_session"]

DEFAULT_TIMEOUT = 60.0


class WebSession(requests.Session):
    """A session whose every request has one overall deadline of ``timeout`` seconds and ends
    in an SDK error: 401 and 403 included (any other status is left to the caller)."""

    def __init__(self, timeout: float, proxy: str | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self.trust_env = False  # no proxy, .netrc or CA bundle from the environment
        self.proxies = {"http": proxy, "https": proxy} if proxy else {}

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"<WebSession timeout={self.timeout:g}s auth={type(self.auth).__name__}>"
        )

    @secret_safe
    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        where = _without_query(str(url))
        kwargs["timeout"] = (self.timeout, self.timeout)
        kwargs.setdefault("allow_redirects", False)  # a credential stays with its own origin
        with exchange_deadline(self.timeout) as deadline:
            try:
                response = super().request(method, url, *args, **kwargs)
                if not kwargs.get("stream"):
                    response.content  # noqa: B018 - the body too, within the deadline
            except Exception as exc:
                failure = failure_of(exc, where, deadline)
                if failure is None:
                    raise
            else:
                refused = status_failure(response, where)
                if refused is None:
                    return response
                response.close()
                failure = refused
        # Outside the handler: the requests exception is not chained to ours.
        raise failure


def web_session(
    url: str,
    provider: IdentityProvider | None,
    *,
    tls: TlsConfig | None = None,
    policy: Policy | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    proxy: str | None = None,
    kerberos_hostname: str | None = None,
) -> WebSession:
    """A session for the DICOMweb root ``url`` (``https://host/dicom-web``) authenticating as
    ``provider`` (None: no authentication). ``tls``: CA file, client certificate and
    ``server_hostname`` (the name for SNI and the certificate check, when not the URL's host)
    for ``https://`` (None: the system's trust store). ``kerberos_hostname``: the host of the
    ``HTTP/host`` service principal, when it is not the URL's. Raises ``ValueError`` for a
    URL that is not http(s) with a host, ``HttpAuthUnsupported`` for a provider with no HTTP
    scheme and ``TlsConfigError`` for an unusable TLS file."""
    origin = Origin.of(url)
    policy = policy or Policy()
    session = WebSession(timeout, proxy)
    allowed = policy.allow_insecure_transport
    session.mount("http://", DeadlineAdapter(plain_http_off_loopback=allowed))
    tls = tls or TlsConfig()
    session.mount("https://", ContextAdapter(_tls_context(tls), tls.server_hostname))
    if provider is not None:
        session.auth = http_auth(
            provider,
            url=url,
            allow_plain_http=allowed,
            # Through a proxy the adapter sees the proxy's address, not the server's: a
            # localhost name is then no proof of loopback (the proxy resolves it).
            transport_checks_loopback=not origin.tls and proxy is None,
            hostname=kerberos_hostname,
        )
    return session


def _tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """A context of this session's own (the DIMSE one is shared and traces its sockets), built
    from the same settings, whose sockets keep the deadline."""
    tls._stamps()  # a missing or unreadable file: TlsConfigError naming it
    context = tls._build()
    context.sslsocket_class = DeadlineSSLSocket
    return context


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]
