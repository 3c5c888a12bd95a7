"""No secret in any log line, repr, str, exception or traceback, pynetdicom's DEBUG dumps included.

Every provider runs against the embedded PACS (accepted, rejected, missing response, echoed) with
``pynetdicom.debug_logger()`` on; everything captured is searched for each secret in its raw,
hex and base64 forms.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pynetdicom
import pytest
from pynetdicom.utils import pretty_bytes

from client_sdk import Client, MissingResponse, Peer, Policy, Timeouts
from client_sdk.sop import VERIFICATION
from client_sdk.testing import EmbeddedPacs
from providers import (
    JwtFileProvider,
    KeyringPasswordProvider,
    PasswordProvider,
    ProviderChain,
    UsernameProvider,
)
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, write_token

PASSWORD = "Tr0ub4dor&3-leak-canary"
WRONG_PASSWORD = "wr0ng-leak-canary-pw"
FAST = Timeouts(connect=2, acse=3, dimse=5, network=5)


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        raw.hex(),
        raw.hex(" "),
        raw.hex().upper(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


@pytest.fixture
def pynetdicom_debug() -> Iterator[None]:
    logger = logging.getLogger("pynetdicom")
    before = (logger.level, list(logger.handlers))
    pynetdicom.debug_logger()
    yield
    logger.setLevel(before[0])
    logger.handlers = before[1]


@pytest.fixture(params=["standard", "silent", "echo", "pynetdicom"])
def pacs(request: pytest.FixtureRequest) -> Iterator[EmbeddedPacs]:
    users = {"alice": PASSWORD}
    with EmbeddedPacs(
        users=users, jwt_key=JWT_KEY, jwt_audience=AUDIENCE, response_mode=request.param
    ) as server:
        yield server


def scenarios(tmp_path: Path, file_keyring: Any) -> list[tuple[str, Any, list[str]]]:
    good_jwt = make_jwt(sub="alice@example.org")
    bad_jwt = make_jwt(key="not-the-key-the-pacs-trusts-0123456789", sub="mallory")
    file_keyring.set_password("pacs", "alice", PASSWORD)
    file_keyring.set_password("pacs-wrong", "alice", WRONG_PASSWORD)
    return [
        ("username", UsernameProvider("alice", positive_response=True), []),
        ("password", PasswordProvider("alice", PASSWORD, positive_response=True), [PASSWORD]),
        (
            "wrong password",
            PasswordProvider("alice", WRONG_PASSWORD, positive_response=True),
            [WRONG_PASSWORD],
        ),
        (
            "keyring",
            KeyringPasswordProvider("pacs", "alice", positive_response=True, backend=file_keyring),
            [PASSWORD],
        ),
        (
            "keyring wrong",
            KeyringPasswordProvider(
                "pacs-wrong", "alice", positive_response=True, backend=file_keyring
            ),
            [WRONG_PASSWORD],
        ),
        (
            "jwt",
            JwtFileProvider(write_token(tmp_path / "good.jwt", good_jwt), positive_response=True),
            [good_jwt],
        ),
        (
            "jwt rejected",
            JwtFileProvider(write_token(tmp_path / "bad.jwt", bad_jwt), positive_response=True),
            [bad_jwt],
        ),
        (
            "chain",
            ProviderChain(
                [
                    JwtFileProvider(tmp_path / "absent.jwt"),
                    PasswordProvider("alice", PASSWORD, positive_response=True),
                ]
            ),
            [PASSWORD],
        ),
    ]


@pytest.mark.parametrize("rule", [MissingResponse.ABORT, MissingResponse.WARN])
def test_no_secret_anywhere(
    # Order matters: set up capture, then the DEBUG handler, then the PACS, so that teardown
    # stops the PACS threads before their log stream goes away.
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    pynetdicom_debug: None,
    pacs: EmbeddedPacs,
    rule: MissingResponse,
    tmp_path: Path,
    file_keyring: Any,
) -> None:
    seen: list[str] = []
    outcomes: list[str] = []
    for name, provider, secrets in scenarios(tmp_path, file_keyring):
        client = Client(
            Peer(pacs.host, pacs.port, pacs.ae_title),
            identity=provider,
            policy=Policy(missing_response=rule),
            timeouts=FAST,
        )
        seen += [repr(client), repr(provider)]
        with caplog.at_level(logging.DEBUG):
            try:
                with client.associate(sop_classes=[VERIFICATION]) as session:
                    seen += [repr(session), repr(session.identity), str(session.identity)]
                    session.echo()
                outcomes.append(f"{name}: accepted")
            except Exception as exc:  # every error path is part of what is searched
                outcomes.append(f"{name}: {type(exc).__name__}")
                seen.append("".join(traceback.format_exception(exc)))
                seen += [repr(exc), str(exc)]
        captured = capfd.readouterr()
        seen += [captured.out, captured.err, caplog.text]
        for record in pacs.records:
            seen.append(repr(record))
        text = "\n".join(seen)
        for secret in secrets:
            for form in forms(secret):
                assert form not in text, f"{name}: a secret leaked in the form {form[:12]}..."
    # The run really went through the paths it claims to cover.
    assert any("Password: [redacted]" in chunk for chunk in seen), "the DEBUG dump did not run"
    assert any(o.endswith("AuthenticationRejected") for o in outcomes)
    if pacs.response_mode == "silent" and rule is MissingResponse.ABORT:
        assert any(o.endswith("ServerResponseMissing") for o in outcomes)
    else:
        assert any(o.endswith("accepted") for o in outcomes)


def test_redaction_scrubs_registered_secrets_from_any_pynetdicom_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from client_sdk.redaction import install_pynetdicom_redaction, redacting

    install_pynetdicom_redaction()
    secret = b"s3cr3t-token-value"
    log: Callable[..., None] = logging.getLogger("pynetdicom.dul").debug
    with caplog.at_level(logging.DEBUG, logger="pynetdicom"), redacting([secret]):
        log("raw %s", secret.decode())
        log("hex %s", secret.hex(" "))
        log("b64 %s", base64.b64encode(secret).decode())
        log("bytes %r", secret)
        # pynetdicom's debug_data hex dump splits a PDU into lines of 25 bytes.
        dump = pretty_bytes(
            b"\x01\x00" + secret + b"\x00",
            prefix=" ",
            delimiter=" ",
            max_size=None,
            items_per_line=7,
        )
        for line in dump:
            log(line)
        try:
            raise ValueError(f"bad {secret.decode()}")
        except ValueError:
            logging.getLogger("pynetdicom.acse").exception("failed")
    assert caplog.text.count("[redacted]") >= 5
    assert caplog.text.count("hex dump line redacted") == len(dump) == 3
    for form in forms(secret.decode()):
        assert form not in caplog.text
    # Outside the block, nothing is registered any more.
    with caplog.at_level(logging.DEBUG, logger="pynetdicom"):
        log("after %s", "harmless")
    assert "after harmless" in caplog.text


class RecordingKerberos:
    """A KerberosProvider whose tokens the test keeps, to search the output for them."""

    def __init__(self, **kwargs: Any) -> None:
        from providers import KerberosProvider

        self.inner = KerberosProvider(hostname="localhost", **kwargs)
        self.identity_type = self.inner.identity_type
        self.tokens: list[bytes] = []

    def negotiate(self, target: Any) -> Any:
        exchange = self.inner.negotiate(target)
        self.tokens.append(exchange.request.primary.reveal())
        return exchange


def token_forms(token: bytes) -> list[str]:
    # The whole token and a slice from its middle (an encrypted part): a partial dump leaks too.
    middle = token[len(token) // 2 : len(token) // 2 + 24]
    return [
        form
        for piece in (token, middle)
        for form in (
            piece.hex(),
            piece.hex(" "),
            base64.b64encode(piece).decode().rstrip("="),
            base64.b64encode(piece[1:]).decode()[4:40],  # another base64 alignment
        )
    ]


@pytest.mark.parametrize("mode", ["standard", "silent", "echo", "pynetdicom"])
def test_no_kerberos_token_anywhere(
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    pynetdicom_debug: None,
    kerberos_realm: Any,
    mode: str,
) -> None:
    spnego_logger = logging.getLogger("spnego")
    spnego_logger.setLevel(logging.DEBUG)
    seen: list[str] = []
    outcomes: list[str] = []
    with EmbeddedPacs(kerberos_keytab=kerberos_realm.pacs_keytab, response_mode=mode) as pacs:
        for token_format in ("gssapi", "ap-req"):
            for rule in (MissingResponse.ABORT, MissingResponse.WARN):
                provider = RecordingKerberos(token_format=token_format, mutual_auth="optional")
                client = Client(
                    Peer(pacs.host, pacs.port, pacs.ae_title),
                    identity=provider,
                    policy=Policy(missing_response=rule),
                    timeouts=FAST,
                )
                with caplog.at_level(logging.DEBUG):
                    try:
                        with client.associate(sop_classes=[VERIFICATION]) as session:
                            seen += [repr(session), str(session.identity)]
                            session.echo()
                        outcomes.append("accepted")
                    except Exception as exc:
                        outcomes.append(type(exc).__name__)
                        seen += ["".join(traceback.format_exception(exc)), repr(exc)]
                seen += [repr(provider.inner), *(repr(r) for r in pacs.records)]
                captured = capfd.readouterr()
                text = "\n".join([*seen, captured.out, captured.err, caplog.text])
                for token in provider.tokens:
                    for form in token_forms(token):
                        assert form not in text, f"a Kerberos token leaked ({mode}, {rule})"
    spnego_logger.setLevel(logging.NOTSET)
    assert "step output: [redacted]" in caplog.text, "pyspnego's DEBUG lines did not run"
    expected = {
        "standard": "accepted",
        "pynetdicom": "accepted",
        "echo": "MutualAuthenticationFailed",
    }
    if mode in expected:
        assert expected[mode] in outcomes
    else:
        assert {"ServerResponseMissing", "accepted"} <= set(outcomes)
