"""The embedded PACS verifying Kerberos (user identity type 3) against a real throwaway MIT KDC.

Requestors are raw pynetdicom clients; their tokens come from pyspnego (MIT GSS-API underneath).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spnego
import spnego.exceptions
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import UserIdentityNegotiation

from client_sdk import VERIFICATION
from client_sdk.testing import EmbeddedPacs, ResponseMode
from client_sdk.testing._identity_check import IdentityChecker
from client_sdk.testing._kerberos_acceptor import (
    KerberosAcceptor,
    KerberosRejected,
    ReplayCache,
    authenticator_digest,
)
from providers._kerberos_framing import AP_REP, AP_REQ, KRB_ERROR, frame, unframe
from tests.processes import background, listening
from tests.raw_pynetdicom import rejection

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
MODES: tuple[ResponseMode, ...] = ("standard", "silent", "echo", "pynetdicom")
FORMATS = ("gss", "ap-req")


# Helpers ------------------------------------------------------------------------------------


def client_context(
    *, credential: Any = None, hostname: str = "localhost", mutual: bool = True
) -> Any:
    req = spnego.ContextReq.default
    req = req | spnego.ContextReq.mutual_auth if mutual else req & ~spnego.ContextReq.mutual_auth
    return spnego.client(
        credential,
        hostname=hostname,
        service="dicom",
        protocol="kerberos",
        context_req=req,
    )


def new_token(fmt: str = "gss", **kwargs: Any) -> tuple[Any, bytes]:
    """A fresh client context and its first token, framed ("gss") or bare ("ap-req")."""
    ctx = client_context(**kwargs)
    token = ctx.step()
    assert token is not None
    assert token[0] == 0x60
    return ctx, (token if fmt == "gss" else unframe(token)[1])


def complete(ctx: Any, reply: bytes, fmt: str) -> None:
    """Finish the client side of mutual authentication with the server's reply."""
    ctx.step(reply if fmt == "gss" else frame(AP_REP, reply))


def identity(token: bytes, *, positive: bool = True) -> UserIdentityNegotiation:
    item = UserIdentityNegotiation()
    item.user_identity_type = 3
    item.primary_field = token
    item.positive_response_requested = positive
    return item


@contextlib.contextmanager
def associated(
    pacs: EmbeddedPacs | int, item: UserIdentityNegotiation | None = None
) -> Iterator[Association]:
    ae = AE(ae_title="KRB_SCU")
    ae.connection_timeout = ae.acse_timeout = 5
    ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(VERIFICATION)
    port, title = (pacs, "EMBEDDED_PACS") if isinstance(pacs, int) else (pacs.port, pacs.ae_title)
    assoc = ae.associate(HOST, port, ae_title=title, ext_neg=[item] if item else None)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def server_response(assoc: Association) -> bytes | None:
    item = assoc.acceptor.user_identity
    return None if item is None else bytes(item.server_response or b"")


def non_minimal(ap_req: bytes) -> bytes:
    """The same AP-REQ with its outer DER length in a longer (non-minimal) form."""
    assert ap_req[0] == 0x6E
    assert ap_req[1] == 0x82
    return b"\x6e\x83\x00" + ap_req[2:]


# Fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def realm(kerberos_realm: Any) -> Any:
    return kerberos_realm


@pytest.fixture(scope="module")
def running(realm: Any) -> Iterator[dict[ResponseMode, EmbeddedPacs]]:
    started = {
        mode: EmbeddedPacs(
            kerberos_keytab=realm.pacs_keytab,
            kerberos_service=realm.service_principal,
            response_mode=mode,
        ).start()
        for mode in MODES
    }
    yield started
    for pacs in started.values():
        pacs.stop()


@pytest.fixture
def pacs_in(running: dict[ResponseMode, EmbeddedPacs]) -> Any:
    def get(mode: ResponseMode) -> EmbeddedPacs:
        pacs = running[mode]
        pacs.wait_for_records(0)
        pacs.clear()
        return pacs

    return get


@pytest.fixture(scope="module")
def other_keytab(realm: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A keytab holding only dicom/otherhost (not the service the clients ask for)."""
    path = str(tmp_path_factory.mktemp("krb") / "otherhost.keytab")
    realm._k5.addprinc(f"dicom/otherhost@{realm.name}")
    realm._k5.extract_keytab(f"dicom/otherhost@{realm.name}", path)
    return path


# Accepted -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_standard_accepts_and_reply_completes_mutual_auth(
    pacs_in: Any, realm: Any, fmt: str
) -> None:
    pacs = pacs_in("standard")
    ctx, token = new_token(fmt)
    with associated(pacs, identity(token)) as assoc:
        assert assoc.is_established
        reply = server_response(assoc)
        assert reply is not None
        assert reply[0] == (0x60 if fmt == "gss" else 0x6F)  # framed or bare AP-REP, as sent
        if fmt == "gss":
            assert unframe(reply)[0] == AP_REP
        assert not ctx.complete
        complete(ctx, reply, fmt)
        assert ctx.complete
        assert assoc.send_c_echo().Status == 0x0000

    (record,) = pacs.wait_for_records(1)
    assert (record.identity_type, record.verified, record.principal) == (3, True, realm.user)
    assert (record.failure, record.rejected, record.ended) == (None, None, "released")
    assert (record.response_sent, record.response_length) == ("reply", len(reply))


def test_service_account_keytab(pacs_in: Any, realm: Any) -> None:
    pacs = pacs_in("standard")
    credential = spnego.KerberosKeytab(keytab=realm.account_keytab, principal=realm.account)
    ctx, token = new_token(credential=credential)
    with associated(pacs, identity(token)) as assoc:
        assert assoc.is_established
        reply = server_response(assoc)
        assert reply is not None
        complete(ctx, reply, "gss")
        assert ctx.complete
    (record,) = pacs.wait_for_records(1)
    assert (record.verified, record.principal) == (True, realm.account)


def test_without_mutual_auth_the_response_is_empty(pacs_in: Any, realm: Any) -> None:
    pacs = pacs_in("standard")
    _, token = new_token(mutual=False)
    with associated(pacs, identity(token)) as assoc:
        assert assoc.is_established
        assert server_response(assoc) == b""  # a 59H item, as PS3.7 asks, with nothing in it
    (record,) = pacs.wait_for_records(1)
    assert (record.principal, record.response_sent) == (realm.user, "empty")


def test_no_response_unless_requested(pacs_in: Any) -> None:
    pacs = pacs_in("standard")
    _, token = new_token()
    with associated(pacs, identity(token, positive=False)) as assoc:
        assert assoc.is_established
        assert assoc.acceptor.user_identity is None
    (record,) = pacs.wait_for_records(1)
    assert (record.verified, record.response_requested, record.response_sent) == (
        True,
        False,
        "none",
    )


# Response modes -----------------------------------------------------------------------------


def test_silent_sends_no_response(pacs_in: Any, realm: Any) -> None:
    pacs = pacs_in("silent")
    _, token = new_token()
    with associated(pacs, identity(token)) as assoc:
        assert assoc.is_established
        assert assoc.acceptor.user_identity is None
    (record,) = pacs.wait_for_records(1)
    assert (record.verified, record.principal, record.response_sent) == (True, realm.user, "none")


@pytest.mark.parametrize("fmt", FORMATS)
def test_echo_fails_mutual_auth(pacs_in: Any, fmt: str) -> None:
    pacs = pacs_in("echo")
    ctx, token = new_token(fmt)
    with associated(pacs, identity(token)) as assoc:
        assert assoc.is_established
        reply = server_response(assoc)
    assert reply == token
    with pytest.raises(spnego.exceptions.SpnegoError):
        complete(ctx, reply, fmt)
    assert not ctx.complete
    (record,) = pacs.wait_for_records(1)
    assert (record.verified, record.response_sent, record.response_length) == (
        True,
        "echo",
        len(token),
    )


def test_pynetdicom_mode_sends_the_ap_rep(pacs_in: Any) -> None:
    pacs = pacs_in("pynetdicom")
    ctx, token = new_token()
    with associated(pacs, identity(token)) as assoc:
        assert assoc.is_established
        reply = server_response(assoc)
    assert reply is not None
    complete(ctx, reply, "gss")
    assert ctx.complete
    assert pacs.wait_for_records(1)[0].response_sent == "reply"


# Rejected -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "replayed",
    [
        pytest.param(lambda token: token, id="same bytes"),
        pytest.param(lambda token: unframe(token)[1], id="bare form of the framed token"),
        pytest.param(lambda token: frame(AP_REQ, non_minimal(unframe(token)[1])), id="re-encoded"),
    ],
)
def test_replayed_token_is_rejected(pacs_in: Any, replayed: Any) -> None:
    pacs = pacs_in("standard")
    _, token = new_token()
    with associated(pacs, identity(token)) as assoc:
        assert assoc.is_established
    with associated(pacs, identity(replayed(token))) as assoc:
        assert rejection(assoc) == (1, 2, 1)
    first, second = pacs.wait_for_records(2)
    assert first.verified is True
    assert (second.verified, second.failure, second.principal) == (
        False,
        "Kerberos token replayed",
        None,
    )
    assert (second.rejected, second.response_sent) == ((1, 2, 1), "none")


@pytest.mark.parametrize("mutual", [True, False], ids=["mutual", "one-way"])
def test_mit_replay_error_is_not_swallowed(realm: Any, mutual: bool) -> None:
    """MIT rejects the replay too ("Request is a replay"), but for a mutual-auth token stock
    python-gssapi's step() returns the KRB-ERROR instead of raising; the acceptor must not."""
    import gssapi

    _, token = new_token(mutual=mutual)
    acceptor = KerberosAcceptor(realm.pacs_keytab, realm.service_principal)
    assert acceptor.accept(token)[0] == realm.user
    acceptor.replay_cache = ReplayCache()  # forget it: only MIT's own replay cache is left
    with pytest.raises(KerberosRejected, match=r"^Kerberos token rejected: Request is a replay$"):
        acceptor.accept(token)

    creds = gssapi.Credentials(usage="accept", store={"keytab": realm.pacs_keytab})
    stock = gssapi.SecurityContext(creds=creds, usage="accept")
    if mutual:
        error_token = stock.step(token)  # no exception ...
        assert unframe(error_token)[0] == KRB_ERROR  # ... and a KRB-ERROR where an AP-REP goes
        with pytest.raises(gssapi.exceptions.GSSError, match="Request is a replay"):
            _ = stock.complete
    else:
        with pytest.raises(gssapi.exceptions.GSSError, match="Request is a replay"):
            stock.step(token)


GARBAGE = {
    "not Kerberos at all": (b"\x01\x02garbage", "not a Kerberos token"),
    "GSS token of another mechanism": (
        b"\x60\x0d\x06\x06\x2b\x06\x01\x05\x05\x02\xa0\x03\x0a\x01\x00",
        "not a Kerberos token",
    ),
    "truncated AP-REQ": (b"\x6e\x82\x01\x00\x30", "Kerberos token malformed"),
}


@pytest.mark.parametrize("case", list(GARBAGE))
@pytest.mark.parametrize("mode", ["standard", "pynetdicom"])
def test_garbage_token_is_rejected(pacs_in: Any, mode: ResponseMode, case: str) -> None:
    pacs = pacs_in(mode)
    token, failure = GARBAGE[case]
    expected = (2, 2, 1) if mode == "pynetdicom" else (1, 2, 1)
    with associated(pacs, identity(token)) as assoc:
        assert rejection(assoc) == expected
    (record,) = pacs.wait_for_records(1)
    assert (record.verified, record.failure, record.rejected) == (False, failure, expected)


def test_forged_ap_req_is_rejected_by_gssapi(pacs_in: Any) -> None:
    pacs = pacs_in("standard")
    _, token = new_token("ap-req")
    forged = bytearray(token)
    forged[-5] ^= 0xFF  # inside the authenticator ciphertext
    with associated(pacs, identity(bytes(forged))) as assoc:
        assert rejection(assoc) == (1, 2, 1)
    failure = pacs.wait_for_records(1)[0].failure
    assert failure is not None
    assert failure.startswith("Kerberos token rejected: ")


def test_token_for_another_service_is_rejected(realm: Any, other_keytab: str, pacs_in: Any) -> None:
    # A PACS whose keytab does not hold dicom/localhost, the service the client asked for.
    with EmbeddedPacs(kerberos_keytab=other_keytab) as pacs:
        _, token = new_token()
        with associated(pacs, identity(token)) as assoc:
            assert rejection(assoc) == (1, 2, 1)
        (record,) = pacs.wait_for_records(1)
    assert record.failure is not None
    assert record.failure.startswith("Kerberos token rejected: ")
    assert f"dicom/localhost@{realm.name}" in record.failure

    # A ticket for dicom/otherhost presented to the PACS that is dicom/localhost.
    pacs = pacs_in("standard")
    _, token = new_token(hostname="otherhost")
    with associated(pacs, identity(token)) as assoc:
        assert rejection(assoc) == (1, 2, 1)
    failure = pacs.wait_for_records(1)[0].failure
    assert failure is not None
    assert failure.startswith("Kerberos token rejected: ")


def test_kerberos_service_limits_the_keytab(realm: Any, other_keytab: str, tmp_path: Path) -> None:
    both = str(tmp_path / "both.keytab")
    Path(both).write_bytes(Path(realm.pacs_keytab).read_bytes())
    realm._k5.extract_keytab(f"dicom/otherhost@{realm.name}", both)
    _, token = new_token()
    with pytest.raises(KerberosRejected, match=r"^Kerberos token rejected: "):
        KerberosAcceptor(both, f"dicom/otherhost@{realm.name}").accept(token)
    _, token = new_token()
    assert KerberosAcceptor(both).accept(token)[0] == realm.user


# Configuration ------------------------------------------------------------------------------


def test_configuration_errors(realm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="kerberos_service needs kerberos_keytab"):
        EmbeddedPacs(kerberos_service=realm.service_principal)
    with pytest.raises(ValueError, match="nonexistent or empty"):
        EmbeddedPacs(kerberos_keytab=tmp_path / "missing.keytab")
    with pytest.raises(ValueError, match="No key table entry"):
        EmbeddedPacs(kerberos_keytab=realm.pacs_keytab, kerberos_service=f"nobody@{realm.name}")
    monkeypatch.setitem(sys.modules, "gssapi", None)  # as if python-gssapi were not installed
    with pytest.raises(ImportError, match=r"pip install 'dicom-identity\[kerberos\]'"):
        EmbeddedPacs(kerberos_keytab=realm.pacs_keytab)
    EmbeddedPacs()  # no keytab: no gssapi needed; type 3 stays rejected


# Replay cache and token parsing (no network) ------------------------------------------------


def test_replay_cache_expires_and_is_bounded() -> None:
    now = [1000.0]
    cache = ReplayCache(window=600, max_entries=3, clock=lambda: now[0])
    assert cache.claim(b"a")
    assert not cache.claim(b"a")
    now[0] += 601
    assert cache.claim(b"a")  # expired, then presented again: a fresh entry
    cache.verified(b"a")
    for key in (b"b", b"c", b"d"):
        assert cache.claim(key)
    assert len(cache) == 3
    assert not cache.claim(b"a")  # the verified entry survived; the oldest unverified went
    assert cache.claim(b"b")


def test_authenticator_digest_ignores_the_der_wrapping() -> None:
    _, token = new_token("ap-req")
    digest = authenticator_digest(token)
    assert authenticator_digest(non_minimal(token)) == digest
    assert authenticator_digest(token + b"\x00") == digest
    _, other = new_token("ap-req")
    assert authenticator_digest(other) != digest
    for bad in (b"", b"\x6e\x00", b"\x6e\x80\x30\x00", token[:50]):
        with pytest.raises(ValueError, match=r"."):
            authenticator_digest(bad)


# No secrets ---------------------------------------------------------------------------------


def _forms(secret: bytes) -> list[str]:
    return [
        secret.hex(),
        secret.hex(" "),
        base64.b64encode(secret).decode()[:40],
        repr(secret)[2:40],
    ]


def test_no_token_or_reply_in_records_logs_or_errors(
    pacs_in: Any, realm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pacs = pacs_in("standard")
    _, token = new_token()
    with associated(pacs, identity(token)) as assoc:
        reply = server_response(assoc)
    assert reply
    with associated(pacs, identity(token)):  # replayed
        pass
    _, bare = new_token("ap-req")
    forged = bare[:-5] + bytes([bare[-5] ^ 0xFF]) + bare[-4:]
    with associated(pacs, identity(forged)):
        pass
    records = pacs.wait_for_records(3)
    assert [r.verified for r in records] == [True, False, False]

    checker = IdentityChecker(kerberos_keytab=realm.pacs_keytab)
    _, direct = new_token()
    verdict = checker.verify(3, direct, b"")
    assert verdict.verified
    assert verdict.response
    # pyspnego (the test's client) logs whole tokens at DEBUG on "spnego.*": not the PACS's doing.
    logs = "\n".join(
        caplog.handler.format(r) for r in caplog.records if not r.name.startswith("spnego")
    )
    text = repr(records) + repr(pacs) + str(records) + logs + repr(verdict) + repr(checker)
    for secret in (token, reply, bare, forged, direct, verdict.response):
        for form in _forms(secret):
            assert form not in text


# Command line -------------------------------------------------------------------------------


def test_command_line_kerberos(realm: Any) -> None:
    env = {**os.environ, **realm.env, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "client_sdk.testing",
        "--port",
        "0",
        "--kerberos-keytab",
        realm.pacs_keytab,
        "--kerberos-service",
        realm.service_principal,
    ]
    with background(command[1:], env=env) as pacs:
        port = int(listening(pacs, 20)["port"])

        ctx, token = new_token()
        with associated(port, identity(token)) as assoc:
            assert assoc.is_established
            reply = server_response(assoc)
            assert reply is not None
            complete(ctx, reply, "gss")
            assert ctx.complete
        line = pacs.line(10)
        assert "type 3" in line
        assert repr(realm.user) in line
        assert "response reply" in line
        assert "ended released" in line

        with associated(port, identity(token)) as assoc:
            assert rejection(assoc) == (1, 2, 1)
        line = pacs.line(10)
        assert "Kerberos token replayed" in line

        code, stderr = pacs.stop()
        assert code == 0
        assert token.hex() not in stderr


def test_command_line_kerberos_errors(realm: Any, tmp_path: Path) -> None:
    from client_sdk.testing.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--kerberos-service", realm.service_principal])
    assert exited.value.code == 2
    assert main(["--kerberos-keytab", str(tmp_path / "missing.keytab")]) == 3
