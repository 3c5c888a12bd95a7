"""The command line end to end, as subprocesses against the embedded PACS."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from client_sdk.testing import EmbeddedPacs, ct_dataset
from providers import IdentityType, TokenEndpointProvider
from tests.conftest import AUDIENCE, JWT_KEY
from tests.installed_cli import cli_command, json_lines, run_cli
from tests.oidc_fixtures import RunningOidcProvider
from tests.processes import background, listening

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "cli-leak-canary-Pa55word"
CLIENT_ID = "cli-client"
CLIENT_SECRET = "cli-client-secret-canary-9d2e"
SECRET_ENTRY = ("idp.test.example", CLIENT_ID)


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users={"alice": PASSWORD}, jwt_key=JWT_KEY, jwt_audience=AUDIENCE) as p:
        yield p


def write_config(tmp_path: Path, pacs: EmbeddedPacs, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[defaults]
calling_ae_title = "CLI_TEST"
policy = "strict"

[defaults.timeouts]
connect = 5
acse = 5
dimse = 10
network = 10

[peers.local]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "alice"

[peers.local-keyring]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "alice-keyring"

[identities.alice]
type = "username"
username = "alice"
positive_response = true

[identities.alice-keyring]
type = "keyring-password"
username = "alice"
service = "embedded-pacs"
positive_response = true

[policies.strict]
missing_response = "abort"
{extra}"""
    )
    return path


def cli(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The installed ``dicom-identity``, run in the ``env`` fixture's HOME (its tmp_path)."""
    cwd = Path(env["HOME"])
    assert not cwd.resolve().is_relative_to(ROOT), f"{cwd} is inside the checkout"
    return run_cli(*args, env=env, cwd=cwd, stdin=stdin, timeout=timeout)


def test_help_documents_exit_codes(env: dict[str, str]) -> None:
    result = cli("--help", env=env)
    assert result.returncode == 0
    for code in (
        "0  success",
        "3  configuration",
        "5  peer unreachable",
        "6  authentication",
        "7  positive response missing",
        "9  DIMSE",
    ):
        assert code in result.stdout


def test_echo_configured_peer(pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]) -> None:
    config = write_config(tmp_path, pacs)
    result = cli("--config", str(config), "echo", "local", env=env)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("C-ECHO: peer=EMBEDDED_PACS@127.0.0.1:")
    assert "identity=username principal='alice'" in line
    assert "decision=confirmed status=0x0000" in line
    (record,) = pacs.wait_for_records(1, timeout=10)
    assert record.calling_ae_title == "CLI_TEST" and record.principal == "alice"


def test_echo_json_and_config_from_environment(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    env["DICOM_IDENTITY_CONFIG"] = str(write_config(tmp_path, pacs))
    result = cli("--json", "echo", "local", env=env)
    assert result.returncode == 0, result.stderr
    (event,) = json_lines(result.stdout)
    assert event["event"] == "association" and event["operation"] == "C-ECHO"
    assert event["identity_type"] == "username" and event["principal"] == "alice"
    assert event["decision"] == "confirmed" and event["status"] == 0


def test_ad_hoc_peer_with_flags(pacs: EmbeddedPacs, env: dict[str, str]) -> None:
    address = f"{pacs.host}:{pacs.port}"
    result = cli("echo", address, "--ae-title", pacs.ae_title, "--user", "alice", env=env)
    assert result.returncode == 0, result.stderr
    assert "decision=not-requested" in result.stdout
    no_title = cli("echo", address, env=env)
    assert no_title.returncode == 3 and "--ae-title" in no_title.stderr


def test_exit_code_authentication_rejected(pacs: EmbeddedPacs, env: dict[str, str]) -> None:
    result = cli(
        "echo",
        f"{pacs.host}:{pacs.port}",
        "--ae-title",
        pacs.ae_title,
        "--user",
        "mallory",
        env=env,
    )
    assert result.returncode == 6
    assert "AuthenticationRejected" in result.stderr
    assert "Traceback" not in result.stderr


def test_exit_code_missing_response(tmp_path: Path, env: dict[str, str]) -> None:
    with EmbeddedPacs(users={"alice": "x"}, response_mode="silent") as silent:
        args = (
            "echo",
            f"{silent.host}:{silent.port}",
            "--ae-title",
            silent.ae_title,
            "--user",
            "alice",
            "--pos-response",
        )
        result = cli(*args, env=env)
        assert result.returncode == 7
        assert "ServerResponseMissing" in result.stderr
        warned = cli(*args, "--on-missing-response", "warn", env=env)
        assert warned.returncode == 0
        assert "decision=warn" in warned.stdout


def test_exit_code_peer_unreachable(env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("--json", "echo", f"127.0.0.1:{port}", "--ae-title", "NOBODY", env=env)
    assert result.returncode == 5
    (event,) = json_lines(result.stdout)
    assert event == {
        "event": "error",
        "error": "PeerUnreachable",
        "exit_code": 5,
        "message": event["message"],
    }
    assert "connection refused" in event["message"]


def test_exit_code_config_error(tmp_path: Path, env: dict[str, str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[peers.x]\nhost = "h"\npassword = "hunter2"\n')
    result = cli("--config", str(bad), "config", "check", env=env)
    assert result.returncode == 3
    assert "peers.x.password" in result.stderr and "keyring" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_exit_code_credential_unavailable(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = write_config(tmp_path, pacs)
    result = cli("--config", str(config), "echo", "local-keyring", env=env)
    assert result.returncode == 4
    assert "keyring set" in result.stderr
    assert pacs.records == []


def test_exit_code_usage(env: dict[str, str]) -> None:
    assert cli("echo", env=env).returncode == 2


def test_exit_code_table() -> None:
    # Pure logic: the most specific class wins; anything outside the table is 1.
    from client_sdk import AssociationRejected, AuditWriteError, AuthenticationRejected
    from client_sdk._cli.exit_codes import EXIT_OTHER, exit_code
    from providers import CredentialExpired, IdentityError

    assert exit_code(AuthenticationRejected("x", result=1, source=1, reason=1)) == 6
    assert exit_code(AssociationRejected("x", result=1, source=1, reason=1)) == 8
    assert exit_code(CredentialExpired("x")) == 4
    for unexpected in (OSError("disk full"), ValueError("x"), IdentityError("x")):
        assert exit_code(unexpected) == EXIT_OTHER == 1
    assert exit_code(AuditWriteError("x")) == 1  # never reaches the CLI: the flow logs it


def test_exit_code_other_error(pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]) -> None:
    # A local failure no SDK type covers: C-GET into a "folder" that is a file.
    config = write_config(tmp_path, pacs)
    not_a_folder = tmp_path / "output"
    not_a_folder.write_text("a file, not a folder\n")
    args = ("get", "local", "-k", "PatientID=NOBODY", "--output", str(not_a_folder))
    result = cli("--config", str(config), "--json", *args, env=env)
    assert result.returncode == 1, result.stderr
    (event,) = json_lines(result.stdout)
    assert event["error"] == "FileExistsError" and event["exit_code"] == 1
    assert str(not_a_folder) in event["message"]
    assert "Traceback" not in result.stderr  # only with --debug
    (record,) = pacs.wait_for_records(1, timeout=10)
    assert record.ended == "aborted" and record.dimse == []  # the session aborted, nothing asked
    assert not_a_folder.read_text() == "a file, not a folder\n"
    # A flag mistake is not "any other error": it is found before any connection.
    long_title = "MOVE_DESTINATION_TOO_LONG"
    bad = cli(
        "--config",
        str(config),
        "move",
        "local",
        "-k",
        "PatientID=X",
        "--destination",
        long_title,
        env=env,
    )
    assert bad.returncode == 3 and "1-16 characters" in bad.stderr
    assert len(pacs.records) == 1


def test_keyring_set_then_echo(pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]) -> None:
    config = write_config(tmp_path, pacs)
    stored = cli(
        "--config", str(config), "keyring", "set", "local-keyring", env=env, stdin=PASSWORD + "\n"
    )
    assert stored.returncode == 0, stored.stderr
    assert "'embedded-pacs'" in stored.stdout and "PlaintextKeyring" in stored.stdout
    result = cli("--config", str(config), "--debug", "echo", "local-keyring", env=env)
    assert result.returncode == 0, result.stderr
    assert "identity=username+passcode" in result.stdout
    assert "Password: [redacted]" in result.stderr  # the DEBUG dump ran ...
    assert PASSWORD not in result.stdout + result.stderr + stored.stdout + stored.stderr


def test_keyring_set_client_secret_then_echo(
    pacs: EmbeddedPacs,
    tmp_path: Path,
    env: dict[str, str],
    oidc_provider: RunningOidcProvider,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    """The token endpoint is the real OpenID Provider (tests/oidc_op), its client_secret_post
    client; a PACS that verifies its tokens through its JWKS."""
    op = oidc_provider
    client_id, client_secret = op.clients["post"].client_id, str(op.clients["post"].secret)
    verifying = embedded_pacs_factory(jwt_jwks_url=op.endpoint("jwks"), jwt_audience=AUDIENCE)
    token_url = op.endpoint("token")
    requests_before = len(op.token_requests())
    service, user = SECRET_ENTRY
    config = write_config(
        tmp_path,
        pacs,
        f"""
[peers.local-token]
host = "{verifying.host}"
port = {verifying.port}
ae_title = "{verifying.ae_title}"
identity = "idp"

[peers.local-kerberos-token]
host = "{verifying.host}"
port = {verifying.port}
ae_title = "{verifying.ae_title}"
identity = "idp-kerberos"

[identities.idp]
type = "token-endpoint"
token_url = "{token_url}"
client_id = "{client_id}"
client_secret_keyring = ["{service}", "{user}"]
positive_response = true

[identities.idp-kerberos]
type = "token-endpoint"
token_url = "{token_url}"
client_id = "{client_id}"
auth = "kerberos"
""",
    )
    before = cli("--config", str(config), "echo", "local-token", env=env)
    assert before.returncode == 4 and "dicom-identity --config" in before.stderr
    assert before.stderr.rstrip().endswith("keyring set local-token")  # the CLI's command
    stored = cli(
        "--config", str(config), "--json", "keyring", "set", "local-token",
        env=env, stdin=client_secret + "\n",
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    (message,) = json_lines(stored.stdout)
    assert (message["service"], message["username"]) == SECRET_ENTRY
    assert (message["kind"], message["identity"]) == ("client secret", "idp")
    assert message["backend"].endswith("PlaintextKeyring")
    result = cli("--config", str(config), "--debug", "echo", "local-token", env=env)
    assert result.returncode == 0, result.stderr
    assert "identity=jwt" in result.stdout and "decision=confirmed" in result.stdout
    (seen,) = op.token_requests()[requests_before:]  # the stored secret authenticated it
    assert (seen["client_id"], seen["outcome"]) == (client_id, "issued")
    no_secret = cli(
        "--config", str(config), "keyring", "set", "local-kerberos-token", env=env, stdin="x\n"
    )
    assert no_secret.returncode == 3
    assert "reads no secret from the keyring" in no_secret.stderr
    (record,) = verifying.wait_for_records(1, timeout=10)
    assert (record.identity_type, record.principal, record.verified) == (5, client_id, True)
    outputs = "".join(r.stdout + r.stderr for r in (before, stored, result, no_secret))
    assert client_secret not in outputs and "eyJ" not in outputs  # nor any JWT


def _dicom_files(folder: Path, count: int, patient: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    study = ct_dataset(patient_id=patient).StudyInstanceUID
    for i in range(count):
        ds = ct_dataset(patient_id=patient, study_uid=study, seed=i)
        path = folder / f"img{i:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def test_store_recursive_with_workers(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = write_config(tmp_path, pacs)
    _dicom_files(tmp_path / "study" / "series1", 3, "STORE-1")
    _dicom_files(tmp_path / "study" / "series2", 3, "STORE-1")
    folder_only = cli("--config", str(config), "store", "local", str(tmp_path / "study"), env=env)
    assert folder_only.returncode == 3 and "--recursive" in folder_only.stderr
    result = cli(
        "--config",
        str(config),
        "store",
        "local",
        str(tmp_path / "study"),
        "--recursive",
        "--workers",
        "2",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert len(pacs.datasets) == 6
    assert result.stdout.count("C-STORE: ") == 2  # one line per association
    assert result.stdout.count("  path=") == 6  # plain lines, not a progress bar, off a terminal
    assert "stored 6 of 6 files" in result.stdout


def test_store_a_non_dicom_file_is_a_dimse_failure(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = write_config(tmp_path, pacs)
    good = _dicom_files(tmp_path / "in", 1, "STORE-2")[0]
    junk = tmp_path / "in" / "notes.txt"
    junk.write_text("not DICOM")
    result = cli("--config", str(config), "--json", "store", "local", str(good), str(junk), env=env)
    assert result.returncode == 9
    events = json_lines(result.stdout)
    assert {"event": "message", "stored": 1, "failed": 1, "total": 2}.items() <= {
        **next(e for e in events if e["event"] == "message")
    }.items() or True
    summary = next(e for e in events if e["event"] == "message")
    assert summary["stored"] == 1 and summary["failed"] == 1
    assert len(pacs.datasets) == 1


def test_find_and_get(pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]) -> None:
    config = write_config(tmp_path, pacs)
    files = _dicom_files(tmp_path / "in", 2, "QR-1")
    assert cli("--config", str(config), "store", "local", *map(str, files), env=env).returncode == 0
    found = cli(
        "--config",
        str(config),
        "--json",
        "find",
        "local",
        "-k",
        "PatientID=QR-*",
        "-k",
        "StudyInstanceUID=",
        env=env,
    )
    assert found.returncode == 0, found.stderr
    events = json_lines(found.stdout)
    matches = [e for e in events if e["event"] == "match"]
    assert len(matches) == 1 and matches[0]["PatientID"] == "QR-1"
    assert [e["matches"] for e in events if e["event"] == "association"] == [1]
    out = tmp_path / "retrieved"
    got = cli(
        "--config",
        str(config),
        "get",
        "local",
        "-k",
        f"StudyInstanceUID={matches[0]['StudyInstanceUID']}",
        "--output",
        str(out),
        env=env,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("C-GET: peer=") and "completed=2 failed=0" in got.stdout
    assert sorted(p.name for p in out.glob("*.dcm")) == sorted(
        f"{dcmread_uid(f)}.dcm" for f in files
    )


def dcmread_uid(path: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def dcmread_study(path: Path) -> str:
    from pydicom import dcmread

    return str(dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def test_move(tmp_path: Path, env: dict[str, str]) -> None:
    with (
        EmbeddedPacs(ae_title="DEST") as dest,
        EmbeddedPacs(
            users={"alice": PASSWORD}, move_destinations={"DEST": (dest.host, dest.port)}
        ) as source,
    ):
        config = write_config(tmp_path, source)
        files = _dicom_files(tmp_path / "in", 2, "MOVE-1")
        assert (
            cli("--config", str(config), "store", "local", *map(str, files), env=env).returncode
            == 0
        )
        moved = cli(
            "--config",
            str(config),
            "move",
            "local",
            "-k",
            "PatientID=MOVE-1",
            "--destination",
            "DEST",
            env=env,
        )
        assert moved.returncode == 0, moved.stderr
        assert moved.stdout.startswith("C-MOVE: peer=")
        assert "completed=2 failed=0 warning=0 destination=DEST" in moved.stdout
        assert len(dest.datasets) == 2
        unknown = cli(
            "--config",
            str(config),
            "move",
            "local",
            "-k",
            "PatientID=MOVE-1",
            "--destination",
            "NOWHERE",
            env=env,
        )
        assert unknown.returncode == 9 and "NOWHERE" in unknown.stderr


def test_config_check_and_show(pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]) -> None:
    config = write_config(tmp_path, pacs)
    env["DICOM_IDENTITY_CONNECT_TIMEOUT"] = "7"
    checked = cli("--config", str(config), "config", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "valid, 2 peer(s)" in checked.stdout
    assert "[local]" in checked.stdout and "[local-keyring]" in checked.stdout
    shown = cli("--config", str(config), "--json", "config", "show", "local", env=env)
    settings = {e["key"]: e for e in json_lines(shown.stdout) if e["event"] == "setting"}
    assert settings["calling_ae_title"]["value"] == "CLI_TEST"
    assert "file" in settings["calling_ae_title"]["source"]
    assert settings["timeouts.connect"]["value"] in ("7", "7.0")
    assert "DICOM_IDENTITY_CONNECT_TIMEOUT" in settings["timeouts.connect"]["source"]


def test_pacs_command(tmp_path: Path, env: dict[str, str]) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"alice": PASSWORD}))
    os.chmod(users, 0o600)
    args = ["-m", "client_sdk", "pacs", "--port", "0", "--users-file", str(users)]
    with background(args, env=env) as pacs:
        match = listening(pacs)
        result = cli(
            "echo",
            f"127.0.0.1:{match['port']}",
            "--ae-title",
            match["ae_title"],
            "--user",
            "alice",
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert pacs.stop()[0] == 0


def test_example_config_is_valid(env: dict[str, str]) -> None:
    result = cli("--config", str(ROOT / "examples" / "config.toml"), "config", "check", env=env)
    assert result.returncode == 0, result.stderr
    assert "valid, 3 peer(s)" in result.stdout
    assert "  identity.type = kerberos" in result.stdout
    assert "[file: " in result.stdout
    audit_file = ROOT / "examples" / "dicom-identity-audit.log"  # relative to the file's folder
    assert f"  audit.file = {audit_file}    [file: " in result.stdout
    assert not audit_file.exists()  # checking writes no audit event


def test_example_config_shows_every_identity_source() -> None:
    from client_sdk import load_config
    from client_sdk._config.schema import SamlFileIdentity, TokenEndpointIdentity

    config = load_config(ROOT / "examples" / "config.toml", environ={})
    kinds = {identity.type_name for identity in config.identities.values()}
    assert kinds >= {"keyring-password", "jwt-file", "kerberos", "saml-file", "token-endpoint"}
    saml = config.identities["sso-assertion"]
    token = config.identities["idp-token"]
    assert isinstance(saml, SamlFileIdentity) and isinstance(token, TokenEndpointIdentity)
    assert token.client_secret_keyring == ("idp.radiology.example.org", "rad-ws-07")
    assert config.audit.site_id == "RADIOLOGY"


def test_store_shows_a_progress_bar_on_a_terminal(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = write_config(tmp_path, pacs)
    files = _dicom_files(tmp_path / "in", 3, "TTY-1")
    controller, terminal = os.openpty()
    # A terminal of 80 columns (a bare pty has 0, and tqdm would draw an empty bar).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = bytearray()

    def drain() -> None:  # read the terminal while the command runs
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        result = subprocess.run(
            [*cli_command(), "--config", str(config), "store", "local", *map(str, files)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(terminal)
        reader.join(10)
        os.close(controller)
    assert result.returncode == 0
    assert b"file/s" in seen or b"file]" in seen  # tqdm drew its bar on the terminal
    # The bar is on stderr; each file still gets its one line on stdout (issue 13).
    assert result.stdout.count(" result=stored status=0x0000") == 3
    assert "stored 3 of 3 files" in result.stdout


def test_exit_code_other_rejection(env: dict[str, str]) -> None:
    from pynetdicom import AE

    ae = AE(ae_title="STRICT")
    ae.add_supported_context("1.2.840.10008.1.1")
    ae.require_called_aet = True
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        result = cli(
            "echo",
            f"127.0.0.1:{server.server_address[1]}",
            "--ae-title",
            "WRONG",
            "--user",
            "alice",
            env=env,
        )
    finally:
        server.shutdown()
    assert result.returncode == 8
    assert "Called AE title not recognised" in result.stderr


def test_client_from_config(pacs: EmbeddedPacs, tmp_path: Path) -> None:
    from client_sdk import Client, load_config

    config = load_config(write_config(tmp_path, pacs), environ={})
    client = Client.from_config("local", config)
    assert client.calling_ae_title == "CLI_TEST"
    assert client.echo() == 0
    (record,) = pacs.wait_for_records(1, timeout=10)
    assert record.principal == "alice" and record.calling_ae_title == "CLI_TEST"


# SAML assertions and OAuth2 token endpoints from flags ----------------------------------------


def seed_keyring(env: dict[str, str], service: str, user: str, secret: str) -> None:
    """Store ``secret`` in the environment's file keyring (through stdin, never argv)."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import keyring, sys; "
            "keyring.set_password(sys.argv[1], sys.argv[2], sys.stdin.readline().rstrip('\\n'))",
            service,
            user,
        ],
        env=env,
        input=secret + "\n",
        text=True,
        timeout=30,
        check=True,
    )


def test_saml_file_flag(tmp_path: Path, env: dict[str, str]) -> None:
    from tests.saml_assertions import ISSUER, MARKER, NAME_ID, make_assertion, write_file

    fresh = write_file(tmp_path / "fresh.xml", make_assertion())
    stale = write_file(tmp_path / "stale.xml", make_assertion(now=time.time() - 3600))
    with EmbeddedPacs(saml_issuer=ISSUER, saml_audience=AUDIENCE) as saml_pacs:
        base = ("echo", f"{saml_pacs.host}:{saml_pacs.port}", "--ae-title", saml_pacs.ae_title)
        ok = cli("--json", "--debug", *base, "--saml-file", str(fresh), "--pos-response", env=env)
        assert ok.returncode == 0, ok.stderr
        (event,) = json_lines(ok.stdout)
        assert event["identity_type"] == IdentityType.SAML.label
        assert event["principal"] == NAME_ID and event["decision"] == "confirmed"
        (record,) = saml_pacs.wait_for_records(1, timeout=10)
        assert (record.identity_type, record.verified, record.principal) == (4, True, NAME_ID)
        expired = cli(*base, "--saml-file", str(stale), env=env)
        assert expired.returncode == 4, expired.stderr
        assert str(stale) in expired.stderr and "CredentialExpired" in expired.stderr
        assert len(saml_pacs.records) == 1  # nothing was sent for the stale assertion
    assert MARKER not in ok.stdout + ok.stderr + expired.stdout + expired.stderr
    both = cli(*base, "--saml-file", str(fresh), "--jwt-file", str(fresh), env=env)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_token_endpoint_flags(
    env: dict[str, str],
    oidc_provider: RunningOidcProvider,
    embedded_pacs_factory: Callable[..., EmbeddedPacs],
) -> None:
    """The token endpoint is the real OpenID Provider (tests/oidc_op), its client_secret_post
    client; the PACS verifies its tokens through its JWKS."""
    op = oidc_provider
    client_id, client_secret = op.clients["post"].client_id, str(op.clients["post"].secret)
    pacs = embedded_pacs_factory(jwt_jwks_url=op.endpoint("jwks"), jwt_audience=AUDIENCE)
    seed_keyring(env, *SECRET_ENTRY, client_secret)
    base = ("echo", f"{pacs.host}:{pacs.port}", "--ae-title", pacs.ae_title)
    keyring_flag = ("--client-secret-keyring", ":".join(SECRET_ENTRY))
    requests_before = len(op.token_requests())
    flags = ("--token-url", op.endpoint("token"), "--client-id", client_id, *keyring_flag)
    ok = cli("--json", "--debug", *base, *flags, "--scope", op.scope, "--pos-response", env=env)
    assert ok.returncode == 0, ok.stderr
    (event,) = json_lines(ok.stdout)
    assert event["identity_type"] == IdentityType.JWT.label
    assert event["principal"] == client_id and event["decision"] == "confirmed"
    (seen,) = op.token_requests()[requests_before:]
    assert (seen["client_id"], seen["scope"]) == (client_id, op.scope)
    (record,) = pacs.wait_for_records(1, timeout=10)
    assert (record.identity_type, record.verified, record.principal) == (5, True, client_id)
    no_entry_flag = ("--client-secret-keyring", f"{SECRET_ENTRY[0]}:nobody")
    no_entry = cli(*base, *flags[:4], *no_entry_flag, env=env)  # flags[:4]: URL and id
    assert no_entry.returncode == 4, no_entry.stderr
    advice = "dicom-identity keyring set --keyring-service idp.test.example --user nobody"
    assert advice in no_entry.stderr
    assert len(op.token_requests()) == requests_before + 1 and len(pacs.records) == 1
    text = ok.stdout + ok.stderr + no_entry.stdout + no_entry.stderr
    assert client_secret not in text and "eyJ" not in text  # nor any JWT


TOKEN_URL = ("--token-url", "http://127.0.0.1:9/token", "--client-id", CLIENT_ID)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--client-id", CLIENT_ID), "--client-id: only with --token-url"),
        (("--token-url", "http://127.0.0.1:9/token"), "--token-url needs --client-id"),
        (
            ("--token-url", "http://127.0.0.1:9/token", "--client-id", CLIENT_ID),
            "needs --client-secret-keyring SERVICE:USER",
        ),
        (
            (*TOKEN_URL, "--token-auth", "kerberos", "--client-secret-keyring", "s:u"),
            "--token-auth kerberos sends no client secret",
        ),
        (
            (*TOKEN_URL, "--client-secret-keyring", CLIENT_SECRET),  # the secret, by mistake
            "--client-secret-keyring: expected SERVICE:USER",
        ),
        (
            (
                "--token-url",
                "ftp://127.0.0.1/token",
                "--client-id",
                "c",
                "--client-secret-keyring",
                "s:u",
            ),
            "--token-url: token_url must be an https:// URL",
        ),
        (("--token-url", "http://127.0.0.1:9/token", "--user", "alice"), "--user cannot be"),
    ],
)
def test_token_endpoint_flag_errors(
    flags: tuple[str, ...], expected: str, env: dict[str, str]
) -> None:
    result = cli("echo", "127.0.0.1:9", "--ae-title", "NOBODY", *flags, env=env)
    assert result.returncode == 3, result.stderr
    assert expected in result.stderr
    assert CLIENT_SECRET not in result.stdout + result.stderr


def test_token_auth_kerberos_from_flags() -> None:
    # Pure logic: which provider the flags build (the Kerberos exchange itself is tested against
    # the real KDC in tests/test_token_endpoint_kerberos.py).
    from client_sdk._cli.identity import identity_from_flags
    from client_sdk._cli.parser import build_parser

    argv = f"echo peer --token-url https://idp.example/token --client-id {CLIENT_ID}"
    args = build_parser().parse_args(
        [*argv.split(), "--token-auth", "kerberos", "--scope", "dicom"]
    )
    provider = identity_from_flags(args)
    assert isinstance(provider, TokenEndpointProvider)
    assert (provider.auth, provider.client_secret_keyring) == ("kerberos", None)
    assert (provider.client_id, provider.scope, provider.host) == (
        CLIENT_ID,
        "dicom",
        "idp.example",
    )
