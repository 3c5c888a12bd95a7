"""One OpenID Provider seen by a client: its discovery document, and a request to any endpoint.

The document (``ISSUER/.well-known/openid-configuration``, OpenID Connect Discovery 1.0) is read
once and kept for ``max_age`` seconds. Its ``issuer`` must be the configured one (section 4.3; a
trailing slash apart), and every endpoint it names must be ``https://``, or plain HTTP to a
loopback host, like the token endpoint of :class:`~providers.TokenEndpointProvider`. Every
request goes through :class:`~providers._token_http.TokenTransport` (one deadline per exchange,
verified TLS, no proxy or credentials from the environment, no redirect followed, the address of
a plain-HTTP connection checked to be loopback before anything is written).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from providers._base import Target
from providers._misplaced_secret import refuse_misplaced_secret
from providers._oidc_errors import OidcDiscoveryError
from providers._outside_text import quoted
from providers._safe_errors import total_repr
from providers._scrub import server_text
from providers._secret import Secret
from providers._token_answer import ParsedAnswer, read_object
from providers._token_client_auth import ClientCredentials
from providers._token_errors import InsecureTokenEndpoint
from providers._token_http import HttpAnswer, TokenTransport

DISCOVERY_PATH = "/.well-known/openid-configuration"
DEFAULT_DISCOVERY_MAX_AGE = 3600.0
# What an ID token may be signed with here: asymmetric algorithms only (a public client holds no
# secret for HS256, and "none" is no signature).
ID_TOKEN_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
_ENDPOINTS = {
    "token_endpoint": "the token endpoint",
    "jwks_uri": "the JWKS endpoint",
    "authorization_endpoint": "the authorization endpoint",
    "device_authorization_endpoint": "the device authorization endpoint",
    "revocation_endpoint": "the revocation endpoint",
}


def check_issuer(issuer: str) -> str:
    """``issuer`` without a trailing slash; ``ValueError`` for what is not an issuer URL,
    :class:`InsecureTokenEndpoint` for plain HTTP to a host that cannot be loopback."""
    refuse_misplaced_secret(issuer, "issuer")
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"issuer must be an https:// URL with a host: {quoted(issuer, 160)}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(
            f"issuer must be a URL without user, query or fragment: {quoted(issuer, 160)}"
        )
    if parts.scheme == "http" and not Target(parts.hostname, 0, "", "").may_be_loopback:
        raise InsecureTokenEndpoint(
            f"refusing plain HTTP to the OpenID Provider {issuer}: the tokens would travel in "
            "clear. Use https:// (plain http only to 127.0.0.1, ::1 or a localhost name)"
        )
    return issuer.rstrip("/")


@dataclass(frozen=True)
class OidcEndpoints:
    """What the discovery document says. ``issuer`` as the document spells it (ID tokens carry
    that one); an endpoint the provider does not have is None."""

    issuer: str
    token: str
    jwks: str
    authorization: str | None
    device_authorization: str | None
    revocation: str | None
    id_token_algorithms: tuple[str, ...]
    pkce_s256: bool  # S256 offered, or nothing said about PKCE


class OidcServer:
    """The OpenID Provider at ``issuer``. ``timeout`` bounds each exchange; ``ca_file`` is the
    CA bundle for HTTPS (default: the system's trust store)."""

    def __init__(
        self,
        issuer: str,
        *,
        timeout: float,
        ca_file: str | None = None,
        max_age: float = DEFAULT_DISCOVERY_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = check_issuer(issuer)
        self.timeout = timeout
        self.ca_file = ca_file
        self.max_age = max_age
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._endpoints: OidcEndpoints | None = None
        self._read_at = 0.0
        self._transports: dict[str, TokenTransport] = {}

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"OidcServer({self.issuer!r})")

    @property
    def discovery_url(self) -> str:
        return self.issuer + DISCOVERY_PATH

    def endpoints(self) -> OidcEndpoints:
        """The discovery document, read at most once per ``max_age`` seconds."""
        with self._lock:
            now = self._monotonic()
            if self._endpoints is None or now - self._read_at >= self.max_age:
                self._endpoints = self._discover()
                self._read_at = now
            return self._endpoints

    def get_json(self, url: str, what: str) -> ParsedAnswer:
        """The JSON object at ``url`` (a discovery document, a JWKS)."""
        answer = self._transport(url, what).get()
        return read_object(answer, where=f"{what} {url}", sent=(), hint=_hint(what))

    def post(
        self,
        url: str,
        what: str,
        fields: Mapping[str, str],
        credentials: ClientCredentials | None = None,
    ) -> HttpAnswer:
        return self._transport(url, what).post(fields, credentials)

    def post_json(
        self,
        url: str,
        what: str,
        fields: Mapping[str, str],
        sent: Iterable[Secret | None] = (),
        credentials: ClientCredentials | None = None,
    ) -> ParsedAnswer:
        """POST ``fields`` and read the JSON object of a 2xx answer (``sent``: the request's
        secrets, scrubbed from any text shown)."""
        answer = self.post(url, what, fields, credentials)
        secrets = (*sent, *(credentials.secrets if credentials is not None else ()))
        return read_object(answer, where=f"{what} {url}", sent=secrets, hint=_hint(what))

    def _transport(self, url: str, what: str) -> TokenTransport:
        transport = self._transports.get(url)
        if transport is None:
            host = urlsplit(url).hostname or ""
            transport = TokenTransport(
                url,
                host=host,
                timeout=self.timeout,
                ca_file=self.ca_file,
                kerberos=False,
                kerberos_hostname=None,
                what=what,
            )
            self._transports[url] = transport
        return transport

    def _discover(self) -> OidcEndpoints:
        where = f"the discovery document of {self.issuer}"
        document = self.get_json(self.discovery_url, "the discovery document at")
        said = document.field("issuer")
        if not isinstance(said, str) or said.rstrip("/") != self.issuer:
            shown = server_text(said, limit=120) if isinstance(said, str) else "no issuer"
            raise OidcDiscoveryError(
                f"{where} names the issuer {shown!r}, not {self.issuer!r}: its tokens would "
                "not be this issuer's. Check the issuer setting (OpenID Connect Discovery 4.3)"
            )
        urls = {key: self._endpoint(document, key) for key in _ENDPOINTS}
        for key in ("token_endpoint", "jwks_uri"):
            if urls[key] is None:
                raise OidcDiscoveryError(f"{where} names no {key}; this is no OpenID Provider")
        algorithms = _strings(document.field("id_token_signing_alg_values_supported"))
        usable = tuple(a for a in ID_TOKEN_ALGORITHMS if a in algorithms) if algorithms else ()
        challenge_methods = _strings(document.field("code_challenge_methods_supported"))
        return OidcEndpoints(
            issuer=said,
            token=str(urls["token_endpoint"]),
            jwks=str(urls["jwks_uri"]),
            authorization=urls["authorization_endpoint"],
            device_authorization=urls["device_authorization_endpoint"],
            revocation=urls["revocation_endpoint"],
            id_token_algorithms=usable or ("RS256",),
            pkce_s256=not challenge_methods or "S256" in challenge_methods,
        )

    def _endpoint(self, document: ParsedAnswer, key: str) -> str | None:
        value = document.field(key)
        if value is None:
            return None
        where = f"the discovery document of {self.issuer}"
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
            raise OidcDiscoveryError(
                f"{where} gives {key} {server_text(quoted(value), limit=120)}, which is not an "
                "http(s) URL with a host; ask the provider's administrators"
            )
        assert isinstance(value, str)
        if parts.scheme == "http" and not Target(parts.hostname, 0, "", "").may_be_loopback:
            raise OidcDiscoveryError(
                f"{where} gives {key} {server_text(value, limit=120)}: plain HTTP off loopback, "
                "where tokens would travel in clear; nothing was sent there"
            )
        return value


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _hint(what: str) -> Callable[[int, str | None, bool], str]:
    def hint(status: int, error: str | None, negotiate_offered: bool) -> str:
        if status == 404 and "discovery" in what:
            return "Check the issuer URL: its /.well-known/openid-configuration is not there"
        if status >= 500:
            return "The OpenID Provider failed; try again later or ask its administrators"
        return "Check the issuer URL and the client's registration"

    return hint
