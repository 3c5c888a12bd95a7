"""Credential providers for DICOM User Identity Negotiation.

Each provider fetches a secret from where it really lives and builds the identity for one
association. This package never imports ``client_sdk``.
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Public names are imported on first use (issue 16): the command line's --help loads no HTTP,
# keyring, Kerberos or pynetdicom code. The TYPE_CHECKING imports above keep mypy and IDEs exact.
_LAZY: dict[str, str] = {
    "IdentityExchange": "providers.base",
    "IdentityProvider": "providers.base",
    "IdentityRequest": "providers.base",
    "IdentityType": "providers.base",
    "ResponseCheck": "providers.base",
    "ResponseStatus": "providers.base",
    "Target": "providers.base",
    "HttpBasicAuth": "providers.basic_auth",
    "HttpBearerAuth": "providers.bearer_auth",
    "ProviderChain": "providers.chain",
    "CredentialError": "providers.errors",
    "CredentialExpired": "providers.errors",
    "CredentialUnavailable": "providers.errors",
    "IdentityError": "providers.errors",
    "InvalidIdentity": "providers.errors",
    "MutualAuthenticationFailed": "providers.errors",
    "NoCredentials": "providers.errors",
    "http_auth": "providers.http_auth",
    "HttpAuthError": "providers.http_auth_errors",
    "HttpAuthUnsupported": "providers.http_auth_errors",
    "HttpAuthWrongOrigin": "providers.http_auth_errors",
    "HttpMutualAuthenticationFailed": "providers.http_auth_errors",
    "InsecureHttpAuth": "providers.http_auth_errors",
    "JwtFileProvider": "providers.jwt_file",
    "KerberosProvider": "providers.kerberos",
    "KerberosUnavailable": "providers.kerberos",
    "KeyringEntryMissing": "providers.keyring_access",
    "KeyringPasswordProvider": "providers.keyring_password",
    "HttpNegotiateAuth": "providers.negotiate_auth",
    "InvalidIdToken": "providers.oidc_errors",
    "LoginDenied": "providers.oidc_errors",
    "LoginExpired": "providers.oidc_errors",
    "LoginRequired": "providers.oidc_errors",
    "OidcDiscoveryError": "providers.oidc_errors",
    "OidcLoginError": "providers.oidc_errors",
    "LoginStatus": "providers.oidc_login",
    "LogoutResult": "providers.oidc_login",
    "OidcLoginProvider": "providers.oidc_login",
    "LoginPrompt": "providers.oidc_prompt",
    "PasswordProvider": "providers.password",
    "InvalidSamlAssertion": "providers.saml_assertion",
    "UnsafeXml": "providers.saml_assertion",
    "SamlFileProvider": "providers.saml_file",
    "Secret": "providers.secret",
    "TokenEndpointProvider": "providers.token_endpoint",
    "InsecureTokenEndpoint": "providers.token_errors",
    "InvalidTokenResponse": "providers.token_errors",
    "TokenEndpointError": "providers.token_errors",
    "TokenEndpointNotAuthenticated": "providers.token_errors",
    "TokenEndpointUnreachable": "providers.token_errors",
    "TokenRequestRejected": "providers.token_errors",
    "UsernameProvider": "providers.username",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
