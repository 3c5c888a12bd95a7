"""The module paths of 0.4 keep working for one minor version (until 0.6), with a warning.

Every module of ``providers`` but ``__init__`` is private since 0.5 (``providers._kerberos``, ...).
``MOVED`` is the one table: each module path that 0.4.1 shipped, the modules that hold its names
now, and the import to write instead. :func:`install` puts a finder first on ``sys.meta_path``
that answers for exactly those paths: importing one gives a module that looks each name up in
its new homes (so a class imported either way is the same class), after one
``DeprecationWarning`` per path and process that names the import to use. Every other import
passes through untouched. The machinery is ``providers._module_aliases``, shared with
``client_sdk._deprecated``.
"""

from __future__ import annotations

from providers._module_aliases import ModuleAliases

_ROOT = "import what you use from providers (from providers import NAME)"
_INTERNAL = "it is internal now: use what providers exports (docs/api.md)"

# old module path: (the modules that hold its names now, first match wins; what to do instead)
MOVED: dict[str, tuple[tuple[str, ...], str]] = {
    "providers.base": (("providers._base",), _ROOT),
    "providers.basic_auth": (("providers._basic_auth",), _ROOT),
    "providers.bearer_auth": (("providers._bearer_auth",), _ROOT),
    "providers.chain": (("providers._chain",), _ROOT),
    "providers.errors": (("providers._errors",), _ROOT),
    "providers.http_auth": (("providers._http_auth",), _ROOT),
    "providers.http_auth_errors": (("providers._http_auth_errors",), _ROOT),
    "providers.http_deadline": (("providers._http_deadline",), _INTERNAL),
    "providers.http_debug_scrub": (("providers._http_debug_scrub",), _INTERNAL),
    "providers.http_origin": (("providers._http_origin",), _INTERNAL),
    "providers.http_resend": (("providers._http_resend",), _INTERNAL),
    "providers.jwt_file": (("providers._jwt_file",), _ROOT),
    "providers.kerberos": (("providers._kerberos",), _ROOT),
    "providers.kerberos_framing": (("providers._kerberos_framing",), _INTERNAL),
    "providers.keyring_access": (("providers._keyring_access",), _ROOT),
    "providers.keyring_password": (("providers._keyring_password",), _ROOT),
    "providers.misplaced_secret": (("providers._misplaced_secret",), _INTERNAL),
    "providers.negotiate_auth": (("providers._negotiate_auth",), _ROOT),
    "providers.oidc_browser_flow": (("providers._oidc_browser_flow",), _INTERNAL),
    "providers.oidc_device_flow": (("providers._oidc_device_flow",), _INTERNAL),
    "providers.oidc_errors": (("providers._oidc_errors",), _ROOT),
    "providers.oidc_id_token": (("providers._oidc_id_token",), _INTERNAL),
    "providers.oidc_login": (("providers._oidc_login",), _ROOT),
    "providers.oidc_loopback": (("providers._oidc_loopback",), _INTERNAL),
    "providers.oidc_prompt": (("providers._oidc_prompt",), _ROOT),
    "providers.oidc_refresh_lock": (("providers._oidc_refresh_lock",), _INTERNAL),
    "providers.oidc_refresh_store": (("providers._oidc_refresh_store",), _INTERNAL),
    "providers.oidc_server": (("providers._oidc_server",), _INTERNAL),
    "providers.oidc_tokens": (("providers._oidc_tokens",), _INTERNAL),
    "providers.outside_text": (("providers._outside_text",), _INTERNAL),
    "providers.password": (("providers._password",), _ROOT),
    "providers.rotating_file": (("providers._rotating_file",), _INTERNAL),
    "providers.safe_errors": (("providers._safe_errors",), _INTERNAL),
    "providers.saml_assertion": (("providers._saml_assertion",), _ROOT),
    "providers.saml_file": (("providers._saml_file",), _ROOT),
    "providers.scrub": (("providers._scrub",), _INTERNAL),
    "providers.secret": (("providers._secret",), _ROOT),
    "providers.tls_channel_binding": (("providers._tls_channel_binding",), _INTERNAL),
    "providers.token_answer": (("providers._token_answer",), _INTERNAL),
    "providers.token_cache": (("providers._token_cache",), _INTERNAL),
    "providers.token_client_auth": (("providers._token_client_auth",), _INTERNAL),
    "providers.token_endpoint": (("providers._token_endpoint", "providers._token_errors"), _ROOT),
    "providers.token_errors": (("providers._token_errors",), _ROOT),
    "providers.token_http": (("providers._token_http",), _INTERNAL),
    "providers.username": (("providers._username",), _ROOT),
    "providers.www_authenticate": (("providers._www_authenticate",), _INTERNAL),
}


_ALIASES = ModuleAliases("0.5", MOVED, callables=frozenset({"providers.http_auth"}))
message = _ALIASES.message
install = _ALIASES.install
