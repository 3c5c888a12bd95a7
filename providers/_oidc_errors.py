"""The errors of :class:`providers.OidcLoginProvider` (an OpenID Connect login for a person).

Failures to reach the provider, and answers that are HTTP errors or not JSON, are the token
endpoint's errors (:mod:`providers._token_errors`): the same transport reads every endpoint.
"""

from __future__ import annotations

from providers._errors import CredentialError, CredentialUnavailable

# What the advice says when the caller set none (the command line sets its own: "dicom-identity
# login archive").
DEFAULT_LOGIN_COMMAND = "dicom-identity login PEER (or OidcLoginProvider.login())"


class OidcLoginError(CredentialError):
    """A login at the OpenID Provider failed, or its answer cannot be trusted."""


class LoginRequired(CredentialUnavailable):
    """No usable login: none yet, it was revoked or it expired, and nobody may be asked now
    (``interactive`` is off). Nothing was sent. ``command`` is what to run."""

    def __init__(self, message: str, *, issuer: str, client_id: str, command: str) -> None:
        super().__init__(f"{message}. Log in with: {command}")
        self.issuer = issuer
        self.client_id = client_id
        self.command = command


class LoginDenied(OidcLoginError):
    """The person (or the provider for them) refused the login: ``access_denied``."""


class LoginExpired(OidcLoginError):
    """Nobody completed the login in time: the device code expired, or the browser never came
    back to the loopback address before the deadline."""


class InvalidIdToken(OidcLoginError):
    """The ID token does not verify: signature, issuer, audience, expiry or nonce. The login's
    tokens were not kept."""


class OidcDiscoveryError(OidcLoginError):
    """The discovery document is not one this client can use: another issuer, an endpoint
    missing, or an endpoint that would carry a token in clear."""
