"""``type = "jwt-file"`` / ``--jwt-file`` (type 5) and ``type = "saml-file"`` / ``--saml-file``
(type 4): a token read from a file an agent rotates."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from client_sdk._config import values as v
from client_sdk._identity_types.entry import BuildMember, IdentityConfig, IdentityTypeEntry, Option
from providers import IdentityProvider

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from providers import JwtFileProvider, SamlFileProvider


# The providers load when one is built: the command line imports the registry for every command,
# and the SAML provider brings its XML parser (issue 16: a one-shot echo's start-up).
def _jwt_file_provider() -> type[JwtFileProvider]:
    from providers import JwtFileProvider

    return JwtFileProvider


def _saml_file_provider() -> type[SamlFileProvider]:
    from providers import SamlFileProvider

    return SamlFileProvider


@dataclass(frozen=True)
class TokenFileIdentity(IdentityConfig):
    """What the identities read from a file an agent rotates have in common (a JWT, a SAML
    assertion): the path (relative to the configuration file), the audience to check before
    sending, the clock leeway."""

    path: str
    audience: str | None = None
    leeway: float = 30
    positive_response: bool = False


@dataclass(frozen=True)
class JwtFileIdentity(TokenFileIdentity):
    """``type = "jwt-file"``: :class:`providers.JwtFileProvider`."""

    type_name = "jwt-file"


@dataclass(frozen=True)
class SamlFileIdentity(TokenFileIdentity):
    """``type = "saml-file"``: :class:`providers.SamlFileProvider`."""

    type_name = "saml-file"


_KEY_CHECKS = {
    "path": v.text,
    "audience": v.text,
    "leeway": v.leeway,
    "positive_response": v.flag,
}


def _build_jwt(identity: JwtFileIdentity, _member: BuildMember) -> IdentityProvider:
    return _jwt_file_provider()(
        identity.path,
        audience=identity.audience,
        leeway=identity.leeway,
        positive_response=identity.positive_response,
    )


def _build_saml(identity: SamlFileIdentity, _member: BuildMember) -> IdentityProvider:
    return _saml_file_provider()(
        identity.path,
        audience=identity.audience,
        leeway=identity.leeway,
        positive_response=identity.positive_response,
    )


def _jwt_from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    if not args.jwt_file:
        return None
    return _jwt_file_provider()(args.jwt_file, positive_response=bool(args.pos_response))


def _saml_from_flags(args: argparse.Namespace) -> IdentityProvider | None:
    if not args.saml_file:
        return None
    return _saml_file_provider()(args.saml_file, positive_response=bool(args.pos_response))


JWT_FILE = IdentityTypeEntry(
    config=JwtFileIdentity,
    provider=_jwt_file_provider,
    key_checks=_KEY_CHECKS,
    build=_build_jwt,
    path_keys=("path",),
    options=(
        Option(
            "--jwt-file",
            {"metavar": "PATH", "help": "JWT read from this file (type 5)"},
            exclusive=True,
        ),
    ),
    from_flags=_jwt_from_flags,
    flag_fields={"--jwt-file": "path"},
)
SAML_FILE = IdentityTypeEntry(
    config=SamlFileIdentity,
    provider=_saml_file_provider,
    key_checks=_KEY_CHECKS,
    build=_build_saml,
    path_keys=("path",),
    options=(
        Option(
            "--saml-file",
            {"metavar": "PATH", "help": "SAML 2.0 assertion read from this file (type 4)"},
            exclusive=True,
        ),
    ),
    from_flags=_saml_from_flags,
    flag_fields={"--saml-file": "path"},
)
