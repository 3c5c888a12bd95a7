"""How an OAuth client proves who it is to a token endpoint (RFC 6749 2.3, RFC 7523, OIDC Core 9).

* ``client_secret_post``: the client secret, read from the OS keyring at each request, in the
  form body (``client_secret=``);
* ``client_secret_basic``: the same secret in ``Authorization: Basic``, the id and the secret each
  form-urlencoded first (RFC 6749 2.3.1: a secret with ``:``, ``%`` or ``+`` is sent right);
* ``private_key_jwt``: an assertion (RFC 7523 2.2) signed with the client's private key, read
  from a PEM file at each request and held as a :class:`Secret` until it signs: ``iss`` and
  ``sub`` the client id, ``aud`` the token endpoint, a unique ``jti``, a 60 s ``exp``;
* no secret: a public client (the login flows) or Kerberos (SPNEGO, done by the transport) only
  name the client (``client_id=``).

Each gives, per request, a :class:`ClientCredentials`: the plain form fields, the secret ones,
an ``Authorization`` value, and every secret of the request, which the transport registers in
flight (:func:`providers._scrub.in_flight`) so no text of the exchange shows them.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, get_args
from urllib.parse import quote_plus

from providers._errors import CredentialError, CredentialUnavailable, IdentityError
from providers._keyring_access import KeyringEntryMissing, default_backend
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

TokenEndpointAuth = Literal["client-secret", "client-secret-basic", "private-key-jwt", "kerberos"]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 60  # seconds: the assertion is used at once, and only once (its jti)
MAX_KEY_FILE_BYTES = 64 * 1024
# Asymmetric algorithms only: an HMAC "private key" would be a shared secret (client_secret_jwt).
ASSERTION_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
_CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


@dataclass(frozen=True)
class ClientCredentials:
    """What authenticates the client in one request. ``secrets``: everything secret in it (the
    client secret, the Basic value and its base64 part, the assertion), for scrubbing."""

    fields: Mapping[str, str] = field(default_factory=dict)
    secret_fields: tuple[tuple[str, Secret], ...] = ()
    authorization: Secret | None = None
    secrets: tuple[Secret, ...] = ()

    def adding(self, *secret_fields: tuple[str, Secret]) -> ClientCredentials:
        """These credentials and more secret fields of the grant (a refresh token, a device
        code, an authorization code and its PKCE verifier)."""
        values = tuple(value for _, value in secret_fields)
        return ClientCredentials(
            self.fields,
            (*self.secret_fields, *secret_fields),
            self.authorization,
            (*self.secrets, *values),
        )

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: (
                f"ClientCredentials(fields={sorted(self.fields)!r}, "
                f"secret_fields={[name for name, _ in self.secret_fields]!r}, "
                f"authorization={self.authorization is not None})"
            ),
        )


class ClientAuthentication(Protocol):
    """A way for the client to authenticate; ``method`` is its OAuth name."""

    method: str

    def credentials(self, client_id: str, token_url: str) -> ClientCredentials: ...

    def advice(self, client_id: str) -> str:
        """What to check when the token endpoint says ``invalid_client``."""
        ...


class PublicClient:
    """No secret: the client only names itself (a public client, or Kerberos)."""

    def __init__(self, method: str = "none") -> None:
        self.method = method

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"PublicClient({self.method!r})")

    def credentials(self, client_id: str, token_url: str) -> ClientCredentials:
        return ClientCredentials({"client_id": client_id})

    def advice(self, client_id: str) -> str:
        if self.method == "kerberos":
            return f"Check that the Kerberos principal is registered as client {client_id!r}"
        return (
            f"Check that client {client_id!r} is registered as a public client (no client "
            "authentication, token_endpoint_auth_method none)"
        )


class _KeyringSecret:
    """The client secret in the keyring entry ``(SERVICE, USER)``, read at each request."""

    def __init__(
        self, entry: tuple[str, str], backend: KeyringBackend | None, purpose: str
    ) -> None:
        if len(entry) != 2 or not all(entry):
            raise ValueError("client_secret_keyring must be (SERVICE, USER), both non-empty")
        self.entry = entry
        self.purpose = purpose
        self._backend = backend

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"{type(self).__name__}({self.entry!r})")

    def advice(self, client_id: str) -> str:
        return (
            f"Check client_id {client_id!r} and the client secret in the keyring "
            f"(keyring set {self.entry[0]} {self.entry[1]})"
        )

    @secret_safe  # the keyring backend's frames hold the value it read
    def read(self) -> Secret:
        import keyring.errors

        service, user = self.entry
        where = f"keyring service {service!r}, user {user!r}"
        failure: IdentityError | None = None
        # A backend that cannot load, or none at all: a typed error with the real cause.
        backend = self._backend or default_backend()
        try:
            value = backend.get_password(service, user)
        except keyring.errors.NoKeyringError:
            failure = CredentialUnavailable(
                f"no usable keyring backend for the client secret{self.purpose} ({where}). "
                "Install one (for a headless server: pip install keyrings.alt) and select it "
                "with PYTHON_KEYRING_BACKEND"
            )
        except Exception as exc:  # a backend may raise anything (locked, D-Bus down, corrupt)
            failure = CredentialError(
                f"the keyring backend failed reading the client secret ({where}): "
                f"{type(exc).__name__}. Check that the keyring is unlocked (keyring diagnose)"
            )
        if failure is not None:
            raise failure  # outside the handler: no context that holds the backend's frames
        if not value:
            raise KeyringEntryMissing(service, user, what="client secret", purpose=self.purpose)
        try:
            return Secret(value)
        finally:
            del value  # not a local of this frame if Secret refuses it


class ClientSecretPost(_KeyringSecret):
    method = "client_secret_post"

    def credentials(self, client_id: str, token_url: str) -> ClientCredentials:
        secret = self.read()
        return ClientCredentials(
            {"client_id": client_id}, (("client_secret", secret),), None, (secret,)
        )


class ClientSecretBasic(_KeyringSecret):
    method = "client_secret_basic"

    @secret_safe  # the encoded pair holds the secret
    def credentials(self, client_id: str, token_url: str) -> ClientCredentials:
        secret = self.read()
        pair = f"{quote_plus(client_id)}:{quote_plus(secret.reveal())}".encode()
        encoded = Secret(base64.b64encode(pair))
        header = Secret(b"Basic " + encoded.reveal())
        del pair
        # No client_id in the body: one authentication method per request (RFC 6749 2.3).
        return ClientCredentials({}, (), header, (secret, header, encoded))


class PrivateKeyJwt:
    """RFC 7523 assertions signed with the private key in ``key_file`` (PEM, unencrypted).

    ``key_id``: the ``kid`` header, when the client's registered JWKS holds several keys.
    ``algorithm``: by default from the key (RSA RS256; EC P-256/384/521 ES256/384/512;
    Ed25519 EdDSA)."""

    method = "private_key_jwt"

    def __init__(
        self,
        key_file: str | os.PathLike[str],
        *,
        key_id: str | None = None,
        algorithm: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm is not None and algorithm not in ASSERTION_ALGORITHMS:
            raise ValueError(
                f"client_key_algorithm must be one of {', '.join(ASSERTION_ALGORITHMS)}: "
                f"{algorithm!r}"
            )
        if key_id is not None and not key_id:
            raise ValueError("client_key_id must be a non-empty string, or None")
        self.key_file = Path(key_file)
        self.key_id = key_id
        self.algorithm = algorithm
        self._clock = clock  # the server's clock judges the assertion: the real time

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"PrivateKeyJwt({str(self.key_file)!r}, key_id={self.key_id!r})"
        )

    def advice(self, client_id: str) -> str:
        kid = f" (kid {self.key_id!r})" if self.key_id else ""
        return (
            f"Check client_id {client_id!r}, that the public key of {self.key_file}{kid} is in "
            "the client's registered JWKS, and this machine's clock (the assertion lives "
            f"{ASSERTION_LIFETIME} s)"
        )

    @secret_safe  # the key, the signer's frames and the assertion
    def credentials(self, client_id: str, token_url: str) -> ClientCredentials:
        pem = self._read_key()
        assertion = Secret(self._sign(pem, client_id, token_url))
        fields = {"client_id": client_id, "client_assertion_type": ASSERTION_TYPE}
        return ClientCredentials(fields, (("client_assertion", assertion),), None, (assertion,))

    def _read_key(self) -> Secret:
        where = f"the private key file {self.key_file} (client authentication private_key_jwt)"
        failure: IdentityError | None = None
        try:
            with open(self.key_file, "rb") as handle:
                data = handle.read(MAX_KEY_FILE_BYTES + 1)
        except FileNotFoundError:
            failure = CredentialUnavailable(
                f"{where} does not exist; write the client's private key there (PEM), or "
                "correct client_key_file"
            )
        except OSError as exc:
            failure = CredentialError(
                f"{where} cannot be read ({exc.strerror or type(exc).__name__}); check its "
                "permissions for the user this runs as"
            )
        if failure is not None:
            raise failure
        if len(data) > MAX_KEY_FILE_BYTES:
            raise CredentialError(f"{where} is larger than {MAX_KEY_FILE_BYTES} bytes: no key")
        try:
            return Secret(data)
        finally:
            del data

    def _sign(self, pem: Secret, client_id: str, token_url: str) -> str:
        where = f"the private key file {self.key_file}"
        try:
            import jwt
            from cryptography.hazmat.primitives import serialization
        except ImportError as exc:
            raise CredentialError(
                f"private_key_jwt needs the cryptography package ({exc.name} is missing): "
                "pip install cryptography"
            ) from None
        failure: str | None = None
        try:
            key = serialization.load_pem_private_key(pem.reveal(), password=None)
        except TypeError:  # cryptography's word for "encrypted, and no password given"
            failure = (
                "holds an encrypted key; store it unencrypted (and readable by this user only)"
            )
        except Exception as exc:  # ValueError, UnsupportedAlgorithm: never the key's bytes
            failure = f"holds no PEM private key that can be loaded ({type(exc).__name__})"
        if failure is not None:
            raise CredentialError(f"{where} {failure}")
        algorithm = self.algorithm or _algorithm_for(key)
        if algorithm is None:
            raise CredentialError(
                f"{where} holds a {type(key).__name__}, which cannot sign a client assertion; "
                "use an RSA, EC (P-256/384/521) or Ed25519 key"
            )
        now = int(self._clock())
        claims: dict[str, str | int] = {"iss": client_id, "sub": client_id, "aud": token_url}
        claims |= {"jti": secrets.token_urlsafe(24), "iat": now, "exp": now + ASSERTION_LIFETIME}
        headers = {"kid": self.key_id} if self.key_id else None
        try:
            return jwt.encode(claims, key, algorithm=algorithm, headers=headers)  # type: ignore[arg-type]
        except Exception as exc:  # a key that does not fit the algorithm
            failure = f"cannot sign with {algorithm} ({type(exc).__name__})"
        raise CredentialError(
            f"{where} {failure}; give client_key_algorithm that fits the key, or leave it unset"
        )


def _algorithm_for(key: object) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _CURVE_ALGORITHMS.get(key.curve.name)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    return None


def client_authentication(
    auth: str,
    *,
    client_secret_keyring: tuple[str, str] | None,
    client_key_file: str | os.PathLike[str] | None,
    client_key_id: str | None = None,
    client_key_algorithm: str | None = None,
    keyring_backend: KeyringBackend | None = None,
    purpose: str = "",
) -> ClientAuthentication:
    """The client authentication that ``auth`` (a :data:`TokenEndpointAuth`) names; raises
    ``ValueError`` for settings that do not fit it."""
    if auth not in get_args(TokenEndpointAuth):
        raise ValueError(f"auth must be one of {get_args(TokenEndpointAuth)}: {auth!r}")
    secret_methods: dict[str, type[ClientSecretPost | ClientSecretBasic]] = {
        "client-secret": ClientSecretPost,
        "client-secret-basic": ClientSecretBasic,
    }
    if auth != "private-key-jwt" and (client_key_file or client_key_id or client_key_algorithm):
        raise ValueError(
            f"auth={auth!r} signs nothing: client_key_file, client_key_id and "
            'client_key_algorithm are for auth="private-key-jwt"'
        )
    if auth in secret_methods:
        if client_secret_keyring is None:
            raise ValueError(
                f"auth={auth!r} needs client_secret_keyring=(SERVICE, USER): the keyring "
                "entry that holds the client secret"
            )
        return secret_methods[auth](client_secret_keyring, keyring_backend, purpose)
    if client_secret_keyring is not None:
        raise ValueError(f"auth={auth!r} sends no client secret: drop client_secret_keyring")
    if auth == "kerberos":
        return PublicClient("kerberos")
    if not client_key_file:
        raise ValueError(
            'auth="private-key-jwt" needs client_key_file=PATH: the PEM file of the private '
            "key whose public key the client registered"
        )
    return PrivateKeyJwt(client_key_file, key_id=client_key_id, algorithm=client_key_algorithm)
