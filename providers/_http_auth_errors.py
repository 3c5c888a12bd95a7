"""The errors of the HTTP auth objects (:mod:`providers._http_auth`). None holds a secret."""

from __future__ import annotations

from providers._errors import CredentialError, IdentityError, MutualAuthenticationFailed


class HttpAuthError(IdentityError):
    """An HTTP auth object refused to authenticate a request, or its server's reply."""


class HttpAuthUnsupported(HttpAuthError, CredentialError):
    """This provider's credential has no HTTP authentication scheme here (SAML, a bare
    username): nothing was sent."""


class InsecureHttpAuth(HttpAuthError):
    """A password or bearer token would have crossed the network in clear (plain HTTP to a host
    that is not loopback): nothing was sent."""


class HttpAuthWrongOrigin(HttpAuthError):
    """The request goes to another origin (scheme, host, port) than the one the auth object
    was built for: its credential is not sent there."""


class HttpMutualAuthenticationFailed(HttpAuthError, MutualAuthenticationFailed):
    """The server's Negotiate reply did not prove that it holds the key of its service
    principal (tampered, replayed, missing, or for another context): the reply is refused."""
