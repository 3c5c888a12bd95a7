"""Every object that holds a secret or a credential has a ``repr`` that never raises (issue 14,
finding 4).

Error reporters that show locals (Sentry, ``traceback.TracebackException(capture_locals=True)``,
pytest ``--showlocals``) call ``repr`` on every local of every frame, and an ``__init__`` that
raised, or a ``copy.deepcopy`` that failed on a ``Secret``, leaves a half-built object in one:
0.4.1's ``capture_locals`` crashed on a half-built ``PasswordProvider``, and before this change on
a half-built ``TokenEndpointProvider``. Each class below is built with ``object.__new__`` (no
attribute set) and its ``repr`` must work: the package's own ``__repr__`` says
``<Name (incomplete)>`` (``providers.safe_errors.total_repr``).

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
from client_sdk.audit.attempt import AuditAttempt
from client_sdk.client import Client
from client_sdk.peer_text import PeerText
from client_sdk.session import Session
from client_sdk.testing.identity_check import IdentityChecker
from client_sdk.testing.kerberos_acceptor import KerberosAcceptor
from client_sdk.testing.kerberos_realm import KerberosRealm
from client_sdk.testing.pacs import EmbeddedPacs
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
from providers.kerberos import KerberosExchange
from providers.rotating_file import RotatingFile, _Cached
from providers.saml_file import SamlExchange
from providers.token_answer import IssuedToken, _Answer
from providers.token_endpoint import _Token
from providers.token_http import HttpAnswer, TokenTransport

# Every class that holds a secret (a Secret, a password, a token, a key) or a credential source.
HOLDERS: list[type] = [
    Secret,
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
    Client,
    Session,
    AuditAttempt,
    PeerText,
    EmbeddedPacs,
    IdentityChecker,
    KerberosAcceptor,
    KerberosRealm,
]

# Reprs that show nothing of the state, built or not.
CONSTANT_REPRS: dict[type, str] = {Secret: "Secret('**********')", PeerText: "PeerText(...)"}

# Classes whose source speaks of secrets and that hold none: each names where a secret is kept
# (a keyring entry, a file path), what kind of identity it is, or what came back.
NAMES_ONLY = {
    "providers.base.IdentityType",
    "providers.base.ResponseCheck",
    "providers.base.IdentityProvider",  # the protocol
    "providers.kerberos._TokenLogFilter",  # rewrites log records, keeps nothing
    "client_sdk.audit.event.AuditEvent",  # the principal, never a secret
    "client_sdk.client.Peer",
    "client_sdk.config.model.KeyringEntry",  # service and user of the entry
    "client_sdk.config.model.Config",
    "client_sdk.config.schema.KeyringPasswordIdentity",
    "client_sdk.config.schema.KerberosIdentity",
    "client_sdk.config.schema.TokenEndpointIdentity",
    "client_sdk.errors.ResponseAdvice",
    "client_sdk.outcome.IdentityOutcome",
    "client_sdk.policy.Policy",
    "client_sdk.redaction.SecretScrubber",  # the secrets in flight live in providers.scrub
    "client_sdk.testing.kerberos_acceptor.ReplayCache",  # digests of authenticators
    "client_sdk.tls.TlsConfig",  # paths of the certificate and key files
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


def classes_that_speak_of_secrets() -> Iterator[tuple[str, type]]:
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
                    yield f"{value.__module__}.{value.__qualname__}", value


def test_every_class_that_speaks_of_secrets_is_classified() -> None:
    holders = {f"{cls.__module__}.{cls.__qualname__}" for cls in HOLDERS}
    found = dict(classes_that_speak_of_secrets())
    assert len(found) > 30, "the walk found too few classes"
    unplaced = sorted(set(found) - holders - NAMES_ONLY)
    assert unplaced == [], "place each in HOLDERS (its repr is tested) or NAMES_ONLY"
    assert set(found) >= NAMES_ONLY, sorted(NAMES_ONLY - set(found))  # no stale entry


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
