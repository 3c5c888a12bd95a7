"""The secret matrix, continued: SAML assertions, and what DICOM peers say (issue 14, Tests).

Run as ``tests/test_secret_matrix.py`` runs its cases (every debug output on, both ends; the
search of :func:`tests.test_secret_leaks.find_leaks` in every encoding, with a control), on:

* a SAML assertion (type 4) against the embedded PACS: accepted over TLS, refused by the PACS
  (another audience), echoed back (aborted), and expired (refused before anything is sent). The
  secrets: the whole assertion, and a marker inside it (a part of it alone is enough to look for);
* a real pynetdicom peer (:class:`tests.text_peer.TextPeer`) whose text holds a secret we sent: a
  C-ECHO Error Comment of our passcode and a forged line, a C-STORE Error Comment of our JWT
  inside base64, C-FIND matches whose values are our passcode (hex, raw) followed by a failure
  status that quotes it, a successful C-FIND whose matches hold it (the matches are the caller's
  data and are not searched; the logs, messages and reprs are), and an identity answer that is
  our passcode (an echo: aborted).

Each error met is kept for the last test of ``tests/test_secret_matrix_web.py``, which formats it
with its frames' locals.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from pydicom import Dataset

from client_sdk import STUDY_ROOT_FIND, VERIFICATION, Client, Peer, Session, TlsConfig
from client_sdk.testing import EmbeddedPacs, ResponseMode, ct_dataset
from providers import IdentityProvider, JwtFileProvider, PasswordProvider, SamlFileProvider
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, write_token
from tests.fixtures_pacs import pacs_on_first_use
from tests.installed_cli import cli_command
from tests.leak_search import find_leaks
from tests.saml_assertions import ISSUER, write_file
from tests.secret_exposure import SAML_MARKER, marked_assertion
from tests.secret_matrix_support import ErrorKeeper, Gathered, assert_search_finds, echo, walk
from tests.text_peer import AE_TITLE, FORGED, PASSCODE, USER, TextPeer, failure
from tests.timeouts import LOCAL
from tests.tls_certs import CertificateFiles

pytest_plugins = ["tests.secret_matrix_fixtures"]  # hex_dumps, debug_everything, keep_errors

TOKEN = make_jwt(sub="peer-matrix@example.org", lifetime=6 * 3600)  # outlives the run


@dataclass
class Peers:
    """What a case works with."""

    seen: Gathered
    keeper: ErrorKeeper
    tmp_path: Path
    pacs: Callable[[str, bool], EmbeddedPacs]
    certs: CertificateFiles

    def client(self, port: int, ae_title: str, identity: IdentityProvider, tls: bool) -> Client:
        peer_tls = TlsConfig(ca_file=self.certs.ca_file, server_hostname="localhost")
        client = Client(
            Peer("127.0.0.1", port, ae_title, tls=peer_tls if tls else None),
            identity=identity,
            timeouts=LOCAL,
        )
        self.seen += [repr(client), repr(identity)]
        return client


# --- SAML against the embedded PACS ---------------------------------------------------------------


def saml(mode: str, tls: bool, **assertion: Any) -> Callable[[Peers, ErrorKeeper], str]:
    def run(peers: Peers, keeper: ErrorKeeper) -> str:
        data = marked_assertion(**assertion)
        keeper.secrets += [data, SAML_MARKER]
        path = write_file(peers.tmp_path / "assertion.xml", data)
        pacs = peers.pacs(mode, tls)
        pacs.clear()
        provider = SamlFileProvider(path, positive_response=True)
        client = peers.client(pacs.port, pacs.ae_title, provider, tls)
        result = walk(client, peers.seen, keeper)
        peers.seen += [repr(record) for record in pacs.records]
        return result

    return run


# --- hostile DICOM peers --------------------------------------------------------------------------


def inside_base64(secret: str) -> str:
    return "token=" + base64.b64encode(b"ab" + secret.encode() + b"cd").decode()


def match(**values: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def find(session: Session) -> object:
    return session.find({"PatientName": "*", "StudyInstanceUID": ""})


def store(session: Session) -> object:
    return session.store(ct_dataset())


def text_peer(
    make_peer: Callable[[], TextPeer],
    operation: Callable[[Session], object] = echo,
    sop_classes: tuple[str, ...] = (VERIFICATION,),
    *,
    jwt: bool = False,
) -> Callable[[Peers, ErrorKeeper], str]:
    def run(peers: Peers, keeper: ErrorKeeper) -> str:
        if jwt:
            keeper.secrets.append(TOKEN)
            path = write_token(peers.tmp_path / "token.jwt", TOKEN)
            identity: IdentityProvider = JwtFileProvider(path, audience=AUDIENCE)
        else:
            keeper.secrets.append(PASSCODE)
            identity = PasswordProvider(USER, PASSCODE, positive_response=True)
        with make_peer() as peer:
            client = peers.client(peer.port, AE_TITLE, identity, tls=False)
            return walk(client, peers.seen, keeper, operation, sop_classes)

    return run


def matches(*, then_fail: bool) -> Callable[[], Iterator[tuple[int | Dataset, Dataset | None]]]:
    """C-FIND matches whose values are our passcode (hex; inside base64; raw), and then a
    failure status whose comment quotes it, or the end (success)."""

    def answer() -> Iterator[tuple[int | Dataset, Dataset | None]]:
        yield 0xFF00, match(PatientName=PASSCODE.encode().hex(), StudyInstanceUID="1.2.3")
        yield 0xFF00, match(StudyDescription=inside_base64(PASSCODE), StudyInstanceUID=PASSCODE)
        if then_fail:
            yield failure(0xC001, PASSCODE + FORGED), None

    return answer


CASES: dict[str, tuple[Callable[[Peers, ErrorKeeper], str], str]] = {
    "saml-accepted-tls": (saml("standard", tls=True), "ok:confirmed"),
    "saml-refused-by-the-pacs": (
        saml("standard", tls=False, audiences=(("SOMEONE_ELSE",),)),
        "AuthenticationRejected",
    ),
    "saml-echoed": (saml("echo", tls=True), "ServerResponseMissing"),
    "saml-expired": (saml("standard", tls=False, not_on_or_after=0.0), "CredentialExpired"),
    "echo-error-comment": (
        text_peer(lambda: TextPeer(echo=lambda: failure(0xC000, PASSCODE + FORGED))),
        "DimseFailure",
    ),
    "store-error-comment-jwt": (
        text_peer(
            lambda: TextPeer(store=lambda: failure(0xA700, inside_base64(TOKEN) + FORGED)),
            store,
            (ct_dataset().SOPClassUID,),
            jwt=True,
        ),
        "DimseFailure",
    ),
    "find-values-then-failure": (
        text_peer(lambda: TextPeer(find=matches(then_fail=True)), find, (STUDY_ROOT_FIND,)),
        "DimseFailure",
    ),
    "find-values": (
        text_peer(lambda: TextPeer(find=matches(then_fail=False)), find, (STUDY_ROOT_FIND,)),
        "ok:confirmed",
    ),
    "identity-answer-echoes-the-passcode": (
        text_peer(lambda: TextPeer(answer=lambda kind, primary, secondary: secondary)),
        "ServerResponseMissing",
    ),
}


# --- the test -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saml_pacs_pool(
    hex_dumps: None, certs: CertificateFiles
) -> Iterator[Callable[[str, bool], EmbeddedPacs]]:

    def make(mode: str, tls: bool) -> EmbeddedPacs:
        return EmbeddedPacs(
            saml_issuer=ISSUER,
            saml_audience=AUDIENCE,
            jwt_key=JWT_KEY,
            response_mode=cast(ResponseMode, mode),
            ssl_context=certs.server_context() if tls else None,
        )

    with pacs_on_first_use(make) as get:
        yield get


@pytest.fixture
def warnings_logged() -> Iterator[None]:
    """Python warnings (pydicom's) as records of ``py.warnings``, as the CLI has them."""
    logging.captureWarnings(True)
    yield
    logging.captureWarnings(False)


@pytest.mark.parametrize("name", list(CASES))
def test_no_secret_anywhere(
    name: str,
    capfd: pytest.CaptureFixture[str],
    debug_everything: pytest.LogCaptureFixture,
    saml_pacs_pool: Callable[[str, bool], EmbeddedPacs],
    certs: CertificateFiles,
    tmp_path: Path,
    keep_errors: ErrorKeeper,
    recwarn: pytest.WarningsRecorder,
    warnings_logged: None,
) -> None:
    run, expected = CASES[name]
    keep_errors.expect_error = not expected.startswith("ok:")
    peers = Peers(Gathered(), keep_errors, tmp_path, saml_pacs_pool, certs)
    result = run(peers, keep_errors)
    captured = capfd.readouterr()
    # Nothing exempt: pynetdicom's identifier lines and P-DATA dumps, the peer's own logging
    # and pydicom's warnings about the values it sent are all searched.
    peers.seen += [captured.out, captured.err]
    peers.seen += [logging.Formatter().format(r) for r in debug_everything.records]
    peers.seen += [str(w.message) for w in recwarn]

    assert result == expected
    assert_search_finds(keep_errors.secrets)
    assert find_leaks("\n".join(peers.seen), keep_errors.secrets) == []
    if name != "saml-expired":  # the others reached a peer, with the dumps on
        assert "END ENCODED PDU" in debug_everything.text, "the hex dumps did not run"
        # Control: the PDUs that hold no secret are still dumped, byte by byte.
        records = debug_everything.records
        assert any(_HEX_LINE.match(r.getMessage()) for r in records), "every dump withheld"
    if name.startswith(("echo-error", "store-error", "find-values")):
        # The P-DATA-TF that brings our secret back is withheld whole (the search proves it).
        assert "P-DATA-TF withheld: it holds a secret" in debug_everything.text


_HEX_LINE = re.compile(r"^\s*(?:[0-9a-f]{2}\s+)+[0-9a-f]{2}\s*$")


# --- a Python caller that configured no logging ---------------------------------------------------

# pydicom both logs and ``warnings.warn``s a value that breaks its VR; with no logging set up,
# Python prints the warning itself on stderr. The installed interpreter, from tmp_path.
CALLER = """
import os, sys
from client_sdk import STUDY_ROOT_FIND, Client, Peer
from providers import PasswordProvider

identity = PasswordProvider(sys.argv[3], os.environ["TEXT_PEER_PASSCODE"])
client = Client(Peer("127.0.0.1", int(sys.argv[1]), sys.argv[2]), identity=identity)
with client.associate(sop_classes=[STUDY_ROOT_FIND]) as session:
    found = session.find({"PatientName": "*", "StudyInstanceUID": ""})
print(len(found), "matches")
"""


def test_python_warnings_printed_without_logging_hold_no_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    env.update(TEXT_PEER_PASSCODE=PASSCODE, HOME=str(tmp_path))
    command = cli_command()
    python = str(Path(command[0]).with_name("python")) if len(command) == 1 else sys.executable
    with TextPeer(find=matches(then_fail=False)) as peer:
        result = subprocess.run(
            [python, "-c", CALLER, str(peer.port), AE_TITLE, USER],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "2 matches"
    # Control: pydicom's warning about the UID that is our passcode was printed.
    assert "Invalid value for VR UI: '[redacted]'" in result.stderr, result.stderr[-3000:]
    assert_search_finds([PASSCODE])
    assert find_leaks(result.stdout + result.stderr, [PASSCODE]) == []
