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
from providers.jwt_file import JwtFileProvider
from providers.kerberos import KerberosProvider, KerberosUnavailable
from providers.keyring_access import KeyringEntryMissing
from providers.keyring_password import KeyringPasswordProvider
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
    "IdentityError",
    "IdentityExchange",
    "IdentityProvider",
    "IdentityRequest",
    "IdentityType",
    "InsecureTokenEndpoint",
    "InvalidIdentity",
    "InvalidSamlAssertion",
    "InvalidTokenResponse",
    "JwtFileProvider",
    "KerberosProvider",
    "KerberosUnavailable",
    "KeyringEntryMissing",
    "KeyringPasswordProvider",
    "MutualAuthenticationFailed",
    "NoCredentials",
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
]
