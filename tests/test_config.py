"""The configuration file: parsing, precedence, validation, secrets, locations, addresses."""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from pathlib import Path
from typing import Any

import pytest

from client_sdk import (
    Client,
    Config,
    ConfigError,
    InvalidConfig,
    MissingResponse,
    Overrides,
    Peer,
    Setting,
    TlsConfig,
    load_config,
)
from client_sdk._config.address import peer_from_address
from client_sdk._config.load import client_from_config, default_config_path
from client_sdk._config.schema import (
    ChainIdentity,
    JwtFileIdentity,
    KerberosIdentity,
    KeyringPasswordIdentity,
    UsernameIdentity,
)
from client_sdk._config.settings import SETTINGS
from providers import (
    IdentityType,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    ProviderChain,
    UsernameProvider,
)

FULL = """
[defaults]
calling_ae_title = "DICOM_IDENTITY"
policy = "strict"
[defaults.timeouts]
connect = 10
acse = 30
dimse = 60
network = 60

[peers.archive]
host = "archive.hospital.example"
port = 2762
ae_title = "ARCHIVE"
identity = "alice-keyring"
policy = "strict"
[peers.archive.tls]
ca_file = "/etc/pki/hospital-ca.pem"
cert_file = "/etc/pki/client.pem"
key_file = "/etc/pki/client.key"
server_hostname = "archive.internal.example"

[peers.router]
host = "router.hospital.example"
port = 11112
ae_title = "ROUTER"
identity = "router-token"
calling_ae_title = "ROUTER_SCU"
[peers.router.timeouts]
dimse = 300

[peers.research]
host = "research.hospital.example"
port = 104
ae_title = "RESEARCH"
identity = "kerb"
policy = "lenient"

[peers.any]
host = "10.1.2.3"
port = 104
ae_title = "ANY"
identity = "any"

[peers.front-desk]
host = "127.0.0.1"
port = 4242
ae_title = "FRONT"
identity = "bob"

[peers.anonymous]
host = "127.0.0.1"
port = 4243
ae_title = "ANON"

[identities.alice-keyring]
type = "keyring-password"
username = "alice"
service = "archive.hospital.example"
positive_response = true

[identities.router-token]
type = "jwt-file"
path = "/run/agent/dicom.jwt"
audience = "ROUTER"
leeway = 45

[identities.kerb]
type = "kerberos"
service = "dicom"
hostname = "archive.hospital.example"
principal = "svc@REALM"
keytab = "/etc/dicom/svc.keytab"
mutual_auth = "optional"
token_format = "ap-req"

[identities.bob]
type = "username"
username = "bob"

[identities.any]
type = "chain"
identities = ["kerb", "alice-keyring"]

[policies.strict]
missing_response = "abort"
allow_insecure_transport = false
echo_is_missing = true
[policies.strict.per_type]
username = "warn"
"username+passcode" = "release"

[policies.lenient]
missing_response = "proceed"
allow_insecure_transport = true
echo_is_missing = false
"""

TIMEOUT_VARIABLES = (
    "DICOM_IDENTITY_CONNECT_TIMEOUT",
    "DICOM_IDENTITY_ACSE_TIMEOUT",
    "DICOM_IDENTITY_DIMSE_TIMEOUT",
    "DICOM_IDENTITY_NETWORK_TIMEOUT",
)


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    assert isinstance(caught.value, InvalidConfig)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def settings_of(config: Config, peer: str, **overrides: Any) -> dict[str, Setting]:
    return {s.key: s for s in config.effective(peer, overrides=Overrides(**overrides))}


@pytest.fixture
def kerberos_available() -> None:
    pytest.importorskip("gssapi")
    pytest.importorskip("spnego")


# -- a full file -----------------------------------------------------------------------------


def test_full_file_parses_into_dataclasses(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path, environ={})
    assert config.path == path
    assert config.path_source == "argument"
    assert sorted(config.peers) == [
        "anonymous",
        "any",
        "archive",
        "front-desk",
        "research",
        "router",
    ]
    archive = config.peers["archive"]
    assert (archive.host, archive.port, archive.ae_title) == (
        "archive.hospital.example",
        2762,
        "ARCHIVE",
    )
    assert archive.tls == TlsConfig(
        ca_file="/etc/pki/hospital-ca.pem",
        cert_file="/etc/pki/client.pem",
        key_file="/etc/pki/client.key",
        server_hostname="archive.internal.example",
    )
    assert config.identities["alice-keyring"] == KeyringPasswordIdentity(
        name="alice-keyring",
        service="archive.hospital.example",
        username="alice",
        positive_response=True,
    )
    assert config.identities["any"] == ChainIdentity(
        name="any", identities=("kerb", "alice-keyring")
    )
    assert config.identities["bob"] == UsernameIdentity(name="bob", username="bob")
    assert config.policies["strict"].per_type == {
        "username": "warn",
        "username+passcode": "release",
    }
    assert config.defaults.timeouts == {"connect": 10, "acse": 30, "dimse": 60, "network": 60}
    assert config.peers["router"].timeouts == {"dimse": 300}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.path = None  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.peers["new"] = archive  # type: ignore[index]
    with pytest.raises(TypeError):
        config.policies["strict"].per_type["jwt"] = "proceed"  # type: ignore[index]


def test_every_provider_is_built_without_reading_a_credential(
    tmp_path: Path, kerberos_available: None, no_keyring_access: list[str]
) -> None:
    config = load_config(write(tmp_path, FULL), environ={})

    archive = config.client("archive")
    assert isinstance(archive, Client)
    assert archive.peer == Peer(
        "archive.hospital.example",
        2762,
        "ARCHIVE",
        tls=TlsConfig(
            "/etc/pki/hospital-ca.pem",
            "/etc/pki/client.pem",
            "/etc/pki/client.key",
            "archive.internal.example",
        ),
    )
    keyring_provider = archive.identity
    assert isinstance(keyring_provider, KeyringPasswordProvider)
    assert (keyring_provider.service, keyring_provider.username) == (
        "archive.hospital.example",
        "alice",
    )
    assert keyring_provider.positive_response is True
    assert keyring_provider._backend is None  # not even a backend chosen yet
    assert archive.calling_ae_title == "DICOM_IDENTITY"
    assert (archive.timeouts.connect, archive.timeouts.acse) == (10, 30)
    assert (archive.timeouts.dimse, archive.timeouts.network) == (60, 60)
    assert archive.policy.missing_response is MissingResponse.ABORT
    assert archive.policy.per_type == {
        IdentityType.USERNAME: MissingResponse.WARN,
        IdentityType.USERNAME_PASSCODE: MissingResponse.RELEASE,
    }
    assert archive.policy.allow_insecure_transport is False
    assert archive.policy.echo_is_missing is True

    router = config.client("router")
    jwt_provider = router.identity
    assert isinstance(jwt_provider, JwtFileProvider)
    assert jwt_provider.path == Path("/run/agent/dicom.jwt")  # need not exist yet
    assert (jwt_provider.audience, jwt_provider.leeway) == ("ROUTER", 45)
    assert jwt_provider.positive_response is False
    assert router.calling_ae_title == "ROUTER_SCU"  # the peer's own, over [defaults]
    assert router.timeouts.dimse == 300
    assert router.timeouts.connect == 10
    assert router.peer.tls is None

    research = config.client("research")
    kerberos = research.identity
    assert isinstance(kerberos, KerberosProvider)
    assert (kerberos.service, kerberos.hostname, kerberos.principal) == (
        "dicom",
        "archive.hospital.example",
        "svc@REALM",
    )
    assert (kerberos.keytab, kerberos.ccache) == ("/etc/dicom/svc.keytab", None)
    assert (kerberos.mutual_auth, kerberos.token_format) == ("optional", "ap-req")
    assert kerberos.positive_response is True
    assert research.policy.missing_response is MissingResponse.PROCEED
    assert research.policy.per_type == {}
    assert research.policy.allow_insecure_transport is True
    assert research.policy.echo_is_missing is False

    chain = config.client("any").identity
    assert isinstance(chain, ProviderChain)
    assert [type(p) for p in chain.providers] == [KerberosProvider, KeyringPasswordProvider]
    assert config.client("any").policy.per_type[IdentityType.USERNAME] is MissingResponse.WARN

    bob = config.client("front-desk").identity
    assert isinstance(bob, UsernameProvider)
    assert (bob.username, bob.positive_response) == ("bob", False)

    assert config.client("anonymous").identity is None
    assert no_keyring_access == []


def test_identity_defaults_are_the_constructors_defaults() -> None:
    constructors: dict[type[Any], Any] = {
        UsernameIdentity: UsernameProvider,
        KeyringPasswordIdentity: KeyringPasswordProvider,
        JwtFileIdentity: JwtFileProvider,
        KerberosIdentity: KerberosProvider,
    }
    for identity_class, provider_class in constructors.items():
        parameters = inspect.signature(provider_class).parameters
        for field in dataclasses.fields(identity_class):
            if field.name in ("name", "from_file"):
                continue
            assert field.name in parameters, (identity_class, field.name)
            expected = parameters[field.name].default
            if field.default is dataclasses.MISSING:
                assert expected is inspect.Parameter.empty, (identity_class, field.name)
            else:
                assert field.default == expected, (identity_class, field.name)


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    path = write(
        folder,
        """
        [peers.p]
        host = "h"
        port = 104
        ae_title = "P"
        identity = "t"
        [peers.p.tls]
        ca_file = "pki/ca.pem"
        [identities.t]
        type = "jwt-file"
        path = "tokens/dicom.jwt"
        [identities.k]
        type = "kerberos"
        keytab = "svc.keytab"
        [identities.c]
        type = "kerberos"
        ccache = "FILE:/tmp/krb5cc_svc"
        [identities.home]
        type = "jwt-file"
        path = "~/dicom.jwt"
        """,
    )
    config = load_config(path, environ={})
    assert config.peers["p"].tls == TlsConfig(ca_file=str(folder / "pki" / "ca.pem"))
    token = config.identities["t"]
    assert isinstance(token, JwtFileIdentity)
    assert token.path == str(folder / "tokens" / "dicom.jwt")
    assert token.from_file == {"path"}
    home = config.identities["home"]
    assert isinstance(home, JwtFileIdentity)
    assert home.path == str(Path.home() / "dicom.jwt")
    keytab, ccache = config.identities["k"], config.identities["c"]
    assert isinstance(keytab, KerberosIdentity)
    assert isinstance(ccache, KerberosIdentity)
    assert keytab.keytab == str(folder / "svc.keytab")
    assert ccache.ccache == "FILE:/tmp/krb5cc_svc"


# -- precedence ------------------------------------------------------------------------------

# (setting key, variable, its value, what the file says, Overrides keyword, argument,
#  file value / environment value / argument value as shown, the file's dotted key)
PRECEDENCE = [
    (
        "calling_ae_title",
        "DICOM_IDENTITY_CALLING_AE_TITLE",
        "FROM_ENV",
        '[defaults]\ncalling_ae_title = "FROM_FILE"\n',
        "calling_ae_title",
        "FROM_ARG",
        ("DICOM_IDENTITY", "FROM_FILE", "FROM_ENV", "FROM_ARG"),
        "defaults.calling_ae_title",
    ),
    *[
        (
            f"timeouts.{name}",
            f"DICOM_IDENTITY_{name.upper()}_TIMEOUT",
            "7.5",
            f"[defaults.timeouts]\n{name} = 5\n",
            f"{name}_timeout",
            2,
            (default, "5", "7.5", "2"),
            f"defaults.timeouts.{name}",
        )
        for name, default in (("connect", "10"), ("acse", "30"), ("dimse", "60"), ("network", "60"))
    ],
    (
        "policy.missing_response",
        "DICOM_IDENTITY_ON_MISSING_RESPONSE",
        "Warn",
        '[defaults]\npolicy = "p"\n[policies.p]\nmissing_response = "release"\n',
        "missing_response",
        "proceed",
        ("abort", "release", "warn", "proceed"),
        "policies.p.missing_response",
    ),
    (
        "policy.allow_insecure_transport",
        "DICOM_IDENTITY_ALLOW_INSECURE_TRANSPORT",
        "no",
        '[defaults]\npolicy = "p"\n[policies.p]\nallow_insecure_transport = true\n',
        "allow_insecure_transport",
        True,
        ("false", "true", "false", "true"),
        "policies.p.allow_insecure_transport",
    ),
]
PEER = '[peers.pacs]\nhost = "127.0.0.1"\nport = 104\nae_title = "PACS"\n'


@pytest.mark.parametrize(
    ("key", "variable", "env_value", "file_text", "argument", "argument_value", "shown", "dotted"),
    PRECEDENCE,
    ids=[row[0] for row in PRECEDENCE],
)
def test_precedence_argument_environment_file_default(
    tmp_path: Path,
    key: str,
    variable: str,
    env_value: str,
    file_text: str,
    argument: str,
    argument_value: Any,
    shown: tuple[str, str, str, str],
    dotted: str,
) -> None:
    bare = load_config(write(tmp_path, PEER, "bare.toml"), environ={})
    path = write(tmp_path, file_text + PEER)
    from_file = load_config(path, environ={})
    from_env = load_config(path, environ={variable: env_value})
    layers = [
        (settings_of(bare, "pacs")[key], shown[0], "default"),
        (settings_of(from_file, "pacs")[key], shown[1], f"file: {path}:{dotted}"),
        (settings_of(from_env, "pacs")[key], shown[2], f"environment: {variable}"),
        (settings_of(from_env, "pacs", **{argument: argument_value})[key], shown[3], "argument"),
    ]
    for setting, value, source in layers:
        assert (setting.value, setting.source) == (value, source)


def test_precedence_reaches_the_client(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[defaults]\npolicy = "p"\n[defaults.timeouts]\nconnect = 5\nacse = 6\n'
        '[policies.p]\nmissing_response = "release"\n' + PEER,
    )
    environ = {"DICOM_IDENTITY_ACSE_TIMEOUT": "8", "DICOM_IDENTITY_ALLOW_INSECURE_TRANSPORT": "YES"}
    config = load_config(path, environ=environ)
    client = config.client(
        "pacs", overrides=Overrides(connect_timeout=1.5, missing_response="warn")
    )
    assert (client.timeouts.connect, client.timeouts.acse, client.timeouts.dimse) == (1.5, 8, 60)
    assert client.policy.missing_response is MissingResponse.WARN
    assert client.policy.allow_insecure_transport is True
    assert client.calling_ae_title == "DICOM_IDENTITY"
    assert config.environment == environ


def test_environment_is_read_when_loading_not_later(tmp_path: Path) -> None:
    environ = {"DICOM_IDENTITY_CONNECT_TIMEOUT": "3"}
    config = load_config(write(tmp_path, PEER), environ=environ)
    environ["DICOM_IDENTITY_CONNECT_TIMEOUT"] = "4"
    assert config.client("pacs").timeouts.connect == 3


def test_empty_variables_are_unset(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, PEER), environ={"DICOM_IDENTITY_CALLING_AE_TITLE": " "})
    assert settings_of(config, "pacs")["calling_ae_title"].source == "default"


def test_precedence_table_covers_every_variable() -> None:
    variables = {row.environment for row in SETTINGS if row.environment}
    assert variables == {
        "DICOM_IDENTITY_CALLING_AE_TITLE",
        "DICOM_IDENTITY_ON_MISSING_RESPONSE",
        "DICOM_IDENTITY_ALLOW_INSECURE_TRANSPORT",
        "DICOM_IDENTITY_AUDIT_REQUIRED",
        *TIMEOUT_VARIABLES,
    }
    assert {row.argument for row in SETTINGS if row.argument} == {
        f.name for f in dataclasses.fields(Overrides)
    }


def test_overrides_replace_identity_and_tls(tmp_path: Path, no_keyring_access: list[str]) -> None:
    config = load_config(write(tmp_path, FULL), environ={})
    flags_identity = UsernameProvider("carol")
    tls = TlsConfig(ca_file="/tmp/other-ca.pem")
    client = config.client("archive", overrides=Overrides(identity=flags_identity, tls=tls))
    assert client.identity is flags_identity
    assert client.peer.tls == tls
    shown = settings_of(config, "archive", identity=flags_identity, tls=tls)
    assert shown["identity"] == Setting("identity", repr(flags_identity), "argument")
    assert "identity.type" not in shown
    assert shown["tls.ca_file"] == Setting("tls.ca_file", "/tmp/other-ca.pem", "argument")
    assert "tls.cert_file" not in shown


def test_effective_lists_every_setting_with_its_source(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path, environ={"DICOM_IDENTITY_DIMSE_TIMEOUT": "90"})
    settings = config.effective("any")
    shown = {s.key: (s.value, s.source) for s in settings}
    file = f"file: {path}:"
    assert shown["config_file"] == (str(path), "argument")
    assert shown["host"] == ("10.1.2.3", file + "peers.any.host")
    assert shown["tls"] == ("off", "default")
    assert shown["timeouts.dimse"] == ("90", "environment: DICOM_IDENTITY_DIMSE_TIMEOUT")
    assert shown["timeouts.acse"] == ("30", file + "defaults.timeouts.acse")
    assert shown["identity"] == ("any", file + "peers.any.identity")
    assert shown["identity.identities"] == (
        "kerb, alice-keyring",
        file + "identities.any.identities",
    )
    assert shown["identity.kerb.token_format"] == ("ap-req", file + "identities.kerb.token_format")
    assert shown["identity.kerb.ccache"] == ("(none)", "default")
    assert shown["identity.kerb.positive_response"] == ("true", "default")
    assert shown["identity.alice-keyring.username"] == (
        "alice",
        file + "identities.alice-keyring.username",
    )
    assert shown["policy"] == ("strict", file + "defaults.policy")
    assert shown["policy.per_type.username+passcode"] == (
        "release",
        file + 'policies.strict.per_type."username+passcode"',
    )
    assert shown["policy.echo_is_missing"] == ("true", file + "policies.strict.echo_is_missing")
    assert len(shown) == len(settings)  # no key twice
    archive = {s.key: (s.value, s.source) for s in config.effective("archive")}
    assert archive["tls"] == ("on", file + "peers.archive.tls")
    assert archive["tls.key_file"] == ("/etc/pki/client.key", file + "peers.archive.tls.key_file")


def test_unknown_peer_lists_the_configured_ones(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path, environ={})
    for call in (config.client, config.effective, config.keyring_target):
        with pytest.raises(ConfigError) as caught:
            call("archiv")
        message = str(caught.value)
        assert message.startswith(f"{path}: peers.archiv: no such peer")
        assert "configured peers: anonymous, any, archive, front-desk, research, router" in message
    with pytest.raises(ConfigError, match="no peers are configured"):
        Config().client("archive")


# -- validation ------------------------------------------------------------------------------

BAD = """
title = "oops"

[defaults]
calling_ae_title = "A_CALLING_TITLE_TOO_LONG"
policy = "strickt"
polcy = "strict"
[defaults.timeouts]
connect = -1
acse = "30"
dimse = true

[peers.archive]
host = "archive.example"
port = "2762x"
ae_title = "ARCHIVE"
identity = "alice"
policy = "nope"
[peers.archive.tls]
ca_file = 42
key_file = "/etc/pki/client.key"
verify = false

[peers.empty]
ae_title = "EMPTY"

[peers.far]
host = "far.example"
port = 70000
ae_title = ""

[peers.scalar]
value = 1

[identities.alice-keyring]
type = "keyring-password"
username = "alice"
positive_response = "yes"

[identities.unknown-kind]
type = "ldap"

[identities.untyped]
username = "x"

[identities.tok]
type = "jwt-file"
audience = 5
leeway = -3
lifetime = 60

[identities.kerb]
type = "kerberos"
keytab = "/etc/k.keytab"
ccache = "FILE:/tmp/cc"
mutual_auth = "always"
token_format = "spnego"
positive_response = false

[identities.chain]
type = "chain"
identities = ["kerb", "ghost"]

[identities.empty-chain]
type = "chain"
identities = []

[policies.strict]
missing_response = "explode"
allow_insecure_transport = "no"
[policies.strict.per_type]
username = "warn"
ldap = "abort"
kerberos = "ignore"
"""

EXPECTED = [
    "title: unknown table; valid tables: defaults, peers, identities, policies",
    "defaults.calling_ae_title: must be an AE title of at most 16 characters, "
    'got "A_CALLING_TITLE_TOO_LONG" (24)',
    'defaults.polcy: unknown key (did you mean "policy"?); '
    "valid keys: calling_ae_title, policy, timeouts",
    "defaults.timeouts.connect: must be a positive number of seconds, got -1",
    'defaults.timeouts.acse: must be a positive number of seconds, got "30"',
    "defaults.timeouts.dimse: must be a positive number of seconds, got true",
    'peers.archive.port: must be an integer 1-65535, got "2762x"',
    "peers.archive.tls.ca_file: must be a non-empty string, got 42",
    "peers.archive.tls.verify: unknown key; "
    "valid keys: ca_file, cert_file, key_file, server_hostname",
    "peers.archive.tls.key_file: needs cert_file too",
    "peers.empty.host: missing; a peer needs host, port and ae_title",
    "peers.empty.port: missing; a peer needs host, port and ae_title",
    "peers.far.port: must be an integer 1-65535, got 70000",
    "peers.far.ae_title: must be an AE title of 1-16 characters, got an empty string",
    "peers.scalar.value: unknown key",
    "peers.scalar.host: missing",
    "peers.scalar.port: missing",
    "peers.scalar.ae_title: missing",
    'identities.alice-keyring.positive_response: must be true or false, got "yes"',
    "identities.alice-keyring.service: missing; "
    "a keyring-password identity needs service and username",
    "identities.unknown-kind.type: must be one of "
    "username, keyring-password, jwt-file, kerberos, saml-file, token-endpoint, oidc-login, chain; "
    'got "ldap"',
    "identities.untyped.type: missing; the identity type, one of "
    "username, keyring-password, jwt-file, kerberos, saml-file, token-endpoint, oidc-login, chain",
    "identities.tok.audience: must be a non-empty string, got 5",
    "identities.tok.leeway: must be a number of seconds (0 or more), got -3",
    "identities.tok.lifetime: unknown key; valid keys: path, audience, leeway, positive_response",
    "identities.tok.path: missing; a jwt-file identity needs path",
    'identities.kerb.mutual_auth: must be one of required, optional, disabled; got "always"',
    'identities.kerb.token_format: must be one of gssapi, ap-req; got "spnego"',
    "identities.kerb.ccache: give a keytab or a ccache, not both",
    "identities.empty-chain.identities: must be a non-empty array of names, got an empty array",
    'policies.strict.missing_response: must be one of abort, release, warn, proceed; got "explode"',
    'policies.strict.allow_insecure_transport: must be true or false, got "no"',
    "policies.strict.per_type.ldap: unknown key; "
    "valid keys: username, username+passcode, kerberos, saml, jwt",
    'policies.strict.per_type.kerberos: must be one of abort, release, warn, proceed; got "ignore"',
    'defaults.policy: no policy "strickt"; defined policies: strict',
    'peers.archive.identity: no identity "alice"; defined identities: '
    "alice-keyring, chain, empty-chain, kerb, tok, unknown-kind, untyped",
    'peers.archive.policy: no policy "nope"; defined policies: strict',
    'identities.chain.identities[1]: no identity "ghost"; defined identities:',
]


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, BAD, "dicom-identity.toml")
    errors = errors_of(path, {"DICOM_IDENTITY_CONNECT_TIMEOUT": "soon"})
    for expected in EXPECTED:
        matching = [e for e in errors if e.startswith(f"{path}: {expected}")]
        assert matching, f"no error starts with {path}: {expected}\n" + "\n".join(errors)
    assert (
        'environment: DICOM_IDENTITY_CONNECT_TIMEOUT: must be a number of seconds, got "soon"'
        in errors
    )
    # mutual_auth was invalid, so the "required needs a response" rule did not also fire
    assert not any("identities.kerb.positive_response" in e for e in errors)
    assert len(errors) == len(EXPECTED) + 1, "\n".join(errors)


def test_kerberos_required_mutual_auth_needs_a_positive_response(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [identities.kerb]
        type = "kerberos"
        positive_response = false
        """,
    )
    assert errors_of(path) == [
        f'{path}: identities.kerb.positive_response: must be true with mutual_auth = "required" '
        '(the peer only sends its AP-REP when asked); or set mutual_auth = "optional"'
    ]


def test_wrong_shapes_of_tables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        peers = "archive"
        defaults = 3
        [identities]
        alice = "keyring"
        [policies.p]
        per_type = "warn"
        """,
    )
    errors = errors_of(path)
    assert errors == [
        f"{path}: defaults: must be a table ([defaults]), got 3",
        f'{path}: peers: must be a table ([peers]), got "archive"',
        f'{path}: identities.alice: must be a table ([identities.NAME]), got "keyring"',
        f'{path}: policies.p.per_type: must be a table, got "warn"',
    ]


def test_ae_titles_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        r"""
        [defaults]
        calling_ae_title = "BACK\\SLASH"
        [peers.p]
        host = "h"
        port = 104
        ae_title = "SEVENTEEN_CHARS_X"
        """,
    )
    assert errors_of(path) == [
        f"{path}: defaults.calling_ae_title: must be an AE title without backslashes or control "
        'characters, got "BACK\\\\SLASH"',
        f"{path}: peers.p.ae_title: must be an AE title of at most 16 characters, got "
        '"SEVENTEEN_CHARS_X" (17)',
    ]


def test_bad_environment_and_argument_values(tmp_path: Path) -> None:
    path = write(tmp_path, PEER)
    errors = errors_of(
        path,
        {
            "DICOM_IDENTITY_ALLOW_INSECURE_TRANSPORT": "maybe",
            "DICOM_IDENTITY_ON_MISSING_RESPONSE": "explode",
            "DICOM_IDENTITY_CALLING_AE_TITLE": "X" * 17,
            "DICOM_IDENTITY_NETWORK_TIMEOUT": "0",
        },
    )
    assert errors == [
        f"environment: DICOM_IDENTITY_CALLING_AE_TITLE: must be an AE title of at most 16 "
        f'characters, got "{"X" * 17}" (17)',
        "environment: DICOM_IDENTITY_NETWORK_TIMEOUT: "
        "must be a positive number of seconds, got 0.0",
        "environment: DICOM_IDENTITY_ON_MISSING_RESPONSE: must be one of abort, release, warn, "
        'proceed; got "explode"',
        "environment: DICOM_IDENTITY_ALLOW_INSECURE_TRANSPORT: must be one of 1, true, yes, 0, "
        'false, no; got "maybe"',
    ]
    config = load_config(path, environ={})
    with pytest.raises(ConfigError) as caught:
        config.client("pacs", overrides=Overrides(connect_timeout=0, missing_response="later"))
    assert isinstance(caught.value, InvalidConfig)
    assert caught.value.errors == [
        "argument: connect_timeout: must be a positive number of seconds, got 0",
        'argument: missing_response: must be one of abort, release, warn, proceed; got "later"',
    ]
    client = config.client("pacs", overrides=Overrides(missing_response=MissingResponse.RELEASE))
    assert client.policy.missing_response is MissingResponse.RELEASE


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[peers.archive]\nhost = "archive"\nport = 104 104\n')
    [error] = errors_of(path)
    assert error.startswith(f"{path}: TOML syntax error: ")
    assert "line 3" in error


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'[peers.p]\nhost = "\xff"\n')
    assert errors_of(path) == [f"{path}: is not UTF-8 text (byte 18)"]


def test_chain_cycles_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [identities.self]
        type = "chain"
        identities = ["self"]
        [identities.a]
        type = "chain"
        identities = ["b"]
        [identities.b]
        type = "chain"
        identities = ["u", "c"]
        [identities.c]
        type = "chain"
        identities = ["a"]
        [identities.u]
        type = "username"
        username = "u"
        [identities.outer]
        type = "chain"
        identities = ["u", "a"]
        """,
    )
    assert errors_of(path) == [
        f"{path}: identities.self.identities: the chain refers to itself: self -> self",
        f"{path}: identities.a.identities: the chain refers to itself: a -> b -> c -> a",
    ]


def test_nested_chains_without_a_cycle_are_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [identities.u]
        type = "username"
        username = "u"
        [identities.inner]
        type = "chain"
        identities = ["u"]
        [identities.outer]
        type = "chain"
        identities = ["inner", "u"]
        """,
    )
    config = load_config(path, environ={})
    assert isinstance(config.identities["outer"], ChainIdentity)


# -- secrets ---------------------------------------------------------------------------------

SECRETS = """
password = "top-level-value-1"

[defaults]
api_key = "defaults-value-2"

[peers.archive]
host = "h"
port = 104
ae_title = "A"
identity = "alice-password"
[peers.archive.tls]
Key_Password = "tls-value-3"

[identities.alice-password]
type = "keyring-password"
service = "s"
username = "alice"
passcode = "identity-value-4"
token = "identity-value-5"
client-secret = "identity-value-6"
access_token = "identity-value-7"
MySecretStuff = "identity-value-8"

[identities.kerb]
type = "kerberos"
token_format = "ap-req"

[identities.jwt]
type = "jwt-file"
path = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

[policies.p.per_type]
"username+passcode" = "warn"
secret = "policy-value-9"

[[extra]]
nested = [{ password = "array-value-10" }]
"""


def test_the_file_never_holds_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, SECRETS)
    errors = errors_of(path)
    secret_keys = [
        "password",
        "defaults.api_key",
        "peers.archive.tls.Key_Password",
        "identities.alice-password.passcode",
        "identities.alice-password.token",
        "identities.alice-password.client-secret",
        "identities.alice-password.access_token",
        "identities.alice-password.MySecretStuff",
        "policies.p.per_type.secret",
        "extra[0].nested[0].password",
    ]
    for key in secret_keys:
        [error] = [e for e in errors if e.startswith(f"{path}: {key}: ")]
        assert "never holds a secret" in error
        assert "dicom-identity keyring set PEER" in error
        assert 'type = "jwt-file"' in error
    [jwt_error] = [e for e in errors if e.startswith(f"{path}: identities.jwt.path: ")]
    assert "looks like a JWT" in jwt_error
    assert (
        f"{path}: extra: unknown table; valid tables: defaults, peers, identities, policies, audit"
        in errors
    )
    # reported once each, as secrets, and no value anywhere
    assert len(errors) == len(secret_keys) + 2, "\n".join(errors)
    text = "\n".join(errors)
    for value in ("value-", "eyJ", "c2lnbmF0dXJl"):
        assert value not in text
    # token_format, "username+passcode" and an identity *named* alice-password are no secrets
    assert not any("token_format" in e or "username+passcode" in e for e in errors)


# -- where the file is -----------------------------------------------------------------------


def test_missing_explicit_path_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert errors_of(path) == [f"{path}: no such configuration file (given by argument)"]


def test_missing_path_from_the_environment_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"DICOM_IDENTITY_CONFIG": str(path)})
    assert str(caught.value) == (
        f"{path}: no such configuration file (given by environment: DICOM_IDENTITY_CONFIG)"
    )


def test_a_directory_is_an_error(tmp_path: Path) -> None:
    assert errors_of(tmp_path) == [f"{tmp_path}: is a directory, not a configuration file"]


def test_environment_path_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, PEER)
    config = load_config(environ={"DICOM_IDENTITY_CONFIG": str(path)})
    assert config.path == path
    assert config.path_source == "environment: DICOM_IDENTITY_CONFIG"
    assert settings_of(config, "pacs")["config_file"] == Setting(
        "config_file", str(path), "environment: DICOM_IDENTITY_CONFIG"
    )
    other = write(tmp_path, "", "other.toml")
    assert load_config(other, environ={"DICOM_IDENTITY_CONFIG": str(path)}).path == other


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def test_missing_default_file_is_an_empty_config(config_home: Path) -> None:
    config = load_config(environ={})
    assert config == Config(path=None, path_source="default")
    assert dict(config.peers) == {}


def test_default_location_is_the_user_config_folder(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = config_home / ".config" / "dicom-identity" / "config.toml"
    assert default_config_path() == expected
    expected.parent.mkdir(parents=True)
    expected.write_text(PEER, encoding="utf-8")
    config = load_config(environ={})
    assert (config.path, config.path_source) == (expected, "default")
    assert "pacs" in config.peers

    xdg = config_home / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert default_config_path() == xdg / "dicom-identity" / "config.toml"
    assert load_config(environ={}).path is None


def test_client_from_config(config_home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, PEER)
    config = load_config(path, environ={})
    assert client_from_config("pacs", config).peer == Peer("127.0.0.1", 104, "PACS")
    default = default_config_path()
    default.parent.mkdir(parents=True)
    default.write_text(PEER.replace("104", "105"), encoding="utf-8")
    assert client_from_config("pacs").peer.port == 105


# -- ad-hoc peers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [
        ("pacs.example.org:104", "pacs.example.org", 104),
        ("10.0.0.7:11112", "10.0.0.7", 11112),
        ("[::1]:104", "::1", 104),
        ("[2001:db8::7]:2762", "2001:db8::7", 2762),
        ("[fe80::1%eth0]:104", "fe80::1%eth0", 104),
        ("localhost:65535", "localhost", 65535),
    ],
)
def test_peer_from_address(address: str, host: str, port: int) -> None:
    assert peer_from_address(address, ae_title="PACS") == Peer(host, port, "PACS")


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("pacs.example.org", "expected HOST:PORT"),
        (":104", "expected HOST:PORT"),
        ("pacs:", 'the port must be an integer 1-65535, got ""'),
        ("pacs:abc", 'the port must be an integer 1-65535, got "abc"'),
        ("pacs:0", "the port must be an integer 1-65535"),
        ("pacs:65536", "the port must be an integer 1-65535"),
        ("pacs:-1", "the port must be an integer 1-65535"),
        ("pacs:١٠٤", "the port must be an integer 1-65535"),
        ("::1:104", "an IPv6 address goes in brackets ([::1]:104)"),
        ("[::1]", "expected HOST:PORT"),
        ("[::1:104", "expected HOST:PORT"),
        ("[::1]104", "expected HOST:PORT"),
        ("[pacs.example.org]:104", '"pacs.example.org" in brackets is not an IPv6 address'),
        ("pa cs:104", "expected HOST:PORT"),
    ],
)
def test_peer_from_bad_address(address: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        peer_from_address(address, ae_title="PACS")
    assert isinstance(caught.value, InvalidConfig)
    [error] = caught.value.errors
    assert error.startswith(f"peer address {address!r}: ".replace("'", '"'))
    assert problem in error


def test_peer_from_address_reports_address_and_ae_title_together() -> None:
    with pytest.raises(ConfigError) as caught:
        peer_from_address("pacs", ae_title="X" * 17)
    assert isinstance(caught.value, InvalidConfig)
    assert len(caught.value.errors) == 2
    assert caught.value.errors[1].startswith('peer address "pacs": ae_title: must be an AE title')


def test_client_for_address_uses_defaults_and_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path, environ={"DICOM_IDENTITY_CALLING_AE_TITLE": "ENV_SCU"})
    identity = UsernameProvider("carol")
    tls = TlsConfig(ca_file="/tmp/ca.pem")
    client = config.client_for_address(
        "[::1]:11112",
        ae_title="ADHOC",
        overrides=Overrides(identity=identity, tls=tls, dimse_timeout=5),
    )
    assert client.peer == Peer("::1", 11112, "ADHOC", tls=tls)
    assert client.identity is identity
    assert client.calling_ae_title == "ENV_SCU"
    assert (client.timeouts.connect, client.timeouts.dimse) == (10, 5)
    assert client.policy.per_type[IdentityType.USERNAME] is MissingResponse.WARN  # defaults.policy
    bare = config.client_for_address("127.0.0.1:104", ae_title="ADHOC")
    assert (bare.identity, bare.peer.tls) == (None, None)


# -- keyring targets -------------------------------------------------------------------------


def test_keyring_target(tmp_path: Path, no_keyring_access: list[str]) -> None:
    path = write(
        tmp_path,
        FULL
        + """
        [identities.outer]
        type = "chain"
        identities = ["bob", "any"]
        [peers.nested]
        host = "h"
        port = 104
        ae_title = "N"
        identity = "outer"
        """,
    )
    config = load_config(path, environ={})
    assert config.keyring_target("archive") == ("archive.hospital.example", "alice")
    assert config.keyring_target("any") == ("archive.hospital.example", "alice")  # after kerb
    assert config.keyring_target("nested") == ("archive.hospital.example", "alice")
    with pytest.raises(ConfigError) as caught:
        config.keyring_target("router")
    assert str(caught.value) == (
        f'{path}: peers.router.identity: the identity "router-token" (jwt-file) reads no secret '
        'from the keyring; only an identity of type = "keyring-password", or "token-endpoint" '
        "with client_secret_keyring (or a chain holding one) does"
    )
    with pytest.raises(ConfigError, match=r"peers\.anonymous\.identity: the peer has no identity"):
        config.keyring_target("anonymous")
    assert no_keyring_access == []
