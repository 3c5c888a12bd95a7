"""The registry: every identity type's entry, in order, and look-ups by type name and class."""

from __future__ import annotations

from collections.abc import Mapping

from client_sdk._identity_types.chain import CHAIN
from client_sdk._identity_types.entry import IdentityConfig, IdentityTypeEntry, Option
from client_sdk._identity_types.kerberos import KERBEROS
from client_sdk._identity_types.keyring_password import KEYRING_PASSWORD
from client_sdk._identity_types.oidc_login import OIDC_LOGIN
from client_sdk._identity_types.token_endpoint import TOKEN_ENDPOINT
from client_sdk._identity_types.token_files import JWT_FILE, SAML_FILE
from client_sdk._identity_types.username import USERNAME

# In the order messages list the types; --user comes first among the flags.
REGISTRY: tuple[IdentityTypeEntry, ...] = (
    USERNAME,
    KEYRING_PASSWORD,
    JWT_FILE,
    KERBEROS,
    SAML_FILE,
    TOKEN_ENDPOINT,
    OIDC_LOGIN,
    CHAIN,
)
BY_TYPE_NAME: Mapping[str, IdentityTypeEntry] = {entry.name: entry for entry in REGISTRY}
BY_CONFIG: Mapping[type[IdentityConfig], IdentityTypeEntry] = {
    entry.config: entry for entry in REGISTRY
}
OPTIONS: tuple[Option, ...] = tuple(option for entry in REGISTRY for option in entry.options)


def entry_of(identity: IdentityConfig) -> IdentityTypeEntry:
    return BY_CONFIG[type(identity)]
