"""The configuration file's identity types "saml-file" and "token-endpoint"."""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from client_sdk import ConfigError, InvalidConfig, Overrides, load_config
from client_sdk._config.schema import SamlFileIdentity, TokenEndpointIdentity
from client_sdk.testing import EmbeddedPacs
from providers import IdentityType, SamlFileProvider, TokenEndpointProvider
from tests.oidc_fixtures import RunningOidcProvider
from tests.saml_assertions import ISSUER, NAME_ID, make_assertion, write_file

PACS_AUDIENCE = "EMBEDDED_PACS"

SITE = """
[peers.federated]
host = "pacs.hospital.example"
port = 2762
ae_title = "FEDERATED"
identity = "saml"

[peers.router]
host = "router.hospital.example"
port = 2762
ae_title = "ROUTER"
identity = "idp"

[peers.research]
host = "research.hospital.example"
port = 104
ae_title = "RESEARCH"
identity = "idp-kerberos"

[identities.saml]
type = "saml-file"
path = "agent/assertion.xml"
audience = "FEDERATED"
leeway = 10
positive_response = true

[identities.idp]
type = "token-endpoint"
token_url = "https://idp.hospital.example/oauth2/token"
client_id = "dicom-router"
client_secret_keyring = ["idp.hospital.example", "dicom-router"]
scope = "dicom.store dicom.query"
audience = "ROUTER"
ca_file = "pki/idp-ca.pem"
timeout = 5

[identities.idp-kerberos]
type = "token-endpoint"
token_url = "https://idp.hospital.example/adfs/oauth2/token"
client_id = "dicom-research"
auth = "kerberos"
kerberos_hostname = "adfs.hospital.example"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert isinstance(caught.value, InvalidConfig)
    return caught.value.errors


def test_both_types_parse_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SITE), environ={})
    assert config.identities["saml"] == SamlFileIdentity(
        name="saml",
        path=str(tmp_path / "agent" / "assertion.xml"),
        audience="FEDERATED",
        leeway=10,
        positive_response=True,
    )
    assert config.identities["idp"] == TokenEndpointIdentity(
        name="idp",
        token_url="https://idp.hospital.example/oauth2/token",
        client_id="dicom-router",
        client_secret_keyring=("idp.hospital.example", "dicom-router"),
        scope="dicom.store dicom.query",
        audience="ROUTER",
        ca_file=str(tmp_path / "pki" / "idp-ca.pem"),
        timeout=5,
    )
    kerberos = config.identities["idp-kerberos"]
    assert isinstance(kerberos, TokenEndpointIdentity)
    assert (kerberos.auth, kerberos.client_secret_keyring) == ("kerberos", None)


def test_providers_are_built_without_reading_anything(
    tmp_path: Path, no_keyring_access: list[str], no_outside_connections: list[Any]
) -> None:
    config = load_config(write(tmp_path, SITE), environ={})
    saml = config.client("federated").identity
    assert isinstance(saml, SamlFileProvider)
    assert (saml.path, saml.audience, saml.leeway) == (
        tmp_path / "agent" / "assertion.xml",  # need not exist yet
        "FEDERATED",
        10,
    )
    assert saml.positive_response is True
    idp = config.client("router").identity
    assert isinstance(idp, TokenEndpointProvider)
    assert (idp.token_url, idp.client_id, idp.client_secret_keyring) == (
        "https://idp.hospital.example/oauth2/token",
        "dicom-router",
        ("idp.hospital.example", "dicom-router"),
    )
    assert (idp.scope, idp.audience, idp.auth, idp.timeout) == (
        "dicom.store dicom.query",
        "ROUTER",
        "client-secret",
        5,
    )
    assert idp.ca_file == str(tmp_path / "pki" / "idp-ca.pem")
    research = config.client("research").identity
    assert isinstance(research, TokenEndpointProvider)
    assert (research.auth, research.kerberos_hostname) == ("kerberos", "adfs.hospital.example")
    assert no_keyring_access == [] and no_outside_connections == []


def test_identity_defaults_are_the_constructors_defaults() -> None:
    for identity_class, provider_class in (
        (SamlFileIdentity, SamlFileProvider),
        (TokenEndpointIdentity, TokenEndpointProvider),
    ):
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


def test_effective_settings_show_the_identity_keys(tmp_path: Path) -> None:
    path = write(tmp_path, SITE)
    config = load_config(path, environ={})
    settings = {s.key: s for s in config.effective("router", overrides=Overrides())}
    assert settings["identity.type"].value == "token-endpoint"
    assert settings["identity.client_secret_keyring"].value == (
        "idp.hospital.example, dicom-router"
    )
    assert settings["identity.client_secret_keyring"].source == (
        f"file: {path}:identities.idp.client_secret_keyring"
    )
    assert settings["identity.auth"].value == "client-secret"
    assert settings["identity.auth"].source == "default"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [identities.no-path]
        type = "saml-file"
        leeway = -1

        [identities.plain-http]
        type = "token-endpoint"
        token_url = "http://idp.hospital.example/token"
        client_id = "c"
        client_secret_keyring = ["s", "u"]

        [identities.with-credentials]
        type = "token-endpoint"
        token_url = "https://someone:hunter2@idp.hospital.example/token"
        client_id = "c"
        auth = "kerberos"

        [identities.no-keyring]
        type = "token-endpoint"
        token_url = "https://idp.hospital.example/token"
        client_id = "c"

        [identities.kerberos-with-keyring]
        type = "token-endpoint"
        token_url = "https://idp.hospital.example/token"
        client_id = "c"
        auth = "kerberos"
        client_secret_keyring = ["s", "u"]

        [identities.bad-values]
        type = "token-endpoint"
        token_url = "ftp://idp.hospital.example/token"
        auth = "ntlm"
        client_secret_keyring = "s3cr3t-typed-in-the-wrong-place"
        timeout = 0

        [identities.short-keyring]
        type = "token-endpoint"
        token_url = "https://idp.hospital.example/token"
        client_id = "c"
        client_secret_keyring = ["only-a-service"]
        """,
    )
    errors = errors_of(path)
    where = f"{path}: identities"
    expected = [
        f"{where}.no-path.leeway: must be a number of seconds (0 or more), got -1",
        f"{where}.no-path.path: missing; a saml-file identity needs path",
        f"{where}.plain-http.token_url: refusing plain HTTP to the token endpoint "
        "http://idp.hospital.example/token",
        f"{where}.with-credentials.token_url: token_url 'https://someone:***@idp.hospital."
        "example/token' holds credentials in its user part",
        f'{where}.no-keyring.client_secret_keyring: missing; with auth = "client-secret"',
        f'{where}.kerberos-with-keyring.client_secret_keyring: not used with auth = "kerberos"',
        f"{where}.bad-values.auth: must be one of client-secret, client-secret-basic, "
        'private-key-jwt, kerberos; got "ntlm"',
        f"{where}.bad-values.client_secret_keyring: must be an array of two names, "
        '["SERVICE", "USER"], got a string',
        f"{where}.bad-values.timeout: must be a positive number of seconds, got 0",
        f"{where}.bad-values.client_id: missing; a token-endpoint identity needs token_url and "
        "client_id",
        f"{where}.bad-values.token_url: token_url must be an https:// URL with a host",
        f"{where}.short-keyring.client_secret_keyring: must be an array of two names",
    ]
    for start in expected:
        assert any(e.startswith(start) for e in errors), (start, errors)
    assert len(errors) == len(expected), "\n".join(errors)
    text = "\n".join(errors)
    assert "hunter2" not in text and "s3cr3t" not in text


def test_client_secret_keyring_is_a_reference_but_a_client_secret_is_refused(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """
        [identities.idp]
        type = "token-endpoint"
        token_url = "https://idp.hospital.example/token"
        client_id = "c"
        client_secret = "inline-value-never-shown"
        client_secret_keyring = ["s", "u"]
        """,
    )
    (error,) = errors_of(path)
    assert error.startswith(f"{path}: identities.idp.client_secret: the configuration file never")
    assert 'client_secret_keyring = ["SERVICE", "USER"]' in error
    assert "inline-value" not in error


# From the file to the embedded PACS ------------------------------------------------------------


def test_saml_file_identity_from_the_file_to_the_pacs(
    tmp_path: Path, embedded_pacs_factory: Callable[..., EmbeddedPacs]
) -> None:
    pacs = embedded_pacs_factory(saml_issuer=ISSUER, saml_audience=PACS_AUDIENCE)
    write_file(tmp_path / "assertion.xml", make_assertion(audiences=((PACS_AUDIENCE,),)))
    path = write(
        tmp_path,
        f"""
        [peers.local]
        host = "{pacs.host}"
        port = {pacs.port}
        ae_title = "{pacs.ae_title}"
        identity = "saml"

        [identities.saml]
        type = "saml-file"
        path = "assertion.xml"
        audience = "{PACS_AUDIENCE}"
        positive_response = true
        """,
    )
    with load_config(path, environ={}).client("local").associate() as session:
        assert session.outcome.identity_type is IdentityType.SAML
        assert session.outcome.principal == NAME_ID
        session.echo()
    assert pacs.wait_for_records(1)[0].verified is True


def test_token_endpoint_identity_from_the_file_to_the_pacs(
    tmp_path: Path,
    file_keyring: Any,
    restore_keyring: None,
    oidc_provider: RunningOidcProvider,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    """The token endpoint is the real OpenID Provider (tests/oidc_op), its client_secret_post
    client; the PACS verifies its tokens through its JWKS."""
    import keyring

    op = oidc_provider
    client_id, client_secret = op.clients["post"].client_id, str(op.clients["post"].secret)
    file_keyring.set_password("local-idp", client_id, client_secret)
    keyring.set_keyring(file_keyring)
    pacs = embedded_pacs_factory(jwt_jwks_url=op.endpoint("jwks"), jwt_audience=PACS_AUDIENCE)
    requests_before = len(op.token_requests())
    path = write(
        tmp_path,
        f"""
        [peers.local]
        host = "{pacs.host}"
        port = {pacs.port}
        ae_title = "{pacs.ae_title}"
        identity = "idp"

        [identities.idp]
        type = "token-endpoint"
        token_url = "{op.endpoint("token")}"
        client_id = "{client_id}"
        client_secret_keyring = ["local-idp", "{client_id}"]
        """,
    )
    client = load_config(path, environ={}).client("local")
    for _ in range(2):
        with client.associate() as session:
            assert session.outcome.principal == client_id
    assert len(op.token_requests()) == requests_before + 1
    assert [r.verified for r in pacs.wait_for_records(2)] == [True, True]
