"""The configuration file (TOML): peers, identities and policies by name, never a secret.

Read from an explicit path, else ``$DICOM_IDENTITY_CONFIG``, else the user's configuration folder
(``~/.config/dicom-identity/config.toml`` on Linux). Every setting is taken from an argument, else
the environment, else the file, else its default (:data:`SETTINGS`), and knows where it came from.

    config = load_config()
    with config.client("archive").associate() as session:
        session.echo()
"""

from client_sdk._config.address import peer_from_address
from client_sdk._config.audit import AuditConfig
from client_sdk._config.load import (
    CONFIG_ENV,
    ConfigLocation,
    client_from_config,
    default_config_path,
    load_config,
    locate_config,
)
from client_sdk._config.model import Config, KeyringEntry
from client_sdk._config.problems import InvalidConfig
from client_sdk._config.schema import (
    ChainIdentity,
    DefaultsConfig,
    IdentityConfig,
    JwtFileIdentity,
    KerberosIdentity,
    KeyringPasswordIdentity,
    PeerConfig,
    PolicyConfig,
    SamlFileIdentity,
    TokenEndpointIdentity,
    UsernameIdentity,
)
from client_sdk._config.settings import SETTINGS, LayeredSetting, Overrides, Setting

__all__ = [
    "CONFIG_ENV",
    "SETTINGS",
    "AuditConfig",
    "ChainIdentity",
    "Config",
    "ConfigLocation",
    "DefaultsConfig",
    "IdentityConfig",
    "InvalidConfig",
    "JwtFileIdentity",
    "KerberosIdentity",
    "KeyringEntry",
    "KeyringPasswordIdentity",
    "LayeredSetting",
    "Overrides",
    "PeerConfig",
    "PolicyConfig",
    "SamlFileIdentity",
    "Setting",
    "TokenEndpointIdentity",
    "UsernameIdentity",
    "client_from_config",
    "default_config_path",
    "load_config",
    "locate_config",
    "peer_from_address",
]
