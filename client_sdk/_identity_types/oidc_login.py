"""``type = "oidc-login"``: a person's OpenID Connect login (device or browser flow), its access
token sent as a type-5 JWT, refreshed from the refresh token in the keyring. No flag makes a
one-off identity of it: ``dicom-identity login PEER`` logs in for a configured peer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from client_sdk._config import values as v
from client_sdk._config.problems import Problems
from client_sdk._identity_types.entry import BuildMember, IdentityConfig, IdentityTypeEntry
from providers import IdentityError, IdentityProvider

if TYPE_CHECKING:
    from providers._oidc_login import OidcLoginProvider

# providers._oidc_login's defaults (tests/test_oidc_login_cli.py checks they agree): that module
# loads requests, which the command line's start-up does without.
OidcFlow = Literal["device", "browser"]
_FLOWS: tuple[OidcFlow, ...] = ("device", "browser")
DEFAULT_SCOPES = ("openid", "offline_access")
DEFAULT_TIMEOUT = 10.0
DEFAULT_LOGIN_TIMEOUT = 600.0
DEFAULT_POLL_INTERVAL = 5.0  # RFC 8628 3.2


@dataclass(frozen=True)
class OidcLoginIdentity(IdentityConfig):
    """``type = "oidc-login"``: :class:`providers.OidcLoginProvider`. ``keyring_entry =
    ["SERVICE", "USER"]`` says where the refresh token is kept (default: service
    ``dicom-identity-oidc:ISSUER``, user ``CLIENT_ID``); nothing of the login is in the file."""

    type_name = "oidc-login"
    issuer: str
    client_id: str
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    audience: str | None = None
    resource: str | None = None
    flow: OidcFlow = "device"
    keyring_entry: tuple[str, str] | None = None
    ca_file: str | None = None
    positive_response: bool = False
    timeout: float = DEFAULT_TIMEOUT
    login_timeout: float = DEFAULT_LOGIN_TIMEOUT
    poll_interval: float = DEFAULT_POLL_INTERVAL  # device flow, when the issuer names none


def _provider() -> type[OidcLoginProvider]:
    from providers._oidc_login import OidcLoginProvider

    return OidcLoginProvider


def build_login(
    identity: OidcLoginIdentity, *, interactive: bool = False, login_command: str | None = None
) -> OidcLoginProvider:
    """The provider of ``identity``; the CLI passes ``interactive`` (stdin is a terminal) and
    the login command naming the peer."""
    return _provider()(
        identity.issuer,
        client_id=identity.client_id,
        scopes=identity.scopes,
        audience=identity.audience,
        resource=identity.resource,
        flow=identity.flow,
        interactive=interactive,
        login_command=login_command,
        keyring_entry=identity.keyring_entry,
        ca_file=identity.ca_file,
        positive_response=identity.positive_response,
        timeout=identity.timeout,
        login_timeout=identity.login_timeout,
        poll_interval=identity.poll_interval,
    )


def _build(identity: OidcLoginIdentity, _member: BuildMember) -> IdentityProvider:
    return build_login(identity)


def _cross_check(
    path: tuple[str, ...], values: dict[str, Any], invalid: set[str], problems: Problems
) -> None:
    """The issuer's own rule, checked here to be reported with the rest: an https:// URL (plain
    http only to loopback), with no user part, query or fragment."""
    issuer = values.get("issuer")
    if "issuer" in invalid or not isinstance(issuer, str):
        return
    try:
        _provider()(issuer, client_id="config-check")
    except (ValueError, IdentityError) as exc:  # InsecureTokenEndpoint is an IdentityError
        problems.add(v.dotted((*path, "issuer")), str(exc))


OIDC_LOGIN = IdentityTypeEntry(
    config=OidcLoginIdentity,
    provider=_provider,
    key_checks={
        "issuer": v.text,
        "client_id": v.text,
        "scopes": v.names,
        "audience": v.text,
        "resource": v.text,
        "flow": v.one_of(*_FLOWS),
        "keyring_entry": v.keyring_entry,
        "ca_file": v.text,
        "positive_response": v.flag,
        "timeout": v.seconds,
        "login_timeout": v.seconds,
        "poll_interval": v.seconds,
    },
    build=_build,
    cross_check=_cross_check,
    path_keys=("ca_file",),
)
