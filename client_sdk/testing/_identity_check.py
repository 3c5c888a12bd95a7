"""Verifying the identity a requestor offers: usernames, passwords, Kerberos tokens, SAML
assertions and JWTs.

One verifier per user identity type (PS3.7 D.3.3.7); types without one are rejected with a reason.
A verdict names the principal and, on failure, says why, but never holds a password or a token;
for Kerberos it carries the acceptor's reply (the AP-REP), which is not a secret of the requestor.
"""

from __future__ import annotations

import hmac
import os
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import jwt

from client_sdk.testing._jwks_keys import JwksKeys, JwksUnavailable
from client_sdk.testing._kerberos_acceptor import KerberosAcceptor, KerberosRejected
from providers._errors import IdentityError
from providers._safe_errors import total_repr
from providers._saml_assertion import (
    ASSERTION_NS,
    PROTOCOL_NS,
    InvalidSamlAssertion,
    check_conditions,
    parse_assertion,
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one identity; ``failure`` is safe to log.

    ``response``: the verifier's own answer for the server response (type 3: the AP-REP, ``b""``
    when the initiator asked for no mutual authentication); ``None`` for types that have none.
    Kept out of ``repr``.
    """

    verified: bool
    principal: str | None = None
    failure: str | None = None
    response: bytes | None = field(default=None, repr=False)


def _reject(failure: str, principal: str | None = None) -> Verdict:
    return Verdict(False, principal, failure)


Verifier = Callable[[bytes, bytes], Verdict]
"""``verifier(primary_field, secondary_field) -> Verdict``."""

# PyJWT error -> the reason recorded; most specific first (several subclass others).
_JWT_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "JWT expired"),
    (jwt.ImmatureSignatureError, "JWT not yet valid"),
    (jwt.InvalidAudienceError, "JWT audience mismatch"),
    (jwt.InvalidIssuerError, "JWT issuer mismatch"),
    (jwt.InvalidSignatureError, "JWT signature invalid"),
    (jwt.InvalidAlgorithmError, "JWT algorithm not allowed"),
    (jwt.InvalidKeyError, "JWT key unusable for this algorithm"),
    (jwt.DecodeError, "JWT malformed"),
)


def _is_pem(key: str | bytes) -> bool:
    text = key.decode("latin-1") if isinstance(key, bytes) else key
    return text.lstrip().startswith("-----BEGIN")


class IdentityChecker:
    """Verifies user identity items against configured users and a JWT key.

    ``users`` maps username to password. ``jwt_key`` is an HS256 secret or a PEM public key; only
    the algorithms that fit the kind of key are allowed, so a public key is never used as an
    HMAC secret. ``jwt_jwks_url`` instead: the keys of that JWKS by ``kid`` (asymmetric
    algorithms only; read again for an unknown kid, see :class:`JwksKeys`). ``kerberos_keytab``
    enables type 3 (needs python-gssapi); ``kerberos_service``
    (e.g. ``"dicom/localhost@REALM"``) limits it to that principal of the keytab. ``saml_issuer``
    enables type 4 (see :class:`SamlChecker`: issuer, audience and time conditions are checked;
    the XML signature is not).
    """

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        jwt_key: str | bytes | None = None,
        jwt_algorithms: Sequence[str] = ("HS256", "RS256", "ES256"),
        jwt_audience: str | None = None,
        jwt_issuer: str | None = None,
        jwt_jwks_url: str | None = None,
        kerberos_keytab: str | os.PathLike[str] | None = None,
        kerberos_service: str | None = None,
        saml_issuer: str | None = None,
        saml_audience: str | None = None,
        clock: Callable[[], float] = time.time,
        responder: str = "EMBEDDED_PACS",
    ) -> None:
        if saml_audience is not None and saml_issuer is None:
            raise ValueError("saml_audience needs saml_issuer")
        if kerberos_service is not None and kerberos_keytab is None:
            raise ValueError("kerberos_service needs kerberos_keytab")
        self._kerberos: KerberosAcceptor | None = (
            None if kerberos_keytab is None else KerberosAcceptor(kerberos_keytab, kerberos_service)
        )
        self._users: dict[str, bytes] | None = (
            None if users is None else {name: pw.encode("utf-8") for name, pw in users.items()}
        )
        if jwt_key is not None and jwt_jwks_url is not None:
            raise ValueError("give jwt_key or jwt_jwks_url, not both")
        self._jwt_key = jwt_key
        self._jwks = None if jwt_jwks_url is None else JwksKeys(jwt_jwks_url)
        if jwt_key is None and self._jwks is None:
            self._jwt_algorithms: list[str] = []
        elif jwt_key is None or _is_pem(jwt_key):
            self._jwt_algorithms = [a for a in jwt_algorithms if not a.upper().startswith("HS")]
        else:
            self._jwt_algorithms = [a for a in jwt_algorithms if a.upper().startswith("HS")]
        self._jwt_audience = jwt_audience
        self._jwt_issuer = jwt_issuer
        self.verifiers: dict[int, Verifier] = {
            1: self._username,
            2: self._password,
            5: self._jwt,
        }
        if self._kerberos is not None:
            self.verifiers[3] = self._kerberos_token
        self._saml: SamlChecker | None = None
        if saml_issuer is not None:
            self._saml = SamlChecker(saml_issuer, saml_audience, clock=clock, responder=responder)
            self.verifiers[4] = self._saml_assertion

    def __repr__(self) -> str:
        def build() -> str:  # total (providers._safe_errors): it holds passwords and the key
            users = "none" if self._users is None else str(len(self._users))
            jwt_state = "configured" if self._jwt_key is not None else "none"
            if self._jwks is not None:
                jwt_state = f"jwks {self._jwks.url!r}"
            kerberos = "" if self._kerberos is None else f", kerberos={self._kerberos!r}"
            saml = "" if self._saml is None else f", saml={self._saml!r}"
            return f"IdentityChecker(users={users}, jwt_key={jwt_state}{kerberos}{saml})"

        return total_repr(self, build)

    def verify(self, identity_type: int, primary: bytes, secondary: bytes) -> Verdict:
        verifier = self.verifiers.get(identity_type)
        if verifier is None:
            return _reject(f"type {identity_type} not supported by the embedded PACS yet")
        return verifier(primary, secondary)

    def _known_user(self, primary: bytes) -> tuple[str | None, Verdict | None]:
        """Decode and look up a username; returns (name, None) or (name?, rejection)."""
        if self._users is None:
            return None, _reject("no users configured")
        try:
            name = primary.decode("utf-8")
        except UnicodeDecodeError:
            return None, _reject("username is not valid UTF-8")
        if not name:
            return None, _reject("empty username")
        if name not in self._users:
            return name, _reject(f"unknown user {name!r}", name)
        return name, None

    def _username(self, primary: bytes, secondary: bytes) -> Verdict:
        name, rejection = self._known_user(primary)
        return rejection or Verdict(True, name)

    def _password(self, primary: bytes, secondary: bytes) -> Verdict:
        name, rejection = self._known_user(primary)
        if rejection is not None:
            return rejection
        assert self._users is not None
        assert name is not None
        if not hmac.compare_digest(self._users[name], secondary):
            return _reject(f"wrong password for {name!r}", name)
        return Verdict(True, name)

    def _jwt(self, primary: bytes, secondary: bytes) -> Verdict:
        if self._jwt_key is None and self._jwks is None:
            return _reject("no JWT key configured")
        if not self._jwt_algorithms:
            return _reject("no allowed JWT algorithm fits the configured key")
        try:
            token = primary.decode("ascii")
        except UnicodeDecodeError:
            return _reject("JWT is not ASCII")
        try:
            if self._jwks is not None:
                header = jwt.get_unverified_header(token)
                if header.get("alg") not in self._jwt_algorithms:  # before reading any key
                    return _reject("JWT algorithm not allowed")
                key: Any = self._jwks.key_for(header)
            else:
                key = self._jwt_key
            claims = jwt.decode(
                token,
                key,
                algorithms=self._jwt_algorithms,
                audience=self._jwt_audience,
                issuer=self._jwt_issuer,
                options={"require": ["exp"]},
            )
        except JwksUnavailable as exc:
            return _reject(f"JWT key not found: {exc}")
        except jwt.MissingRequiredClaimError as exc:
            return _reject(f"JWT missing required claim {exc.claim!r}")
        except jwt.PyJWTError as exc:
            for error, failure in _JWT_FAILURES:
                if isinstance(exc, error):
                    return _reject(failure)
            return _reject(f"JWT invalid ({type(exc).__name__})")
        except (ValueError, TypeError) as exc:  # e.g. a key the algorithm cannot load
            return _reject(f"JWT not verifiable with the configured key ({type(exc).__name__})")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            return _reject("JWT has no 'sub' claim")
        return Verdict(True, subject)

    def _kerberos_token(self, primary: bytes, secondary: bytes) -> Verdict:
        assert self._kerberos is not None
        try:
            principal, reply = self._kerberos.accept(primary)
        except KerberosRejected as exc:
            return _reject(str(exc))
        return Verdict(True, principal, response=reply)

    def _saml_assertion(self, primary: bytes, secondary: bytes) -> Verdict:
        assert self._saml is not None
        return self._saml.check(primary)


class SamlChecker:
    """Type 4 for the embedded PACS: a SAML 2.0 assertion from ``issuer``, for ``audience``.

    Parsed with defusedxml (no DTD, no entities); the Issuer must be ``issuer``; when ``audience``
    is set, every AudienceRestriction must name it; the Conditions time window must hold ``now``
    within ``leeway`` seconds. The XML signature is NOT verified: this is a test peer, and
    checking it would need the identity provider's certificate and an XML-DSig library. The
    answer is a small SAML protocol Response naming the assertion it accepted (``InResponseTo``),
    never the requestor's assertion itself.
    """

    def __init__(
        self,
        issuer: str,
        audience: str | None = None,
        *,
        leeway: float = 30,
        clock: Callable[[], float] = time.time,
        responder: str = "EMBEDDED_PACS",
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.responder = responder
        self._clock = clock

    def __repr__(self) -> str:
        return f"SamlChecker(issuer={self.issuer!r}, audience={self.audience!r})"

    def check(self, primary: bytes) -> Verdict:
        try:
            assertion = parse_assertion(primary)
        except InvalidSamlAssertion as exc:
            return _reject(f"SAML assertion refused: {exc}")
        principal = assertion.name_id
        if assertion.issuer != self.issuer:
            return _reject(
                f"SAML issuer {assertion.issuer!r} is not the trusted {self.issuer!r}", principal
            )
        try:
            check_conditions(assertion, self._clock(), self.leeway, self.audience)
        except IdentityError as exc:
            return _reject(str(exc), principal)
        return Verdict(True, principal, response=self._response(assertion.assertion_id))

    def _response(self, assertion_id: str) -> bytes:
        instant = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f'<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" '
            f'ID="_{uuid.uuid4().hex}" Version="2.0" IssueInstant="{instant}" '
            f"InResponseTo={quoteattr(assertion_id)}>"
            f"<saml:Issuer>{escape(self.responder)}</saml:Issuer>"
            '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>'
            "</samlp:Status></samlp:Response>"
        ).encode()
