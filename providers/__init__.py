"""Credential providers for DICOM User Identity Negotiation.

Each provider fetches a secret from where it really lives and builds the identity for one
association. This package never imports ``client_sdk``.
"""

import logging

from providers.base import (
    IdentityExchange,
    IdentityProvider,
    IdentityRequest,
    IdentityType,
    ResponseCheck,
    ResponseStatus,
    Target,
)
from providers.basic_auth import HttpBasicAuth
from providers.bearer_auth import HttpBearerAuth
from providers.chain import ProviderChain
from providers.errors import (
    CredentialError,
    CredentialExpired,
    CredentialUnavailable,
    IdentityError,
    InvalidIdentity,
    MutualAuthenticationFailed,
    NoCredentials,
)
from providers.http_auth import http_auth
from providers.http_auth_errors import (
    HttpAuthError,
    HttpAuthUnsupported,
    HttpAuthWrongOrigin,
    HttpMutualAuthenticationFailed,
    InsecureHttpAuth,
)
from providers.jwt_file import JwtFileProvider
from providers.kerberos import KerberosProvider, KerberosUnavailable
from providers.keyring_access import KeyringEntryMissing
from providers.keyring_password import KeyringPasswordProvider
from providers.negotiate_auth import HttpNegotiateAuth
from providers.oidc_errors import (
    InvalidIdToken,
    LoginDenied,
    LoginExpired,
    LoginRequired,
    OidcDiscoveryError,
    OidcLoginError,
)
from providers.oidc_login import LoginStatus, LogoutResult, OidcLoginProvider
from providers.oidc_prompt import LoginPrompt
from providers.password import PasswordProvider
from providers.saml_assertion import InvalidSamlAssertion, UnsafeXml
from providers.saml_file import SamlFileProvider
from providers.secret import Secret
from providers.token_endpoint import TokenEndpointProvider
from providers.token_errors import (
    InsecureTokenEndpoint,
    InvalidTokenResponse,
    TokenEndpointError,
    TokenEndpointNotAuthenticated,
    TokenEndpointUnreachable,
    TokenRequestRejected,
)
from providers.username import UsernameProvider

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "CredentialError",
    "CredentialExpired",
    "CredentialUnavailable",
    "HttpAuthError",
    "HttpAuthUnsupported",
    "HttpAuthWrongOrigin",
    "HttpBasicAuth",
    "HttpBearerAuth",
    "HttpMutualAuthenticationFailed",
    "HttpNegotiateAuth",
    "IdentityError",
    "IdentityExchange",
    "IdentityProvider",
    "IdentityRequest",
    "IdentityType",
    "InsecureHttpAuth",
    "InsecureTokenEndpoint",
    "InvalidIdToken",
    "InvalidIdentity",
    "InvalidSamlAssertion",
    "InvalidTokenResponse",
    "JwtFileProvider",
    "KerberosProvider",
    "KerberosUnavailable",
    "KeyringEntryMissing",
    "KeyringPasswordProvider",
    "LoginDenied",
    "LoginExpired",
    "LoginPrompt",
    "LoginRequired",
    "LoginStatus",
    "LogoutResult",
    "MutualAuthenticationFailed",
    "NoCredentials",
    "OidcDiscoveryError",
    "OidcLoginError",
    "OidcLoginProvider",
    "PasswordProvider",
    "ProviderChain",
    "ResponseCheck",
    "ResponseStatus",
    "SamlFileProvider",
    "Secret",
    "Target",
    "TokenEndpointError",
    "TokenEndpointNotAuthenticated",
    "TokenEndpointProvider",
    "TokenEndpointUnreachable",
    "TokenRequestRejected",
    "UnsafeXml",
    "UsernameProvider",
    "http_auth",
]
