"""The module paths of providers that 0.4.1 shipped keep working until 0.6, with one
DeprecationWarning each that says what to import instead (providers._deprecated)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import providers
from providers._deprecated import MOVED, message

# Every name each 0.4.1 module of providers exported (its __all__): each still imports from it.
OLD_NAMES = {
    "providers.base": [
        "IdentityExchange",
        "IdentityProvider",
        "IdentityRequest",
        "IdentityType",
        "ResponseCheck",
        "ResponseStatus",
        "Target",
        "is_loopback_address",
    ],
    "providers.basic_auth": ["HttpBasicAuth"],
    "providers.bearer_auth": [
        "HttpBearerAuth",
        "ProviderTokens",
        "TokenEndpointTokens",
        "TokenSource",
    ],
    "providers.chain": ["ProviderChain"],
    "providers.errors": [
        "CredentialError",
        "CredentialExpired",
        "CredentialUnavailable",
        "DicomIdentityError",
        "IdentityError",
        "InvalidIdentity",
        "MutualAuthenticationFailed",
        "NoCredentials",
    ],
    "providers.http_auth": ["http_auth"],
    "providers.http_auth_errors": [
        "HttpAuthError",
        "HttpAuthUnsupported",
        "HttpAuthWrongOrigin",
        "HttpMutualAuthenticationFailed",
        "InsecureHttpAuth",
    ],
    "providers.http_deadline": [
        "Deadline",
        "DeadlineAdapter",
        "DeadlineSSLSocket",
        "PlainHttpOffLoopback",
        "exchange_deadline",
    ],
    "providers.http_debug_scrub": ["HTTP_LOGGERS", "quiet_http_debug", "redact_http_credentials"],
    "providers.http_origin": ["CredentialGuard", "Origin"],
    "providers.http_resend": ["MAX_DISCARDED_BODY", "can_resend", "discard_body", "resend"],
    "providers.jwt_file": ["JwtFileProvider"],
    "providers.kerberos": ["KerberosProvider", "KerberosUnavailable", "MutualAuth", "TokenFormat"],
    "providers.kerberos_framing": [
        "AP_REP",
        "AP_REQ",
        "KRB_ERROR",
        "FramingError",
        "frame",
        "unframe",
    ],
    "providers.keyring_access": [
        "BACKEND_ENV",
        "HEADLESS_HINT",
        "KeyringEntryMissing",
        "backend_name",
        "default_backend",
        "describe_backend_error",
    ],
    "providers.keyring_password": ["KeyringPasswordProvider"],
    "providers.misplaced_secret": [
        "MASK",
        "WHERE_SECRETS_GO",
        "MisplacedSecret",
        "find_misplaced_secret",
        "is_secret_name",
        "masked",
        "refusal",
        "refuse_misplaced_secret",
    ],
    "providers.negotiate_auth": ["HttpNegotiateAuth"],
    "providers.oidc_browser_flow": ["BrowserFlow", "OpenBrowser", "pkce_pair"],
    "providers.oidc_device_flow": [
        "DEFAULT_POLL_INTERVAL",
        "DEVICE_GRANT",
        "SLOW_DOWN_STEP",
        "DeviceFlow",
        "FlowAnswer",
    ],
    "providers.oidc_errors": [
        "DEFAULT_LOGIN_COMMAND",
        "InvalidIdToken",
        "LoginDenied",
        "LoginExpired",
        "LoginRequired",
        "OidcDiscoveryError",
        "OidcLoginError",
    ],
    "providers.oidc_id_token": ["JWKS_MAX_AGE", "LEEWAY", "IdToken", "IdTokenVerifier"],
    "providers.oidc_login": ["LoginStatus", "LogoutResult", "OidcFlow", "OidcLoginProvider"],
    "providers.oidc_loopback": ["CALLBACK_PATH", "AuthorizationResponse", "LoopbackListener"],
    "providers.oidc_prompt": ["LoginPrompt", "PromptCallback", "print_prompt"],
    "providers.oidc_refresh_lock": ["APP_NAME", "ProcessLock", "default_lock_dir"],
    "providers.oidc_refresh_store": ["SERVICE_PREFIX", "RefreshTokenStore", "default_entry"],
    "providers.oidc_server": [
        "DISCOVERY_PATH",
        "ID_TOKEN_ALGORITHMS",
        "OidcEndpoints",
        "OidcServer",
        "check_issuer",
    ],
    "providers.oidc_tokens": ["LoginTokens", "oauth_error", "read_tokens", "refresh_token_of"],
    "providers.outside_text": ["label", "quoted"],
    "providers.password": ["PasswordProvider", "check_password", "password_request"],
    "providers.rotating_file": ["MAX_FILE_BYTES", "RotatingFile"],
    "providers.safe_errors": ["forget_secrets", "secret_safe", "total_repr"],
    "providers.saml_assertion": [
        "ASSERTION_NS",
        "InvalidSamlAssertion",
        "SamlAssertion",
        "UnsafeXml",
        "check_conditions",
        "parse_assertion",
    ],
    "providers.saml_file": ["SamlExchange", "SamlFileProvider"],
    "providers.scrub": [
        "REDACTED",
        "SHOWN_LENGTH",
        "InFlight",
        "SecretForms",
        "any_in_flight",
        "in_flight",
        "install_log_scrubber",
        "printable_line",
        "remove_in_flight",
        "server_text",
    ],
    "providers.secret": ["Secret"],
    "providers.tls_channel_binding": ["PREFIX", "certificate_binding", "peer_certificate"],
    "providers.token_answer": [
        "Hint",
        "IssuedToken",
        "ParsedAnswer",
        "iso_time",
        "read_answer",
        "read_object",
    ],
    "providers.token_cache": [
        "ADVISORY_FRACTION",
        "ADVISORY_RETRY",
        "DEFAULT_ADVISORY_WINDOW",
        "DEFAULT_MANDATORY_WINDOW",
        "MANDATORY_FRACTION",
        "CachedToken",
        "TokenCache",
        "check_windows",
    ],
    "providers.token_client_auth": [
        "ASSERTION_LIFETIME",
        "ASSERTION_TYPE",
        "ClientAuthentication",
        "ClientCredentials",
        "ClientSecretBasic",
        "ClientSecretPost",
        "PrivateKeyJwt",
        "PublicClient",
        "TokenEndpointAuth",
        "client_authentication",
    ],
    "providers.token_endpoint": [
        "InsecureTokenEndpoint",
        "InvalidTokenResponse",
        "TokenEndpointAuth",
        "TokenEndpointError",
        "TokenEndpointNotAuthenticated",
        "TokenEndpointProvider",
        "TokenEndpointUnreachable",
        "TokenRequestRejected",
        "check_token_url",
    ],
    "providers.token_errors": [
        "InsecureTokenEndpoint",
        "InvalidTokenResponse",
        "TokenEndpointError",
        "TokenEndpointNotAuthenticated",
        "TokenEndpointUnreachable",
        "TokenRequestRejected",
        "check_proxy_url",
        "check_token_url",
    ],
    "providers.token_http": ["MAX_RESPONSE_BYTES", "HttpAnswer", "TokenTransport"],
    "providers.username": ["UsernameProvider", "encode_username", "refuse_password_in_username"],
    "providers.www_authenticate": ["MAX_HEADER", "Challenge", "find_challenge", "parse_challenges"],
}


def _forget(name: str) -> None:
    """Drop ``name`` from sys.modules and from providers, so that it imports anew."""
    sys.modules.pop(name, None)
    child = name.rpartition(".")[2]
    if child in vars(providers):
        delattr(providers, child)  # a public name (http_auth) comes back through __getattr__


@pytest.fixture
def fresh() -> Iterator[None]:
    yield
    for name in MOVED:
        if name in sys.modules:
            _forget(name)


def test_the_table_is_every_module_of_0_4_1() -> None:
    assert sorted(MOVED) == sorted(OLD_NAMES)
    here = Path(providers.__file__).parent
    for old, (homes, _) in MOVED.items():
        assert homes[0] == "providers._" + old.rpartition(".")[2]
        assert (here / (homes[0].rpartition(".")[2] + ".py")).is_file(), homes[0]
        assert not (here / (old.rpartition(".")[2] + ".py")).exists(), old


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_path_imports_with_one_warning(old: str) -> None:
    _forget(old)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        __import__(old)  # as an import statement does (importlib.import_module adds a frame)
    module = sys.modules[old]
    ours = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert [str(w.message) for w in ours] == [message(old)]
    assert "goes in 0.6" in message(old)
    assert ours[0].filename == __file__, "the warning must point at the line that imported it"
    public = set(providers.__all__)
    exported = [name for name in OLD_NAMES[old] if name in public]
    if exported:
        assert "from providers import NAME" in message(old)
    for name in OLD_NAMES[old]:
        value = getattr(module, name)
        assert value is getattr(importlib.import_module(MOVED[old][0][0]), name, value)
        if name in public:  # the very object `from providers import NAME` gives
            assert value is getattr(importlib.import_module(providers._LAZY[name]), name)
    with pytest.raises(AttributeError, match=f"module '{old}' has no attribute 'no_such_name'"):
        _ = module.no_such_name


@pytest.mark.usefixtures("fresh")
def test_the_second_import_does_not_warn_again() -> None:
    _forget("providers.kerberos")
    with pytest.warns(DeprecationWarning, match=r"providers\.kerberos is deprecated"):
        first = importlib.import_module("providers.kerberos")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = importlib.import_module("providers.kerberos")
    assert first is second
    assert first.KerberosProvider is providers.KerberosProvider


@pytest.mark.usefixtures("fresh")
def test_providers_http_auth_stays_the_function() -> None:
    # The import machinery sets the old module as the attribute http_auth of providers, where
    # the public function of that name lives: calling it still calls the function.
    function = providers.http_auth
    _forget("providers.http_auth")
    with pytest.warns(DeprecationWarning, match=r"providers\.http_auth is deprecated"):
        importlib.import_module("providers.http_auth")
    assert callable(providers.http_auth)
    assert providers.http_auth.http_auth is function


def test_an_old_path_in_a_fresh_interpreter() -> None:
    script = (
        "import warnings; warnings.simplefilter('default')\n"
        "from providers.secret import Secret\n"
        "from providers.scrub import server_text\n"
        "import providers\n"
        "assert Secret is providers.Secret\n"
        "print(server_text.__module__)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "providers._scrub\n"
    lines = [line for line in run.stderr.splitlines() if "DeprecationWarning" in line]
    assert len(lines) == 2, run.stderr
    assert "providers.secret is deprecated" in lines[0]
    assert "from providers import NAME" in lines[0]
    assert "providers.scrub is deprecated" in lines[1]
    assert "it is internal now" in lines[1]


@pytest.mark.parametrize("module", ["providers", "client_sdk", "client_sdk.testing"])
def test_nothing_new_imports_an_old_path(module: str) -> None:
    # every module of providers, loaded as the package's public names are
    script = (
        f"import {module}, providers\n"
        "for name in providers.__all__: getattr(providers, name)\n"
        "import sys; assert 'client_sdk' not in sys.modules or "
        f"{module!r} != 'providers', 'providers imported client_sdk'\n"
    )
    run = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
