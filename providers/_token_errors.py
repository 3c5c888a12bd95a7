"""The errors of :class:`providers.TokenEndpointProvider`, and the rules for its URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from providers._base import Target
from providers._errors import CredentialError, MutualAuthenticationFailed
from providers._misplaced_secret import refuse_misplaced_secret
from providers._outside_text import quoted


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


def check_token_url(url: str) -> str:
    """The URL's host; raises :class:`InsecureTokenEndpoint` for plain HTTP to a host that
    cannot be loopback (a name outside RFC 6761's ``localhost`` space, an address outside
    loopback) and ``ValueError`` for a URL that is not http(s) with a host."""
    # A secret typed into the URL (user part, client_secret=...) is refused, shown masked.
    refuse_misplaced_secret(url, "token_url")
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValueError("token_url must not carry credentials (user:password@)")
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(f"token_url must be an https:// URL with a host: {quoted(url, 160)}")
    # A name in the localhost space is only worth connecting to: the HTTP connection then
    # checks the address it reached (providers._http_deadline) before writing anything.
    if parts.scheme == "http" and not Target(host, 0, "", "").may_be_loopback:
        raise InsecureTokenEndpoint(
            f"refusing plain HTTP to the token endpoint {url}: the client credentials and the "
            "token would travel in clear. Use https:// (plain http only to a loopback address: "
            "127.0.0.1, ::1, or a localhost name that connects to one)"
        )
    return host


def check_proxy_url(proxy: str, token_url: str) -> str:
    """``proxy`` as given; raises ``ValueError`` unless it is ``http://host:port`` for an
    ``https://`` token URL.

    Only a tunnel (``CONNECT``) keeps the request from the proxy: for a plain-HTTP token URL the
    proxy would read the client secret, and a proxy URL with credentials would put a secret in
    the configuration."""
    if urlsplit(token_url).scheme != "https":
        raise ValueError(
            "a proxy is only used for an https:// token_url (the proxy then sees a CONNECT to "
            "the host, not the request); a plain-HTTP token endpoint is reached directly"
        )
    refuse_misplaced_secret(proxy, "proxy")
    parts = urlsplit(proxy)
    if parts.username or parts.password:
        raise ValueError(
            "the proxy URL must not carry credentials (user:password@): no secret goes into "
            "the configuration; use a proxy that lets this host CONNECT without them"
        )
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise ValueError(
            f"proxy must be http://HOST:PORT (a CONNECT proxy reached over plain TCP; the TLS "
            f"to the token endpoint runs through it end to end): {proxy!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"proxy must be http://HOST:PORT, without a path or query: {proxy!r}")
    return proxy
