"""One credential source, two protocols: the ``requests`` auth object of a provider.

``http_auth(provider, url=...)`` gives the HTTP authentication built from the same source the
provider uses for DICOM user identity negotiation:

* ``PasswordProvider``, ``KeyringPasswordProvider``: Basic (:mod:`providers._basic_auth`);
* ``JwtFileProvider``, ``TokenEndpointProvider``: Bearer (:mod:`providers._bearer_auth`);
* ``KerberosProvider``: Negotiate, every reply verified (:mod:`providers._negotiate_auth`);
* ``SamlFileProvider``, ``UsernameProvider``, ``ProviderChain``: refused, saying why.

Every auth object is bound to the origin of ``url``; a password or bearer token goes over plain
HTTP only to loopback unless ``allow_plain_http`` (:mod:`providers._http_origin`). The HTTP
stack's debug output is scrubbed of credentials (:mod:`providers._http_debug_scrub`).
"""

from __future__ import annotations

import requests.auth

from providers._base import IdentityProvider, IdentityType
from providers._basic_auth import HttpBasicAuth
from providers._bearer_auth import HttpBearerAuth, ProviderTokens, TokenEndpointTokens
from providers._chain import ProviderChain
from providers._http_auth_errors import HttpAuthUnsupported
from providers._http_origin import Origin
from providers._kerberos import KerberosProvider, MutualAuth
from providers._negotiate_auth import HttpNegotiateAuth
from providers._token_endpoint import TokenEndpointProvider

_SAML_WHY = (
    "a SAML assertion has no standard HTTP binding as a bearer credential to a DICOMweb "
    "server (SAML's own bindings log a browser in; they do not authorize an API request), so "
    "the assertion is not sent. For DICOMweb use a token endpoint (TokenEndpointProvider: "
    "an OAuth2 token, sent as Bearer) or Kerberos; the SAML assertion still works over DIMSE"
)


def http_auth(
    provider: IdentityProvider,
    *,
    url: str,
    allow_plain_http: bool = False,
    transport_checks_loopback: bool = False,
    hostname: str | None = None,
    mutual_auth: MutualAuth | None = None,
    channel_bindings: bool = True,
) -> requests.auth.AuthBase:
    """The ``requests`` auth object for ``provider``'s credential, for requests to the origin
    of ``url`` (the DICOMweb root, e.g. ``https://pacs.example.org/dicom-web``).

    ``allow_plain_http``: send a password or bearer token over plain HTTP off loopback.
    ``transport_checks_loopback``: the session's plain-HTTP adapter checks the address it
    connected to (``providers._http_deadline.DeadlineAdapter``), so a ``localhost`` name may be
    used. Kerberos only: ``hostname`` of ``HTTP/hostname``, ``mutual_auth`` (default: the
    provider's), ``channel_bindings`` over HTTPS.

    Raises :class:`HttpAuthUnsupported` for a source that has no HTTP scheme here, and
    ``ValueError`` for a URL that is not http(s) with a host."""
    origin = Origin.of(url)
    if isinstance(provider, KerberosProvider):
        return HttpNegotiateAuth(
            provider,
            url=url,
            hostname=hostname,
            mutual_auth=mutual_auth,
            channel_bindings=channel_bindings,
        )
    if isinstance(provider, TokenEndpointProvider):
        return HttpBearerAuth(
            TokenEndpointTokens(provider, origin.target),
            url=url,
            what=f"the token from {provider.token_url}",
            allow_plain_http=allow_plain_http,
            transport_checks_loopback=transport_checks_loopback,
        )
    if isinstance(provider, ProviderChain):
        raise HttpAuthUnsupported(
            f"{provider!r}: a chain chooses its identity per association, and an HTTP auth "
            "object must send one kind of credential; give http_auth the provider to use"
        )
    kind = getattr(provider, "identity_type", None)
    if kind is IdentityType.USERNAME_PASSCODE:
        return HttpBasicAuth(
            provider,
            url=url,
            allow_plain_http=allow_plain_http,
            transport_checks_loopback=transport_checks_loopback,
        )
    if kind is IdentityType.JWT:
        path = getattr(provider, "path", None)
        what = f"the token of JWT file {path}" if path else "a bearer token"
        tokens = ProviderTokens(provider, origin.target)
        return HttpBearerAuth(
            tokens,
            url=url,
            what=what,
            allow_plain_http=allow_plain_http,
            transport_checks_loopback=transport_checks_loopback,
        )
    if kind is IdentityType.SAML:
        raise HttpAuthUnsupported(f"{provider!r}: {_SAML_WHY}")
    if kind is IdentityType.USERNAME:
        raise HttpAuthUnsupported(
            f"{provider!r} has a username and no proof of it: an HTTP server authenticates "
            "a password (Basic), a token (Bearer) or a Kerberos ticket (Negotiate). Use "
            "KeyringPasswordProvider for the same user"
        )
    raise HttpAuthUnsupported(
        f"{provider!r} says no identity type that HTTP authentication knows (it has no "
        "identity_type of username+passcode or JWT, and is no KerberosProvider)"
    )
