"""Kerberos (type 3) against a real MIT KDC (k5test) and the embedded PACS as a GSS acceptor."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE

from client_sdk import (
    AuthenticationRejected,
    Client,
    Decision,
    MissingResponse,
    Peer,
    Policy,
    ServerResponseMissing,
)
from client_sdk.testing import EmbeddedPacs
from providers import (
    CredentialError,
    CredentialExpired,
    CredentialUnavailable,
    IdentityType,
    KerberosProvider,
    MutualAuthenticationFailed,
    ResponseStatus,
    Target,
)
from tests.timeouts import OPERATIONS
from tests.wire import Relay, flip_last_response_byte

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kdc(kerberos_realm: Any) -> Any:
    return kerberos_realm


@pytest.fixture
def pacs_factory(kdc: Any) -> Iterator[Any]:
    started: list[EmbeddedPacs] = []

    def make(mode: str = "standard") -> EmbeddedPacs:
        pacs = EmbeddedPacs(kerberos_keytab=kdc.pacs_keytab, response_mode=mode).start()
        started.append(pacs)
        return pacs

    yield make
    for pacs in started:
        pacs.stop()


def client(pacs: EmbeddedPacs, provider: KerberosProvider, **kwargs: Any) -> Client:
    return Client(
        Peer(pacs.host, pacs.port, pacs.ae_title), identity=provider, timeouts=OPERATIONS, **kwargs
    )


TARGET = Target("127.0.0.1", 104, "PACS", "SCU")


@pytest.mark.parametrize("token_format", ["gssapi", "ap-req"])
def test_mutual_authentication_verified(kdc: Any, pacs_factory: Any, token_format: Any) -> None:
    pacs = pacs_factory()
    provider = KerberosProvider(hostname="localhost", token_format=token_format)
    with client(pacs, provider).associate() as session:
        outcome = session.outcome
        assert session.echo() == 0
    assert outcome.identity_type is IdentityType.KERBEROS
    assert outcome.status is ResponseStatus.VERIFIED
    assert outcome.decision is Decision.CONFIRMED
    assert outcome.principal == kdc.user
    assert "verified" in outcome.summary()
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.principal == kdc.user and record.verified and record.ended == "released"


def test_token_shapes(kdc: Any) -> None:
    gss = KerberosProvider(hostname="localhost").negotiate(TARGET).request.primary.reveal()
    bare = KerberosProvider(hostname="localhost", token_format="ap-req").negotiate(TARGET)
    from providers._kerberos_framing import AP_REQ, unframe

    assert gss[0] == 0x60 and bytes.fromhex("06092a864886f712010202") in gss[:16]
    assert unframe(gss)[0] == AP_REQ
    assert bare.request.primary.reveal()[0] == 0x6E  # DER APPLICATION 14: KRB_AP_REQ


def test_every_association_gets_a_fresh_token(kdc: Any) -> None:
    provider = KerberosProvider(hostname="localhost")
    first = provider.negotiate(TARGET).request.primary.reveal()
    second = provider.negotiate(TARGET).request.primary.reveal()
    assert first != second


def test_client_keytab_without_any_ticket_cache(
    kdc: Any, pacs_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/no-such-cache")
    provider = KerberosProvider(
        hostname="localhost", keytab=kdc.account_keytab, principal=kdc.account
    )
    pacs = pacs_factory()
    with client(pacs, provider).associate() as session:
        assert session.outcome.status is ResponseStatus.VERIFIED
        assert session.outcome.principal == kdc.account
    assert pacs.wait_for_records(1, timeout=10)[0].principal == kdc.account
    assert not (tmp_path / "no-such-cache").exists()


def test_keytab_without_the_principal(kdc: Any) -> None:
    provider = KerberosProvider(
        hostname="localhost", keytab=kdc.account_keytab, principal=f"nobody@{kdc.name}"
    )
    with pytest.raises(CredentialError, match="klist -k") as info:
        provider.negotiate(TARGET)
    assert kdc.account_keytab in str(info.value)


def test_no_ticket_cache(
    kdc: Any, pacs_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path}/absent")
    pacs = pacs_factory()
    with pytest.raises(CredentialUnavailable, match="kinit") as info:
        client(pacs, KerberosProvider(hostname="localhost")).echo()
    assert "keytab" in str(info.value)
    assert pacs.records == []


def test_explicit_ccache(kdc: Any, tmp_path: Path) -> None:
    cache = kdc.kinit(ccache=f"FILE:{tmp_path}/cc")
    request = KerberosProvider(hostname="localhost", ccache=cache).negotiate(TARGET).request
    assert request.principal == kdc.user and str(tmp_path) in request.source


def test_expired_ticket(kdc: Any, pacs_factory: Any, tmp_path: Path) -> None:
    import gssapi

    cache = kdc.kinit(lifetime="1s", ccache=f"FILE:{tmp_path}/short")

    def expired() -> bool:
        try:
            return gssapi.Credentials(usage="initiate", store={"ccache": cache}).lifetime == 0
        except gssapi.exceptions.ExpiredCredentialsError:
            return True

    deadline = time.monotonic() + 10
    tick = threading.Event()
    while not expired():  # poll with a bound: the ticket lives one second
        assert time.monotonic() < deadline, "the 1 s ticket never expired"
        tick.wait(0.05)
    pacs = pacs_factory()
    with pytest.raises(CredentialExpired, match="kinit"):
        client(pacs, KerberosProvider(hostname="localhost", ccache=cache)).echo()
    assert pacs.records == []


def test_unknown_service_principal(kdc: Any) -> None:
    provider = KerberosProvider(hostname="nosuchhost")
    with pytest.raises(CredentialError) as info:
        provider.negotiate(Target("127.0.0.1", 104, "PACS", "SCU"))
    assert f"dicom/nosuchhost@{kdc.name}" in str(info.value)
    assert "hostname=" in str(info.value)


def test_kdc_stopped(kdc: Any, tmp_path: Path) -> None:
    cache = kdc.kinit(ccache=f"FILE:{tmp_path}/fresh")  # a TGT, but no service ticket yet
    kdc.stop_kdc()
    try:
        started = time.monotonic()
        with pytest.raises(CredentialError, match="cannot reach a KDC"):
            KerberosProvider(hostname="localhost", ccache=cache).negotiate(TARGET)
        assert time.monotonic() - started < 15
    finally:
        kdc.start_kdc()


@pytest.mark.skipif(
    shutil.which("faketime") is None and os.environ.get("CI") != "true",
    reason="faketime missing: apt-get install faketime",
)
def test_clock_skew(kdc: Any, tmp_path: Path) -> None:
    cache = kdc.kinit(ccache=f"FILE:{tmp_path}/skew")
    code = (
        "from providers import KerberosProvider, Target\n"
        f"KerberosProvider(hostname='localhost', ccache={cache!r}).negotiate("
        "Target('127.0.0.1', 104, 'A', 'B'))\n"
    )
    result = subprocess.run(
        ["faketime", "-f", "+2h", sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "CredentialError: clock skew too great" in result.stderr
    assert "Synchronise the clock" in result.stderr


def test_tampered_server_response_aborts(kdc: Any, pacs_factory: Any) -> None:
    pacs = pacs_factory()
    with Relay(pacs.host, pacs.port, rewrite_ac=flip_last_response_byte) as relay:
        tampered = Client(
            Peer("127.0.0.1", relay.port, pacs.ae_title),
            identity=KerberosProvider(hostname="localhost"),
            timeouts=OPERATIONS,
            policy=Policy(missing_response=MissingResponse.PROCEED),
        )
        with pytest.raises(MutualAuthenticationFailed, match="does not verify"):
            tampered.echo()
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.verified is True  # the PACS accepted the ticket ...
    assert record.ended == "aborted"  # ... and the client aborted on the bad AP-REP


def test_echoed_token_fails_mutual_authentication(kdc: Any, pacs_factory: Any) -> None:
    pacs = pacs_factory("echo")
    with pytest.raises(MutualAuthenticationFailed, match="our own Kerberos token"):
        client(
            pacs,
            KerberosProvider(hostname="localhost"),
            policy=Policy(missing_response=MissingResponse.PROCEED),
        ).echo()
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.ended == "aborted"


def test_replayed_token_is_rejected(kdc: Any, pacs_factory: Any) -> None:
    pacs = pacs_factory()
    primitive = KerberosProvider(hostname="localhost").negotiate(TARGET).to_primitive()
    ae = AE(ae_title="REPLAYER")
    ae.add_requested_context("1.2.840.10008.1.1")
    ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    first = ae.associate(pacs.host, pacs.port, ae_title=pacs.ae_title, ext_neg=[primitive])
    assert first.is_established
    first.release()
    again = ae.associate(pacs.host, pacs.port, ae_title=pacs.ae_title, ext_neg=[primitive])
    assert again.is_rejected
    records = pacs.wait_for_records(2, ended=True, timeout=10)
    assert records[1].rejected == (1, 2, 1) and "replay" in (records[1].failure or "")


@pytest.mark.parametrize("rule", [MissingResponse.PROCEED, MissingResponse.WARN])
def test_required_mutual_auth_against_a_silent_peer(
    kdc: Any, pacs_factory: Any, rule: MissingResponse
) -> None:
    pacs = pacs_factory("silent")
    with pytest.raises(ServerResponseMissing, match="mutual_auth='required'"):
        client(
            pacs, KerberosProvider(hostname="localhost"), policy=Policy(missing_response=rule)
        ).echo()
    (record,) = pacs.wait_for_records(1, ended=True, timeout=10)
    assert record.ended == "aborted"


def test_optional_mutual_auth_leaves_a_silent_peer_to_the_policy(
    kdc: Any, pacs_factory: Any
) -> None:
    pacs = pacs_factory("silent")
    provider = KerberosProvider(hostname="localhost", mutual_auth="optional")
    with client(
        pacs, provider, policy=Policy(missing_response=MissingResponse.WARN)
    ).associate() as s:
        assert s.outcome.decision is Decision.WARN
    with pytest.raises(ServerResponseMissing):
        client(pacs, provider).echo()  # the default policy: abort


def test_optional_mutual_auth_still_verifies(kdc: Any, pacs_factory: Any) -> None:
    pacs = pacs_factory()
    provider = KerberosProvider(hostname="localhost", mutual_auth="optional")
    with client(pacs, provider).associate() as session:
        assert session.outcome.status is ResponseStatus.VERIFIED


def test_disabled_mutual_auth_records_without_verifying(kdc: Any, pacs_factory: Any) -> None:
    pacs = pacs_factory()
    provider = KerberosProvider(hostname="localhost", mutual_auth="disabled")
    with client(pacs, provider).associate() as session:
        assert session.outcome.status is ResponseStatus.EMPTY  # no AP-REP without mutual auth
        assert session.outcome.decision is Decision.CONFIRMED


def test_stock_pynetdicom_acceptor_answers_kerberos(kdc: Any, pacs_factory: Any) -> None:
    pacs = pacs_factory("pynetdicom")
    with client(pacs, KerberosProvider(hostname="localhost")).associate() as session:
        assert session.outcome.status is ResponseStatus.VERIFIED


def test_wrong_service_key_at_the_pacs_is_rejected(kdc: Any, tmp_path: Path) -> None:
    other = str(tmp_path / "other.keytab")
    kdc._k5.addprinc("dicom/otherhost")
    kdc._k5.extract_keytab("dicom/otherhost", other)
    with EmbeddedPacs(kerberos_keytab=other) as pacs, pytest.raises(AuthenticationRejected):
        client(pacs, KerberosProvider(hostname="localhost")).echo()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive_response=True"):
        KerberosProvider(positive_response=False)
    with pytest.raises(ValueError, match="mutual_auth"):
        KerberosProvider(mutual_auth="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token_format"):
        KerberosProvider(token_format="base64")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        KerberosProvider(keytab="/k", ccache="FILE:/c")


def test_missing_gssapi_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['gssapi'] = None\n"
        "from providers import KerberosProvider, KerberosUnavailable\n"
        "try:\n"
        "    KerberosProvider()\n"
        "except ImportError as exc:\n"
        "    assert isinstance(exc, KerberosUnavailable)\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "dicom-identity[kerberos]" in result.stdout
