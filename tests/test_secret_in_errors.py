"""No secret in what error reporters see of the providers (issue 14, finding 4).

Every error path of every provider that holds or reads a secret is raised for real (a real file
keyring, real JWT and SAML files, a real KDC), then everything a reporter could show is gathered
by :func:`exposure`: ``repr``/``str``/``args``/attributes of every error in the chain (the
implicit ``__context__`` too, even when suppressed, and a ``UnicodeError``'s ``.object``), and the
traceback of each with its frames' locals (``traceback.TracebackException(capture_locals=True)``,
what Sentry and pytest ``--showlocals`` show). It is searched with
:func:`tests.test_secret_leaks.find_leaks` (raw, UTF-8 bytes repr, str repr, hex, base64, URL
encoding). :func:`test_the_exposure_finds_a_planted_secret` is the control: the same gathering
finds a secret held by a frame, by a suppressed context, or by an encoding error's ``.object``.

The serializers are attacked in ``tests/test_secret_serializers.py``, with the same search.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from providers import (
    IdentityError,
    IdentityRequest,
    IdentityType,
    JwtFileProvider,
    KerberosProvider,
    KeyringPasswordProvider,
    MutualAuthenticationFailed,
    PasswordProvider,
    ProviderChain,
    SamlFileProvider,
    Secret,
    UsernameProvider,
)
from providers._kerberos import KerberosExchange
from providers._saml_file import SamlExchange
from tests.conftest import make_jwt
from tests.leak_search import find_leaks
from tests.secret_exposure import (
    PASSWORD,
    SAML_MARKER,
    TARGET,
    Call,
    assertion_file,
    chain,
    exposure,
    marked_assertion,
    raised,
    token_file,
)

LONE_SURROGATE_PASSWORD = "pw-canary-lone-surrogate-7c1e\udcff"
NOT_UTF8_PASSWORD = b"pw-canary-not-utf8-9a4f\xff"
OUT_OF_RANGE = b"0001-01-01T01:00+02:00"


# --- what a reporter sees of an error --------------------------------------------------------


def test_the_exposure_finds_a_planted_secret() -> None:
    secret = "planted-canary-0f3a\udcff"

    def frame_holds_it() -> None:
        held = secret  # noqa: F841  (a local, as a reporter shows it)
        raise IdentityError("nothing in the message")

    def suppressed_context_holds_it() -> None:
        try:
            secret.encode("utf-8")
        except UnicodeEncodeError:
            raise IdentityError("nothing in the message") from None

    def deeper_frame_of_the_context_holds_it() -> None:
        def parse(text: str) -> None:
            raise ValueError("bad")

        try:
            parse(secret)
        except ValueError:
            raise IdentityError("nothing in the message") from None

    for make in (frame_holds_it, suppressed_context_holds_it, deeper_frame_of_the_context_holds_it):
        error = raised(make)
        assert str(error) == "nothing in the message"
        assert find_leaks(exposure(error), [secret]), make.__name__


# --- every error path, raised for real ---------------------------------------------------------


def _keyring_file(path: Path, text: str | None = None) -> Any:
    """The real keyrings.alt file backend on ``path``, holding ``text`` when given."""
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(path)
    if text is not None:
        path.write_text(text)
    return backend


class _HostileKeyring:
    """A backend that reads the real file, then misbehaves (no real backend does this)."""

    priority = 1

    def __init__(self, real: Any, misbehave: Callable[[str], object]) -> None:
        self.real, self.misbehave = real, misbehave

    def get_password(self, service: str, username: str) -> object:
        return self.misbehave(self.real.get_password(service, username))


def _raise_quoting(password: str) -> object:
    raise RuntimeError(f"backend failed after reading {password}")


def error_paths(tmp_path: Path) -> dict[str, tuple[Call, list[str | bytes]]]:
    """Each error path: what raises, and the secrets it handled."""
    good_jwt = make_jwt()
    header, _payload, signature = good_jwt.split(".")
    b64 = base64.urlsafe_b64encode
    garbled_claims = f"{header}.{b64(b'{not json').decode().rstrip('=')}.{signature}"
    stored = f"[pacs]\nalice = {base64.b64encode(PASSWORD.encode()).decode()}\n"
    not_utf8 = f"[pacs]\nalice = {base64.b64encode(NOT_UTF8_PASSWORD).decode()}\n"
    real = _keyring_file(tmp_path / "stored.cfg", stored)
    jwt_secrets: list[str | bytes] = [good_jwt, signature]

    def keyring(backend: Any) -> Call:
        return Call(KeyringPasswordProvider("pacs", "alice", backend=backend).negotiate, TARGET)

    def jwt(token: str, **kwargs: Any) -> Call:
        return Call(JwtFileProvider(token_file(tmp_path, token), **kwargs).negotiate, TARGET)

    def saml(data: bytes, **kwargs: Any) -> Call:
        return Call(SamlFileProvider(assertion_file(tmp_path, data), **kwargs).negotiate, TARGET)

    saml_secrets: list[str | bytes] = [SAML_MARKER]
    paths: dict[str, tuple[Call, list[str | bytes]]] = {
        "secret-lone-surrogate": (Call(Secret, LONE_SURROGATE_PASSWORD), []),
        "secret-wrong-type": (Call(Secret, bytearray(PASSWORD.encode())), []),
        "password-lone-surrogate": (Call(PasswordProvider, "alice", LONE_SURROGATE_PASSWORD), []),
        "password-not-utf8": (Call(PasswordProvider, "alice", NOT_UTF8_PASSWORD), []),
        "request-passcode-not-utf8": (
            Call(
                IdentityRequest,
                IdentityType.USERNAME_PASSCODE,
                Secret("alice"),
                Secret(NOT_UTF8_PASSWORD),
            ),
            [],
        ),
        "request-jwt-with-a-passcode": (
            Call(IdentityRequest, IdentityType.JWT, Secret(good_jwt), Secret(PASSWORD)),
            jwt_secrets,
        ),
        "keyring-file-not-utf8": (keyring(_keyring_file(tmp_path / "bad.cfg", not_utf8)), []),
        "keyring-file-corrupt": (
            keyring(_keyring_file(tmp_path / "corrupt.cfg", f"[pacs\nalice = {PASSWORD}\n")),
            [],
        ),
        "keyring-backend-quotes-it": (keyring(_HostileKeyring(real, _raise_quoting)), []),
        "keyring-returns-bytes": (keyring(_HostileKeyring(real, str.encode)), []),
        "keyring-lone-surrogate": (keyring(_HostileKeyring(real, lambda p: p + "\udcff")), []),
        "jwt-garbled-claims": (jwt(garbled_claims), [signature]),
        "jwt-not-ascii": (jwt(good_jwt + "é"), jwt_secrets),
        "jwt-four-parts": (jwt(good_jwt + ".x"), jwt_secrets),
        "jwt-bad-characters": (jwt(good_jwt.replace(".", ".!", 1)), [signature]),
        "jwt-expired": (jwt(make_jwt(lifetime=-3600)), []),
        "jwt-not-yet-valid": (jwt(make_jwt(nbf=2_000_000_000_000)), []),
        "jwt-exp-not-a-number": (jwt(make_jwt(exp="tomorrow")), []),
        "jwt-wrong-audience": (jwt(good_jwt, audience="ANOTHER_PACS"), jwt_secrets),
        "jwt-in-a-chain": (
            Call(
                ProviderChain(
                    [JwtFileProvider(token_file(tmp_path, good_jwt), audience="X")]
                ).negotiate,
                TARGET,
            ),
            jwt_secrets,
        ),
        "saml-malformed": (saml(marked_assertion()[:-40]), saml_secrets),
        "saml-bad-date": (
            saml(marked_assertion().replace(b'NotBefore="', b'NotBefore="soon')),
            saml_secrets,
        ),
        "saml-date-overflow": (  # year 0 once converted to UTC
            saml(marked_assertion(not_before=0).replace(b"1970-01-01T00:00:00Z", OUT_OF_RANGE)),
            saml_secrets,
        ),
        "saml-expired": (saml(marked_assertion(not_on_or_after=1000.0)), saml_secrets),
        "saml-wrong-audience": (saml(marked_assertion(), audience="ANOTHER_PACS"), saml_secrets),
        "saml-doctype": (
            saml(b"<!DOCTYPE a []>" + marked_assertion().split(b"?>", 1)[1]),
            saml_secrets,
        ),
        "saml-not-utf8": (saml(marked_assertion() + b"\xff"), saml_secrets),
    }
    # The secrets each path handled, as given: the password canaries are searched everywhere.
    return {
        name: (make, [*secrets, LONE_SURROGATE_PASSWORD, NOT_UTF8_PASSWORD, PASSWORD])
        for name, (make, secrets) in paths.items()
    }


ERROR_PATHS = (
    "secret-lone-surrogate",
    "secret-wrong-type",
    "password-lone-surrogate",
    "password-not-utf8",
    "request-passcode-not-utf8",
    "request-jwt-with-a-passcode",
    "keyring-file-not-utf8",
    "keyring-file-corrupt",
    "keyring-backend-quotes-it",
    "keyring-returns-bytes",
    "keyring-lone-surrogate",
    "jwt-garbled-claims",
    "jwt-not-ascii",
    "jwt-four-parts",
    "jwt-bad-characters",
    "jwt-expired",
    "jwt-not-yet-valid",
    "jwt-exp-not-a-number",
    "jwt-wrong-audience",
    "jwt-in-a-chain",
    "saml-malformed",
    "saml-bad-date",
    "saml-date-overflow",
    "saml-expired",
    "saml-wrong-audience",
    "saml-doctype",
    "saml-not-utf8",
)


@pytest.mark.parametrize("name", ERROR_PATHS)
def test_no_secret_in_any_error(tmp_path: Path, name: str) -> None:
    make, secrets = error_paths(tmp_path)[name]
    error = raised(make)
    expected = TypeError if name == "secret-wrong-type" else IdentityError
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    shown = exposure(error)
    assert find_leaks(shown, secrets) == []
    # The chain holds nothing but SDK errors (no UnicodeError, parser or backend error).
    assert [type(e) for e in chain(error) if not isinstance(e, IdentityError | TypeError)] == []


def test_the_error_paths_reach_the_secret(tmp_path: Path) -> None:
    """Each path really handled its secret: the same file or value, read successfully, holds it."""
    assert sorted(error_paths(tmp_path)) == sorted(ERROR_PATHS)
    good = make_jwt()
    exchange = JwtFileProvider(token_file(tmp_path, good)).negotiate(TARGET)
    assert exchange.request.primary.reveal() == good.encode()
    exchange = SamlFileProvider(assertion_file(tmp_path, marked_assertion())).negotiate(TARGET)
    assert SAML_MARKER.encode() in exchange.request.primary.reveal()
    backend = _keyring_file(tmp_path / "keyring.cfg")
    backend.set_password("pacs", "alice", PASSWORD)
    exchange = KeyringPasswordProvider("pacs", "alice", backend=backend).negotiate(TARGET)
    assert exchange.request.secondary is not None
    assert exchange.request.secondary.reveal() == PASSWORD.encode()


def test_no_token_in_a_kerberos_failure(kerberos_realm: Any) -> None:
    """The peer's answer to a Kerberos identity that does not verify: our own token echoed, or
    our token with a byte changed, each raises MutualAuthenticationFailed holding neither."""
    for tamper in (False, True):
        exchange = KerberosProvider(hostname="localhost").negotiate(TARGET)
        token = exchange.request.primary.reveal()
        reply = token[:-1] + bytes([token[-1] ^ 1]) if tamper else token
        error = raised(Call(exchange.complete, reply))
        assert isinstance(error, MutualAuthenticationFailed)
        assert find_leaks(exposure(error), [token, token[16:80]]) == []


# --- reprs that never fail ---------------------------------------------------------------------

HALF_BUILT = [
    UsernameProvider,
    PasswordProvider,
    KeyringPasswordProvider,
    JwtFileProvider,
    SamlFileProvider,
    KerberosProvider,
    ProviderChain,
    SamlExchange,
    KerberosExchange,
]


@pytest.mark.parametrize("cls", HALF_BUILT, ids=lambda cls: cls.__name__)
def test_repr_of_a_half_built_object_does_not_raise(cls: type) -> None:
    """An ``__init__`` that raised leaves an object without its attributes; a reporter that
    shows locals calls ``repr`` on it (0.4.1 crashed ``capture_locals`` on PasswordProvider)."""
    assert repr(object.__new__(cls)) == f"<{cls.__name__} (incomplete)>"
