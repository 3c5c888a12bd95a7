"""Credential providers for DICOM User Identity Negotiation.

Each provider fetches a secret from where it really lives and builds the identity for one
association. This package never imports ``client_sdk``.
"""

from __future__ import annotations

import logging

from providers import _deprecated
from providers._lazy_exports import lazy_exports

# Not typing's: importing typing costs every start-up, --help included (issue 16); type
# checkers read this name as typing.TYPE_CHECKING.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from providers._base import (
        IdentityExchange,
        IdentityProvider,
        IdentityRequest,
        IdentityType,
        ResponseCheck,
        ResponseStatus,
        Target,
    )
    from providers._basic_auth import HttpBasicAuth
    from providers._bearer_auth import HttpBearerAuth
    from providers._chain import ProviderChain
    from providers._errors import (
        CredentialError,
        CredentialExpired,
        CredentialUnavailable,
        IdentityError,
        InvalidIdentity,
        MutualAuthenticationFailed,
        NoCredentials,
    )
    from providers._http_auth import http_auth
    from providers._http_auth_errors import (
        HttpAuthError,
        HttpAuthUnsupported,
        HttpAuthWrongOrigin,
        HttpMutualAuthenticationFailed,
        InsecureHttpAuth,
    )
    from providers._jwt_file import JwtFileProvider
    from providers._kerberos import KerberosProvider, KerberosUnavailable
    from providers._keyring_access import KeyringEntryMissing
    from providers._keyring_password import KeyringPasswordProvider
    from providers._negotiate_auth import HttpNegotiateAuth
    from providers._oidc_errors import (
        InvalidIdToken,
        LoginDenied,
        LoginExpired,
        LoginRequired,
        OidcDiscoveryError,
        OidcLoginError,
    )
    from providers._oidc_login import LoginStatus, LogoutResult, OidcLoginProvider
    from providers._oidc_prompt import LoginPrompt
    from providers._password import PasswordProvider
    from providers._recipe import KeyringBackendRecipe, ProviderNotRebuildable, ProviderRecipe
    from providers._saml_assertion import InvalidSamlAssertion, UnsafeXml
    from providers._saml_file import SamlFileProvider
    from providers._secret import Secret
    from providers._token_endpoint import TokenEndpointProvider
    from providers._token_errors import (
        InsecureTokenEndpoint,
        InvalidTokenResponse,
        TokenEndpointError,
        TokenEndpointNotAuthenticated,
        TokenEndpointUnreachable,
        TokenRequestRejected,
    )
    from providers._username import UsernameProvider

logging.getLogger(__name__).addHandler(logging.NullHandler())
_deprecated.install()  # the 0.4 module paths still import, each with a DeprecationWarning

# Public names are imported on first use (issue 16): the command line's --help loads no HTTP,
# keyring, Kerberos or pynetdicom code. The TYPE_CHECKING imports above keep mypy and IDEs exact.
_LAZY: dict[str, str] = {
    "IdentityExchange": "providers._base",
    "IdentityProvider": "providers._base",
    "IdentityRequest": "providers._base",
    "IdentityType": "providers._base",
    "ResponseCheck": "providers._base",
    "ResponseStatus": "providers._base",
    "Target": "providers._base",
    "HttpBasicAuth": "providers._basic_auth",
    "HttpBearerAuth": "providers._bearer_auth",
    "ProviderChain": "providers._chain",
    "CredentialError": "providers._errors",
    "CredentialExpired": "providers._errors",
    "CredentialUnavailable": "providers._errors",
    "IdentityError": "providers._errors",
    "InvalidIdentity": "providers._errors",
    "MutualAuthenticationFailed": "providers._errors",
    "NoCredentials": "providers._errors",
    "http_auth": "providers._http_auth",
    "HttpAuthError": "providers._http_auth_errors",
    "HttpAuthUnsupported": "providers._http_auth_errors",
    "HttpAuthWrongOrigin": "providers._http_auth_errors",
    "HttpMutualAuthenticationFailed": "providers._http_auth_errors",
    "InsecureHttpAuth": "providers._http_auth_errors",
    "JwtFileProvider": "providers._jwt_file",
    "KerberosProvider": "providers._kerberos",
    "KerberosUnavailable": "providers._kerberos",
    "KeyringEntryMissing": "providers._keyring_access",
    "KeyringPasswordProvider": "providers._keyring_password",
    "HttpNegotiateAuth": "providers._negotiate_auth",
    "InvalidIdToken": "providers._oidc_errors",
    "LoginDenied": "providers._oidc_errors",
    "LoginExpired": "providers._oidc_errors",
    "LoginRequired": "providers._oidc_errors",
    "OidcDiscoveryError": "providers._oidc_errors",
    "OidcLoginError": "providers._oidc_errors",
    "LoginStatus": "providers._oidc_login",
    "LogoutResult": "providers._oidc_login",
    "OidcLoginProvider": "providers._oidc_login",
    "LoginPrompt": "providers._oidc_prompt",
    "PasswordProvider": "providers._password",
    "KeyringBackendRecipe": "providers._recipe",
    "ProviderNotRebuildable": "providers._recipe",
    "ProviderRecipe": "providers._recipe",
    "InvalidSamlAssertion": "providers._saml_assertion",
    "UnsafeXml": "providers._saml_assertion",
    "SamlFileProvider": "providers._saml_file",
    "Secret": "providers._secret",
    "TokenEndpointProvider": "providers._token_endpoint",
    "InsecureTokenEndpoint": "providers._token_errors",
    "InvalidTokenResponse": "providers._token_errors",
    "TokenEndpointError": "providers._token_errors",
    "TokenEndpointNotAuthenticated": "providers._token_errors",
    "TokenEndpointUnreachable": "providers._token_errors",
    "TokenRequestRejected": "providers._token_errors",
    "UsernameProvider": "providers._username",
}


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)


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
    "KeyringBackendRecipe",
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
    "ProviderNotRebuildable",
    "ProviderRecipe",
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
