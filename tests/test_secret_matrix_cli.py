"""The secret matrix, continued: the command line's newer outputs (issue 14, Tests).

The installed ``dicom-identity`` (``tests/installed_cli.py``, run from ``tmp_path``, a file
keyring in tmp, no ``DICOM_IDENTITY_*`` variable) against real peers on 127.0.0.1: the embedded
PACS with a JWT from a real token endpoint (``tests/token_server.py``), and a pynetdicom peer that
sends our secrets back (``tests/text_peer.py``). What is searched, with
:func:`tests.test_secret_leaks.find_leaks` (every encoding, JSON escapes included) and a control
that it finds each secret: stdout and stderr of every run (``--json`` events, and ``--debug``
logs and tracebacks), the ``store --report`` file, the audit file, ``keyring check`` and
``config show``/``config check`` in text and ``--json``. And ``--debug`` with pynetdicom's
``debug_logger()`` and ``debug_data`` bound in the command's process (echo and store, a keyring
password and a JWT file, accepted and rejected, plain and TLS: 8 runs, pairwise covering); its
PACS runs in this process, where no secret of the command is registered, so only the PDU rule of
the redaction keeps the received identity out of the PACS's own hex dump.

The secrets: the keyring passcode, the token endpoint's client secret, every access token it
issued, and a JWT file's token.

Runs: ``store`` to a peer whose C-STORE failure comment is our passcode and a forged line (exit
9), and one whose comment is our JWT inside base64; ``store`` with a token endpoint identity,
accepted (exit 0), and with an endpoint that echoes the client secret in its ``Location`` and in
a URL-encoded ``error_description`` (exit 4, the file reported not sent); ``echo`` to a peer that
answers the identity with our passcode (exit 7); ``find`` whose matches hold our passcode;
``keyring check`` of both entries and of a missing one; ``config show`` of both peers and
``config check``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset

from client_sdk.testing import EmbeddedPacs, ct_dataset
from tests.conftest import AUDIENCE, JWT_KEY, make_jwt, write_token
from tests.fixtures_pacs import pacs_on_first_use
from tests.installed_cli import cli_command, run_cli
from tests.leak_search import find_leaks
from tests.secret_matrix_support import assert_search_finds
from tests.secret_matrix_values import (
    IDENTITY_DUMP_WITHHELD,
    OTHER_KEY,
    PASSWORD,
    WRONG_PASSWORD,
    jwt_secrets,
)
from tests.text_peer import AE_TITLE, FORGED, PASSCODE, USER, TextPeer, failure
from tests.tls_certs import CertificateFiles
from tests.token_echoes import CLIENT_ID, CLIENT_SECRET, ECHOES, SERVICE
from tests.token_server import RawReply, TokenServer

pytest_plugins = ["tests.secret_matrix_fixtures"]  # hex_dumps, debug_everything

TOKEN = make_jwt(sub="cli-matrix@example.org", lifetime=6 * 3600)  # outlives the run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The ``env`` pattern of tests/test_cli.py, with the passcode and the client secret in a
    real file keyring (keyrings.alt's PlaintextKeyring) in tmp."""
    from keyrings.alt.file import PlaintextKeyring

    base = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    base.update(
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        HOME=str(tmp_path),
    )
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "data" / "python_keyring" / "keyring_pass.cfg")
    backend.set_password("text-peer", USER, PASSCODE)
    backend.set_password(SERVICE, CLIENT_ID, CLIENT_SECRET)
    return base


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as server:
        yield server


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    with TokenServer(key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}, audience=AUDIENCE) as server:
        yield server


def write_config(tmp_path: Path, peer_port: int, pacs: EmbeddedPacs, token_url: str) -> Path:
    """Two peers: ``hostile`` (the text peer, a keyring passcode) and ``archive`` (the embedded
    PACS, a token endpoint's JWT); the audit file beside the configuration."""
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[audit]
file = "audit.xml"

[defaults.timeouts]
connect = 5
acse = 5
dimse = 5
network = 5

[peers.hostile]
host = "127.0.0.1"
port = {peer_port}
ae_title = "{AE_TITLE}"
identity = "alice-keyring"

[identities.alice-keyring]
type = "keyring-password"
username = "{USER}"
service = "text-peer"
positive_response = true

[peers.archive]
host = "127.0.0.1"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "idp"

[identities.idp]
type = "token-endpoint"
token_url = "{token_url}"
client_id = "{CLIENT_ID}"
client_secret_keyring = ["{SERVICE}", "{CLIENT_ID}"]
audience = "{AUDIENCE}"
positive_response = true
""",
        encoding="utf-8",
    )
    return path


class Outputs:
    """Every output of the runs of one test, by where it came from."""

    def __init__(self, env: dict[str, str], cwd: Path, config: Path | None) -> None:
        self.env, self.cwd, self.config = env, cwd, config
        self.texts: dict[str, str] = {}

    def run(self, label: str, *args: str, code: int) -> Any:
        config = ("--config", str(self.config)) if self.config is not None else ()
        result = run_cli(*config, *args, env=self.env, cwd=self.cwd)
        assert result.returncode == code, (label, result.stdout[-2000:], result.stderr[-2000:])
        self.texts[f"{label} stdout"] = result.stdout
        self.texts[f"{label} stderr"] = result.stderr
        return result

    def file(self, label: str, path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        assert text.strip(), f"{label} is empty: nothing to search"
        self.texts[label] = text
        return text

    def assert_no_secret(self, secrets: list[bytes | str]) -> None:
        assert_search_finds(secrets)
        for label, text in self.texts.items():
            assert find_leaks(text, secrets) == [], label


def dicom_file(tmp_path: Path, name: str = "ct.dcm") -> str:
    path = tmp_path / name
    ct_dataset().save_as(path, enforce_file_format=True)
    return str(path)


def report_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def inside_base64(secret: str) -> str:
    return "token=" + base64.b64encode(b"ab" + secret.encode() + b"cd").decode()


def test_store_report_audit_and_json_hold_no_passcode(
    env: dict[str, str], tmp_path: Path, pacs: EmbeddedPacs, token_server: TokenServer
) -> None:
    with TextPeer(store=lambda: failure(0xA700, PASSCODE + FORGED)) as peer:
        out = Outputs(env, tmp_path, write_config(tmp_path, peer.port, pacs, token_server.url))
        report = tmp_path / "store.jsonl"
        args = ("store", "hostile", dicom_file(tmp_path), "--report", str(report))
        out.run("store --json --debug", "--json", "--debug", *args, code=9)
        out.run("store", *args, code=9)
    assert [line["result"] for line in report_lines(report)] == ["failed"]
    out.file("report", report)
    out.file("audit file", tmp_path / "audit.xml")
    assert "[redacted]" in out.texts["store --json --debug stdout"]
    out.assert_no_secret([PASSCODE])


def test_store_with_a_jwt_file_holds_no_token(env: dict[str, str], tmp_path: Path) -> None:
    token_file = write_token(tmp_path / "token.jwt", TOKEN)
    with TextPeer(store=lambda: failure(0xA700, inside_base64(TOKEN) + FORGED)) as peer:
        out = Outputs(env, tmp_path, None)
        report = tmp_path / "jwt.jsonl"
        out.run(
            "store --jwt-file",
            *("--json", "--debug", "store", peer.address, "--ae-title", AE_TITLE),
            *("--jwt-file", str(token_file), "--audit-file", str(tmp_path / "jwt-audit.xml")),
            *("--report", str(report), dicom_file(tmp_path)),
            code=9,
        )
    out.file("report", report)
    out.file("audit file", tmp_path / "jwt-audit.xml")
    out.assert_no_secret([TOKEN, TOKEN.rsplit(".", 1)[1]])


def test_store_with_a_token_endpoint(
    env: dict[str, str], tmp_path: Path, pacs: EmbeddedPacs, token_server: TokenServer
) -> None:
    """Hostile: an endpoint that echoes the client secret in ``Location`` and in a URL-encoded
    ``error_description`` (the home-made server's); the accepted run before them is their
    baseline. A store with a token endpoint accepted by the real OpenID Provider:
    tests/test_secret_matrix_oidc_cli.py."""
    out = Outputs(env, tmp_path, write_config(tmp_path, 1, pacs, token_server.url))
    report = tmp_path / "archive.jsonl"
    args = ("--json", "--debug", "store", "archive", dicom_file(tmp_path), "--report", str(report))
    result = out.run("store accepted", *args, code=0)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert {e["event"] for e in events} >= {"association", "stored"}
    assert [line["result"] for line in report_lines(report)] == ["stored"]
    # An endpoint that echoes the client secret: the file is not sent.
    for source in ("Location", "error_description, URL-encoded"):
        token_server.reply = RawReply(ECHOES[source])
        label = f"store, endpoint echoing in {source}"
        result = out.run(label, *args[:-1], str(tmp_path / f"{source[:8]}.jsonl"), code=4)
        assert [e["event"] for e in map(json.loads, result.stdout.splitlines())][-1] == "error"
        out.file(f"report, {source}", tmp_path / f"{source[:8]}.jsonl")
    out.file("report", report)
    out.file("audit file", tmp_path / "audit.xml")
    assert token_server.issued, "no token was issued"
    out.assert_no_secret([CLIENT_SECRET, *token_server.issued])


def test_echo_to_a_peer_that_answers_with_our_passcode(
    env: dict[str, str], tmp_path: Path, pacs: EmbeddedPacs, token_server: TokenServer
) -> None:
    with TextPeer(answer=lambda kind, primary, secondary: secondary) as peer:
        out = Outputs(env, tmp_path, write_config(tmp_path, peer.port, pacs, token_server.url))
        out.run("echo --json --debug", "--json", "--debug", "echo", "hostile", code=7)
        out.run("echo", "echo", "hostile", code=7)
    out.file("audit file", tmp_path / "audit.xml")
    assert "response=echoed" in out.texts["audit file"]
    out.assert_no_secret([PASSCODE])


def test_find_matches_hold_no_passcode(
    env: dict[str, str], tmp_path: Path, pacs: EmbeddedPacs, token_server: TokenServer
) -> None:
    # With --debug the CLI shows pynetdicom's own dump of each identifier (INFO) and pydicom's
    # warning about a UID that is our passcode: scrubbed like the rest, for the association's
    # whole life. The last run also hex-dumps every PDU (debug_data, installed interpreter).
    first, second = Dataset(), Dataset()
    first.QueryRetrieveLevel = second.QueryRetrieveLevel = "STUDY"
    first.PatientName, first.StudyInstanceUID = PASSCODE + FORGED, "1.2.3"
    second.StudyDescription, second.StudyInstanceUID = inside_base64(PASSCODE), PASSCODE
    with TextPeer(find=lambda: iter([(0xFF00, first), (0xFF00, second)])) as peer:
        out = Outputs(env, tmp_path, write_config(tmp_path, peer.port, pacs, token_server.url))
        for flags in ((), ("--json",), ("--debug",), ("--json", "--debug")):
            args = (*flags, "find", "hostile", "-k", "PatientName=*", "-k", "StudyDescription=")
            result = out.run(f"find {' '.join(flags)}", *args, code=0)
            assert len(result.stdout.splitlines()) == 3  # the association, two matches
        dumped = subprocess.run(
            [installed_python(), "-c", BOOTSTRAP, "--config", str(out.config), *args[2:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    out.texts["find --debug with debug_data stdout"] = dumped.stdout
    out.texts["find --debug with debug_data stderr"] = dumped.stderr
    debug = out.texts["find --debug stderr"]
    # Controls: the identifier lines and pydicom's warning were there to search.
    assert "# 1 PatientName" in debug and "[redacted]" in debug, debug[-3000:]
    assert "Invalid value for VR UI" in debug, debug[-3000:]
    # A newline in a value forges no line of pynetdicom's dump either.
    assert not [line for line in debug.splitlines() if line.startswith("C-ECHO:")], debug
    assert "END ENCODED PDU" in dumped.stderr and "withheld: it holds a secret" in dumped.stderr
    out.file("audit file", tmp_path / "audit.xml")
    out.assert_no_secret([PASSCODE])


def test_keyring_check_and_config_show(
    env: dict[str, str], tmp_path: Path, pacs: EmbeddedPacs, token_server: TokenServer
) -> None:
    out = Outputs(env, tmp_path, write_config(tmp_path, 1, pacs, token_server.url))
    for flags in ((), ("--json",), ("--debug",)):
        for peer in ("hostile", "archive"):
            result = out.run(
                f"keyring check {peer} {flags}", *flags, "keyring", "check", peer, code=0
            )
            assert "present" in result.stdout
            out.run(f"config show {peer} {flags}", *flags, "config", "show", peer, code=0)
        out.run(f"config check {flags}", *flags, "config", "check", code=0)
        missing = ("keyring", "check", "--keyring-service", "nowhere", "--user", USER)
        out.run(f"keyring check missing {flags}", *flags, *missing, code=4)
    out.assert_no_secret([PASSCODE, CLIENT_SECRET])


# --- --debug with pynetdicom's debug output on ---------------------------------------------------

# The installed ``dicom-identity`` (its interpreter, from tmp_path: the installed package, not
# the checkout), with pynetdicom's debug_logger() and debug_data bound to every association, as a
# user chasing a problem might run it.
BOOTSTRAP = """
import runpy, sys
import pynetdicom
from pynetdicom import AE, evt
from pynetdicom._handlers import debug_data

_associate = AE.associate

def associate(self, *args, **kwargs):
    handlers = list(kwargs.pop("evt_handlers", None) or [])
    handlers += [(evt.EVT_DATA_SENT, debug_data), (evt.EVT_DATA_RECV, debug_data)]
    return _associate(self, *args, evt_handlers=handlers, **kwargs)

AE.associate = associate
pynetdicom.debug_logger()
sys.argv[0] = "dicom-identity"
runpy.run_module("client_sdk", run_name="__main__", alter_sys=True)
"""

CLI_CASES = [
    # (credential, outcome, command, TLS): every pair of values appears together.
    ("keyring", "accepted", "echo", False),
    ("keyring", "accepted", "store", True),
    ("keyring", "rejected", "echo", True),
    ("keyring", "rejected", "store", False),
    ("jwt", "accepted", "echo", True),
    ("jwt", "accepted", "store", False),
    ("jwt", "rejected", "echo", False),
    ("jwt", "rejected", "store", True),
]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: a file keyring in tmp holding a good and a wrong password."""
    from keyrings.alt.file import PlaintextKeyring

    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    env.update(
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        HOME=str(tmp_path),
    )
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "data" / "python_keyring" / "keyring_pass.cfg")
    backend.set_password("embedded-pacs", "alice", PASSWORD)
    backend.set_password("embedded-pacs-wrong", "alice", WRONG_PASSWORD)
    return env


@pytest.mark.parametrize(
    ("credential", "outcome", "command", "tls"), CLI_CASES, ids=lambda v: str(v).lower()
)
def test_cli_debug_prints_no_secret(
    capfd: pytest.CaptureFixture[str],
    debug_everything: pytest.LogCaptureFixture,
    pacs_pool: Callable[[bool], EmbeddedPacs],
    certs: CertificateFiles,
    cli_env: dict[str, str],
    tmp_path: Path,
    credential: str,
    outcome: str,
    command: str,
    tls: bool,
) -> None:
    pacs = pacs_pool(tls)
    pacs.clear()
    args = ["--debug", command, f"{pacs.host}:{pacs.port}", "--ae-title", pacs.ae_title]
    args.append("--pos-response")
    if credential == "keyring":
        service = "embedded-pacs" if outcome == "accepted" else "embedded-pacs-wrong"
        args += ["--user", "alice", "--keyring-service", service]
        secrets = [PASSWORD.encode(), WRONG_PASSWORD.encode()]
    else:
        token = make_jwt(key=JWT_KEY if outcome == "accepted" else OTHER_KEY, sub="cli-user")
        args += ["--jwt-file", str(write_token(tmp_path / "cli.jwt", token))]
        secrets = jwt_secrets(token)
    if tls:
        args += ["--ca-file", str(certs.ca_file), "--server-hostname", certs.hostname]
    if command == "store":
        path = tmp_path / "ct.dcm"
        ct_dataset(patient_id="LEAK-1").save_as(path, enforce_file_format=True)
        args.append(str(path))
    result = subprocess.run(
        [installed_python(), "-c", BOOTSTRAP, *args],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    pacs.wait_for_records(1, ended=True, timeout=15)
    here = capfd.readouterr()
    assert result.returncode == (0 if outcome == "accepted" else 6), result.stderr[-3000:]
    # The CLI's own output, and the in-process PACS's (it received the identity).
    for where, text in (
        ("CLI stdout", result.stdout),
        ("CLI stderr", result.stderr),
        ("PACS logs", debug_everything.text + here.out + here.err),
    ):
        assert find_leaks(text, secrets) == [], where
        assert IDENTITY_DUMP_WITHHELD in text or where == "CLI stdout"
    assert "END ENCODED PDU" in result.stderr  # debug_data ran in the CLI
    if credential == "keyring":
        assert "Password: [redacted]" in result.stderr
    if outcome == "rejected":
        assert "Traceback" in result.stderr  # --debug shows the traceback, without a secret


def installed_python() -> str:
    """The interpreter beside the installed ``dicom-identity`` (``tests/installed_cli.py``)."""
    command = cli_command()
    return str(Path(command[0]).with_name("python")) if len(command) == 1 else sys.executable


@pytest.fixture(scope="module")
def pacs_pool(hex_dumps: None, certs: CertificateFiles) -> Iterator[Callable[[bool], EmbeddedPacs]]:
    """One embedded PACS with TLS and one without, in this process, with the hex dumps on."""

    def make(tls: bool) -> EmbeddedPacs:
        return EmbeddedPacs(
            users={"alice": PASSWORD},
            jwt_key=JWT_KEY,
            jwt_audience=AUDIENCE,
            ssl_context=certs.server_context() if tls else None,
        )

    with pacs_on_first_use(make) as get:
        yield get
