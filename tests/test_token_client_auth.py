"""TokenEndpointProvider's client authentication against the real OpenID Provider (tests/oidc_op):
client_secret_post, client_secret_basic (a secret with ':', '/' and '%41', which only RFC 6749
2.3.1's form-encoding gets through) and private_key_jwt (RFC 7523, the key in a PEM file), each
token verified by the embedded PACS over a real association; a wrong secret and a wrong key
refused as invalid_client with advice; key files that are missing, not PEM or encrypted. No
client secret, Basic value, private key or assertion in any output."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from client_sdk import Client, InvalidConfig, Peer, load_config
from client_sdk.testing import EmbeddedPacs
from providers import (
    CredentialError,
    CredentialUnavailable,
    Target,
    TokenEndpointProvider,
    TokenRequestRejected,
)
from providers._token_client_auth import ASSERTION_TYPE, ClientCredentials, PrivateKeyJwt
from tests.conftest import AUDIENCE
from tests.oidc_fixtures import RunningOidcProvider
from tests.oidc_login_helpers import Witness

pytestmark = pytest.mark.usefixtures("no_outside_connections")

SERVICE = "idp.test"
TARGET = Target("127.0.0.1", 11112, "PACS", "SCU")


@pytest.fixture
def assertions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every assertion PrivateKeyJwt signs (a spy: the real method runs)."""
    seen: list[str] = []
    real = PrivateKeyJwt.credentials

    def spy(self: PrivateKeyJwt, client_id: str, token_url: str) -> ClientCredentials:
        credentials = real(self, client_id, token_url)
        seen.extend(value.reveal().decode() for _, value in credentials.secret_fields)
        return credentials

    monkeypatch.setattr(PrivateKeyJwt, "credentials", spy)
    return seen


def pem(key: Any, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )


def key_file(tmp_path: Path, data: bytes, name: str = "client-key.pem") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def provider_for(
    op: RunningOidcProvider, role: str, keyring: Any, tmp_path: Path, **kw: Any
) -> TokenEndpointProvider:
    client = op.clients[role]
    if role in ("post", "basic"):
        keyring.set_password(SERVICE, client.client_id, kw.pop("secret", client.secret))
        kw.setdefault("client_secret_keyring", (SERVICE, client.client_id))
        kw.setdefault("auth", "client-secret" if role == "post" else "client-secret-basic")
    else:
        assert client.private_key_pem is not None
        kw.setdefault("client_key_file", key_file(tmp_path, client.private_key_pem))
        kw.setdefault("auth", "private-key-jwt")
    return TokenEndpointProvider(
        op.endpoint("token"),
        client_id=client.client_id,
        scope="dicom",
        audience=AUDIENCE,
        keyring_backend=keyring,
        timeout=5.0,
        **kw,
    )


@pytest.mark.parametrize(
    ("role", "extra"),
    [("post", {}), ("basic", {}), ("private_key_jwt", {"kid": True}), ("private_key_jwt", {})],
    ids=["client_secret_post", "client_secret_basic", "private_key_jwt+kid", "private_key_jwt"],
)
def test_each_method_gets_a_token_the_pacs_verifies(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    assertions: list[str],
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
    role: str,
    extra: dict[str, Any],
) -> None:
    op = oidc_provider
    client = op.clients[role]
    kw = {"client_key_id": client.key_id} if extra.get("kid") else {}
    provider = provider_for(op, role, file_keyring, tmp_path, **kw)
    pacs = embedded_pacs_factory(
        jwt_key=op.public_key_pem(), jwt_audience=AUDIENCE, jwt_issuer=op.issuer
    )
    with Client(Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider).associate() as s:
        assert s.outcome.principal == client.client_id
        s.echo()
    (record,) = pacs.wait_for_records(1)
    assert (record.identity_type, record.principal, record.verified) == (5, client.client_id, True)
    witness.secret(provider.negotiate(TARGET).request.primary)
    for value in (client.secret, client.private_key_pem, *assertions):
        witness.secret(value)
    assert len(assertions) == (1 if role == "private_key_jwt" else 0)
    witness.assert_no_leaks()


def test_the_assertion_is_rfc_7523s(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, assertions: list[str]
) -> None:
    op = oidc_provider
    client = op.clients["private_key_jwt"]
    assert client.private_key_pem is not None
    private = serialization.load_pem_private_key(client.private_key_pem, None)
    assert isinstance(private, rsa.RSAPrivateKey)
    public = private.public_key()
    for _ in range(2):  # two fetches: two assertions, both accepted (a jti is used once)
        provider = provider_for(
            op, "private_key_jwt", file_keyring, tmp_path, client_key_id=client.key_id
        )
        provider.negotiate(TARGET)
    first, _ = assertions
    claims = [
        jwt.decode(a, public, algorithms=["RS256"], audience=op.endpoint("token"))
        for a in assertions
    ]
    for body in claims:
        assert body["iss"] == body["sub"] == client.client_id
        assert body["exp"] - body["iat"] == 60
    assert claims[0]["jti"] != claims[1]["jti"] and len(claims[0]["jti"]) >= 32
    assert jwt.get_unverified_header(first) == {"alg": "RS256", "kid": client.key_id, "typ": "JWT"}


def test_a_wrong_basic_secret_is_refused_with_advice(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    op = oidc_provider
    wrong = "wrong:secret/%41 x+y"  # VSCHAR only (RFC 6749 A.2): no ü in a client secret
    provider = provider_for(op, "basic", file_keyring, tmp_path, secret=wrong)
    with pytest.raises(TokenRequestRejected) as refused:
        provider.negotiate(TARGET)
    error = refused.value
    assert (error.status, error.error) == (401, "invalid_client")
    client_id = op.clients["basic"].client_id
    assert f"keyring set {SERVICE} {client_id}" in str(error)
    witness.error(error)
    pair = f"{quote_plus(client_id)}:{quote_plus(wrong)}".encode()
    for value in (wrong, base64.b64encode(pair), b"Basic " + base64.b64encode(pair)):
        witness.secret(value)
    witness.assert_no_leaks()


def test_a_basic_secret_outside_printable_ascii_is_refused_with_that_advice(
    oidc_provider: RunningOidcProvider, file_keyring: Any, tmp_path: Path, witness: Witness
) -> None:
    """RFC 6749 2.3.1 allows only VSCHAR in a client secret; oidc-provider refuses Basic
    credentials with anything else as invalid_request, and the advice says why."""
    op = oidc_provider
    wrong = "wröng-secret-Ü"
    provider = provider_for(op, "basic", file_keyring, tmp_path, secret=wrong)
    with pytest.raises(TokenRequestRejected) as refused:
        provider.negotiate(TARGET)
    error = refused.value
    assert (error.status, error.error) == (400, "invalid_request")
    assert "printable ASCII (RFC 6749 2.3.1)" in str(error)
    witness.error(error)
    witness.secret(wrong)
    witness.assert_no_leaks()


@pytest.mark.parametrize("wrong", ["key", "kid"])
def test_a_wrong_key_or_kid_is_refused_with_advice(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    assertions: list[str],
    wrong: str,
) -> None:
    op = oidc_provider
    registered = op.clients["private_key_jwt"].private_key_pem
    assert registered is not None
    if wrong == "key":
        key, kid = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)), None
    else:
        key, kid = registered, "a-kid-nobody-registered"
    path = key_file(tmp_path, key, "not-registered.pem")
    provider = provider_for(
        op, "private_key_jwt", file_keyring, tmp_path, client_key_file=path, client_key_id=kid
    )
    with pytest.raises(TokenRequestRejected) as refused:
        provider.negotiate(TARGET)
    error = refused.value
    assert (error.status, error.error) == (401, "invalid_client")
    assert f"that the public key of {path}" in str(error) and "clock" in str(error)
    witness.error(error)
    witness.secret(key)
    for value in assertions:
        witness.secret(value)
    assert len(assertions) == 1
    witness.assert_no_leaks()


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (None, CredentialUnavailable, "does not exist"),
        (b"not a key at all", CredentialError, "holds no PEM private key"),
        ("encrypted", CredentialError, "holds an encrypted key"),
        ("ec-for-rs256", CredentialError, "cannot sign with RS256"),
    ],
)
def test_key_files_that_cannot_sign(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    tmp_path: Path,
    witness: Witness,
    content: Any,
    error: type[Exception],
    message: str,
) -> None:
    kw: dict[str, Any] = {}
    if content == "encrypted":
        content = pem(ec.generate_private_key(ec.SECP256R1()), b"pass phrase")
    elif content == "ec-for-rs256":
        content = pem(ec.generate_private_key(ec.SECP256R1()))
        kw["client_key_algorithm"] = "RS256"
    path = tmp_path / "key.pem"
    if content is not None:
        key_file(tmp_path, content, "key.pem")
        witness.secret(content)
    provider = provider_for(
        oidc_provider, "private_key_jwt", file_keyring, tmp_path, client_key_file=path, **kw
    )
    with pytest.raises(error, match=message) as failed:
        provider.negotiate(TARGET)
    assert str(path) in str(failed.value)
    witness.error(failed.value)
    if content is not None:  # a missing file has no secret to search for
        witness.assert_no_leaks()


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "ES512"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    ],
)
def test_the_algorithm_follows_the_key(
    tmp_path: Path, key: Callable[[], Any], algorithm: str
) -> None:
    private = key()
    signer = PrivateKeyJwt(key_file(tmp_path, pem(private)))
    credentials = signer.credentials("c1", "https://idp.example.org/token")
    assert dict(credentials.fields) == {"client_id": "c1", "client_assertion_type": ASSERTION_TYPE}
    ((name, assertion),) = credentials.secret_fields
    assert name == "client_assertion" and credentials.secrets == (assertion,)
    token = assertion.reveal().decode()
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    claims = jwt.decode(
        token,
        private.public_key(),
        algorithms=[algorithm],
        audience="https://idp.example.org/token",
    )
    assert claims["iss"] == claims["sub"] == "c1"
    assert "kid" not in jwt.get_unverified_header(token)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"auth": "private-key-jwt"}, "needs client_key_file"),
        (
            {
                "auth": "private-key-jwt",
                "client_key_file": "k.pem",
                "client_secret_keyring": ("s", "u"),
            },
            "sends no client secret",
        ),
        ({"auth": "client-secret-basic"}, "needs client_secret_keyring"),
        (
            {"auth": "client-secret", "client_secret_keyring": ("s", "u"), "client_key_file": "k"},
            "signs nothing",
        ),
        (
            {"auth": "private-key-jwt", "client_key_file": "k", "client_key_algorithm": "HS256"},
            "one of",
        ),
        ({"auth": "private-key-jwt", "client_key_file": "k", "client_key_id": ""}, "client_key_id"),
        ({"auth": "kerberos", "client_key_file": "k"}, "signs nothing"),
        ({"auth": "basic"}, "auth must be one of"),
    ],
)
def test_settings_that_do_not_fit_the_method(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenEndpointProvider("https://idp.example.org/token", client_id="c", **kwargs)


def test_private_key_jwt_and_basic_from_the_configuration_file(
    oidc_provider: RunningOidcProvider,
    file_keyring: Any,
    restore_keyring: None,
    tmp_path: Path,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    """``auth = "private-key-jwt"`` with ``client_key_file`` relative to the file, and
    ``auth = "client-secret-basic"``: each peer's token reaches the PACS; the rules between the
    keys are reported with the rest."""
    import keyring

    op = oidc_provider
    jwt_client, basic = op.clients["private_key_jwt"], op.clients["basic"]
    assert jwt_client.private_key_pem is not None and basic.secret is not None
    (tmp_path / "keys").mkdir()
    key_file(tmp_path / "keys", jwt_client.private_key_pem)
    file_keyring.set_password(SERVICE, basic.client_id, basic.secret)
    keyring.set_keyring(file_keyring)
    pacs = embedded_pacs_factory(
        jwt_jwks_url=op.endpoint("jwks"), jwt_audience=AUDIENCE, jwt_issuer=op.issuer
    )
    peer = f'host = "{pacs.host}"\nport = {pacs.port}\nae_title = "{pacs.ae_title}"\n'
    identity = f'type = "token-endpoint"\ntoken_url = "{op.endpoint("token")}"\n'
    config = tmp_path / "config.toml"
    config.write_text(
        f'[peers.signed]\n{peer}identity = "signed"\n\n'
        f'[peers.basic]\n{peer}identity = "basic"\n\n'
        f'[identities.signed]\n{identity}client_id = "{jwt_client.client_id}"\n'
        'auth = "private-key-jwt"\nclient_key_file = "keys/client-key.pem"\n'
        f'client_key_id = "{jwt_client.key_id}"\n\n'
        f'[identities.basic]\n{identity}client_id = "{basic.client_id}"\n'
        f'auth = "client-secret-basic"\nclient_secret_keyring = ["{SERVICE}", '
        f'"{basic.client_id}"]\n',
        encoding="utf-8",
    )
    loaded = load_config(config, environ={})
    for name, client_id in (("signed", jwt_client.client_id), ("basic", basic.client_id)):
        with loaded.client(name).associate() as session:
            assert session.outcome.principal == client_id
    assert [(r.principal, r.verified) for r in pacs.wait_for_records(2)] == [
        (jwt_client.client_id, True),
        (basic.client_id, True),
    ]

    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'[identities.no-key]\n{identity}client_id = "c"\nauth = "private-key-jwt"\n\n'
        f'[identities.key-and-secret]\n{identity}client_id = "c"\nauth = "private-key-jwt"\n'
        'client_key_file = "k.pem"\nclient_secret_keyring = ["s", "u"]\n\n'
        f'[identities.stray-key]\n{identity}client_id = "c"\nclient_secret_keyring = ["s", "u"]\n'
        'client_key_id = "kid-1"\n\n'
        f'[identities.basic-no-keyring]\n{identity}client_id = "c"\n'
        'auth = "client-secret-basic"\n',
        encoding="utf-8",
    )
    with pytest.raises(InvalidConfig) as caught:
        load_config(bad, environ={})
    where = f"{bad}: identities"
    expected = [
        f'{where}.no-key.client_key_file: missing; with auth = "private-key-jwt"',
        f'{where}.key-and-secret.client_secret_keyring: not used with auth = "private-key-jwt"',
        f'{where}.stray-key.client_key_id: only with auth = "private-key-jwt"',
        f"{where}.basic-no-keyring.client_secret_keyring: missing; with auth = "
        '"client-secret-basic"',
    ]
    errors = caught.value.errors
    for start in expected:
        assert any(e.startswith(start) for e in errors), (start, errors)
    assert len(errors) == len(expected), "\n".join(errors)
