"""Every object that holds a secret or a credential has a ``repr`` that never raises (issue 14,
finding 4).

Error reporters that show locals (Sentry, ``traceback.TracebackException(capture_locals=True)``,
pytest ``--showlocals``) call ``repr`` on every local of every frame, and an ``__init__`` that
raised, or a ``copy.deepcopy`` that failed on a ``Secret``, leaves a half-built object in one:
0.4.1's ``capture_locals`` crashed on a half-built ``PasswordProvider``, and before this change on
a half-built ``TokenEndpointProvider``. Each class below is built with ``object.__new__`` (no
attribute set) and its ``repr`` must work: the package's own ``__repr__`` says
``<Name (incomplete)>`` (``providers._safe_errors.total_repr``).

Which classes: :data:`HOLDERS` is the list; the test that every class is classified walks
every class of ``providers`` and ``client_sdk`` whose source speaks of a secret or a
credential, and fails for one that is in neither :data:`HOLDERS` nor :data:`NAMES_ONLY` (classes
that name where a secret is, or what kind, and hold none), so a new class has to be placed.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import traceback
from collections.abc import Iterator

import pytest

import client_sdk
import providers
from client_sdk import Client, Session
from client_sdk._audit.attempt import AuditAttempt
from client_sdk._peer_text import PeerText
from client_sdk._web.client import DicomWebClient
from client_sdk._web.session import WebSession
from client_sdk.testing import EmbeddedPacs, KerberosRealm
from client_sdk.testing._identity_check import IdentityChecker
from client_sdk.testing._kerberos_acceptor import KerberosAcceptor
from providers import (
    IdentityExchange,
    IdentityRequest,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    PasswordProvider,
    ProviderChain,
    SamlFileProvider,
    Secret,
    TokenEndpointProvider,
    UsernameProvider,
    jwt_file,
    saml_file,
)
from providers._basic_auth import HttpBasicAuth, _OneRetry
from providers._bearer_auth import HttpBearerAuth, ProviderTokens, TokenEndpointTokens, _OneRefresh
from providers._kerberos import KerberosExchange
from providers._negotiate_auth import HttpNegotiateAuth, _Exchange
from providers._oidc_browser_flow import BrowserFlow
from providers._oidc_device_flow import DeviceFlow, FlowAnswer, _Started
from providers._oidc_id_token import IdTokenVerifier
from providers._oidc_login import OidcLoginProvider
from providers._oidc_loopback import AuthorizationResponse, LoopbackListener, _Handler
from providers._oidc_refresh_store import RefreshTokenStore
from providers._oidc_server import OidcServer
from providers._oidc_tokens import LoginTokens
from providers._rotating_file import RotatingFile, _Cached
from providers._saml_file import SamlExchange
from providers._scrub import SecretForms
from providers._token_answer import IssuedToken, _Answer
from providers._token_cache import TokenCache
from providers._token_client_auth import (
    ClientCredentials,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    PublicClient,
    _KeyringSecret,
)
from providers._token_endpoint import _Token
from providers._token_file import TokenFileProvider
from providers._token_http import HttpAnswer, TokenTransport

# Every class that holds a secret (a Secret, a password, a token, a key) or a credential source.
HOLDERS: list[type] = [
    Secret,
    DicomWebClient,
    WebSession,
    IdentityRequest,
    IdentityExchange,
    UsernameProvider,
    PasswordProvider,
    KeyringPasswordProvider,
    JwtFileProvider,
    jwt_file._Loaded,
    SamlFileProvider,
    saml_file._Loaded,
    SamlExchange,
    KerberosProvider,
    KerberosExchange,
    ProviderChain,
    RotatingFile,
    _Cached,
    TokenEndpointProvider,
    TokenTransport,
    HttpAnswer,
    _Answer,
    _Token,
    IssuedToken,
    HttpBasicAuth,  # issue 18: HTTP auth from the same credential sources
    _OneRetry,
    HttpBearerAuth,
    ProviderTokens,
    TokenEndpointTokens,
    _OneRefresh,
    HttpNegotiateAuth,
    _Exchange,
    TokenCache,  # issue 17: client authentication and the OIDC login
    ClientCredentials,
    _KeyringSecret,
    ClientSecretPost,
    ClientSecretBasic,
    PrivateKeyJwt,
    PublicClient,
    OidcLoginProvider,
    OidcServer,
    IdTokenVerifier,
    DeviceFlow,
    _Started,
    FlowAnswer,
    BrowserFlow,
    LoopbackListener,
    AuthorizationResponse,
    _Handler,
    RefreshTokenStore,
    LoginTokens,
    Client,
    Session,
    AuditAttempt,
    PeerText,
    EmbeddedPacs,
    IdentityChecker,
    KerberosAcceptor,
    KerberosRealm,
    SecretForms,
    TokenFileProvider,
]

# Reprs that show nothing of the state, built or not.
CONSTANT_REPRS: dict[type, str] = {
    Secret: "Secret('**********')",
    PeerText: "PeerText(...)",
    SecretForms: "SecretForms(...)",
}

# Classes whose source speaks of secrets and that hold none: each names where a secret is kept
# (a keyring entry, a file path), what kind of identity it is, or what came back.
NAMES_ONLY = {  # the package and the class name: modules move, the classes stay
    "providers.IdentityType",
    "providers.ResponseCheck",
    "providers.IdentityProvider",  # the protocol
    "providers._TokenLogFilter",  # rewrites log records, keeps nothing
    "providers.TokenSource",  # the protocol
    "providers.ForgetsRefusedTokens",  # the protocol of a token cache told of a refusal
    "providers.CredentialGuard",  # the origin a credential may go to
    "providers.Challenge",  # a server's WWW-Authenticate challenge
    "providers.ClientAuthentication",  # the protocol
    "providers.IdToken",  # a verified ID token's claims about the person, not the token
    "providers.LoginStatus",  # whoami: never a token
    "providers.LogoutResult",
    "providers.OidcEndpoints",  # the URLs of the discovery document
    "providers.ProcessLock",  # the path of a lock file
    "providers.KeyringBackendRecipe",  # a keyring backend's class and file path
    "client_sdk.JwksKeys",  # the URL of a JWKS: public keys only
    "client_sdk.OidcLoginIdentity",  # issuer, client id, where the refresh token is kept
    "client_sdk.AuditEvent",  # the principal, never a secret
    "client_sdk.Peer",
    "client_sdk.KeyringEntry",  # service and user of the entry
    "client_sdk.Config",
    "client_sdk.KeyringPasswordIdentity",
    "client_sdk.KerberosIdentity",
    "client_sdk.TokenEndpointIdentity",
    "client_sdk.IdentityTypeEntry",  # a type's declaration: functions, checks, no value
    "client_sdk.ResponseAdvice",
    "client_sdk.IdentityOutcome",
    "client_sdk.Policy",
    "client_sdk.SecretScrubber",  # the secrets in flight live in providers._scrub
    "client_sdk.ReplayCache",  # digests of authenticators
    "client_sdk.TlsConfig",  # paths of the certificate and key files
}
_SPEAKS_OF_SECRETS = re.compile(r"\b(Secret|password|passcode|keytab|jwt_key|credential|token)\b")


@pytest.mark.parametrize("cls", HOLDERS, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_a_half_built_holder_has_a_repr(cls: type) -> None:
    half_built: object = object.__new__(cls)
    shown = repr(half_built)  # must not raise
    if cls in CONSTANT_REPRS:
        assert shown == CONSTANT_REPRS[cls]
    elif "__repr__" in vars(cls):
        assert shown == f"<{cls.__name__} (incomplete)>"
    # And a reporter that shows locals formats a frame that holds one.
    try:
        holds_it(half_built)
    except RuntimeError as error:
        formatted = traceback.TracebackException.from_exception(error, capture_locals=True)
        assert shown in "".join(formatted.format())


def holds_it(value: object) -> None:
    raise RuntimeError("a frame holding a half-built object")


def short_name(cls: type) -> str:
    return f"{cls.__module__.split('.')[0]}.{cls.__qualname__}"


def classes_that_speak_of_secrets() -> Iterator[type]:
    for package in (providers, client_sdk):
        for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module_info.name.endswith("__main__"):
                continue  # running it is the command line
            module = importlib.import_module(module_info.name)
            for value in vars(module).values():
                if not (inspect.isclass(value) and value.__module__ == module.__name__):
                    continue
                if issubclass(value, BaseException):
                    continue  # errors carry messages, tested in test_secret_in_errors
                if _SPEAKS_OF_SECRETS.search(inspect.getsource(value)):
                    yield value


def test_every_class_that_speaks_of_secrets_is_classified() -> None:
    found = set(classes_that_speak_of_secrets())
    assert len(found) > 30, "the walk found too few classes"
    unplaced = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in found
        if cls not in HOLDERS and short_name(cls) not in NAMES_ONLY
    )
    assert unplaced == [], "place each in HOLDERS (its repr is tested) or NAMES_ONLY"
    stale = NAMES_ONLY - {short_name(cls) for cls in found}
    assert stale == set(), "no longer found: remove them"


def test_the_kerberos_realm_repr_shows_no_password() -> None:
    realm = KerberosRealm(
        name="KRBTEST.COM",
        user="user@KRBTEST.COM",
        user_password="realm-password-canary",
        ccache="/tmp/cc",
        service="dicom",
        service_host="localhost",
        pacs_keytab="/tmp/p.keytab",
        account="svc@KRBTEST.COM",
        account_keytab="/tmp/a.keytab",
        env={},
        _k5=None,
    )
    assert "realm-password-canary" not in repr(realm)
    assert repr(realm) == "KerberosRealm('KRBTEST.COM', user='user@KRBTEST.COM')"
