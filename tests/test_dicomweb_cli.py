"""The installed command line against a DICOMweb peer (issue 18, step 3): ``[peers.NAME] url``
behind Apache's mod_oauth2 (Bearer, from a ``jwt-file`` identity) in front of Orthanc. ``store``
(with a report, then ``--resume``), ``find``, ``get`` and ``echo`` print the same lines and
``--json`` objects as for a DIMSE peer, with the DICOMweb operation names; a wrong token is exit
code 6, a stopped server 5, a DIMSE-only command a configuration error."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pydicom
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from client_sdk.testing import ct_dataset
from tests.conftest import write_token
from tests.installed_cli import env as env
from tests.installed_cli import json_lines, run_cli
from tests.web_helpers import make_token
from tests.web_servers import ApacheProxy

pytest_plugins = ["tests.web_fixtures"]
pytestmark = pytest.mark.interop


def write_config(home: Path, url: str, token: Path) -> Path:
    path = home / "config.toml"
    path.write_text(
        f"""
[peers.web]
url = "{url}"
identity = "token"

[peers.web.timeouts]
network = 10

[identities.token]
type = "jwt-file"
path = "{token}"
"""
    )
    return path


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, cwd=Path(env["HOME"]))


@pytest.fixture
def config(env: dict[str, str], bearer_proxy: ApacheProxy, signing_key: rsa.RSAPrivateKey) -> Path:
    home = Path(env["HOME"])
    token = write_token(home / "token.jwt", make_token(signing_key))
    return write_config(home, bearer_proxy.url, token)


def test_store_find_get_echo(env: dict[str, str], config: Path) -> None:
    home = Path(env["HOME"])
    folder = home / "in"
    folder.mkdir()
    sent = [ct_dataset(patient_id="WEBCLI-1", seed=5000 + i) for i in range(2)]
    for i, ds in enumerate(sent):
        ds.save_as(folder / f"{i}.dcm", enforce_file_format=True)
    (folder / "broken.dcm").write_bytes(b"not DICOM at all")
    base = ("--config", str(config))
    report = home / "report.jsonl"

    stored = cli(
        env, *base, "--json", "store", "web", str(folder), "--recursive", "--report", str(report)
    )
    assert stored.returncode == 9, stored.stderr  # one file failed its check
    lines = json_lines(stored.stdout)
    results = {Path(line["path"]).name: line["result"] for line in lines if "result" in line}
    assert results == {"0.dcm": "stored", "1.dcm": "stored", "broken.dcm": "failed"}, lines
    (association,) = [line for line in lines if line.get("event") == "association"]
    assert association["operation"] == "STOW-RS" and association["files"] == 2

    (folder / "broken.dcm").unlink()
    resumed = cli(
        env, *base, "--json", "store", "web", str(folder), "--recursive", "--resume", str(report)
    )
    assert resumed.returncode == 0, resumed.stderr
    again = [line for line in json_lines(resumed.stdout) if line.get("result") == "stored"]
    assert again == [], resumed.stdout  # the two stored files are not sent again

    found = cli(
        env, *base, "--json", "find", "web", "-k", "PatientID=WEBCLI-1", "-k", "StudyInstanceUID"
    )
    assert found.returncode == 0, found.stderr
    matches = [line for line in json_lines(found.stdout) if line.get("event") != "association"]
    assert {m["StudyInstanceUID"] for m in matches} == {str(ds.StudyInstanceUID) for ds in sent}

    out = home / "out"
    got = cli(env, *base, "get", "web", "-k", "PatientID=WEBCLI-1", "--output", str(out))
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("WADO-RS: peer=") and "completed=2" in got.stdout
    read = {pydicom.dcmread(p).SOPInstanceUID for p in out.iterdir()}
    assert read == {str(ds.SOPInstanceUID) for ds in sent}

    echo = cli(env, *base, "echo", "web")
    assert echo.returncode == 0, echo.stderr
    assert echo.stdout.startswith("QIDO-RS echo: peer=") and "identity=jwt" in echo.stdout


def test_a_token_from_another_key_is_exit_code_6(
    env: dict[str, str], bearer_proxy: ApacheProxy
) -> None:
    home = Path(env["HOME"])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = write_token(home / "token.jwt", make_token(other))
    config = write_config(home, bearer_proxy.url, token)
    result = cli(env, "--config", str(config), "echo", "web")
    assert result.returncode == 6, (result.stdout, result.stderr)
    assert "HttpAuthenticationRejected" in result.stderr and "401" in result.stderr
    assert token.read_text() not in result.stderr + result.stdout


def test_a_stopped_server_is_exit_code_5(env: dict[str, str], tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    home = Path(env["HOME"])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = write_token(home / "token.jwt", make_token(key))
    config = write_config(home, f"http://127.0.0.1:{port}/dicom-web", token)
    result = cli(env, "--config", str(config), "find", "web", "-k", "PatientID=X")
    assert result.returncode == 5, (result.stdout, result.stderr)
    assert "connection refused" in result.stderr


def test_move_to_a_dicomweb_peer_is_a_configuration_error(
    env: dict[str, str], config: Path
) -> None:
    result = cli(
        env, "--config", str(config), "move", "web", "-k", "PatientID=X", "--destination", "ME"
    )
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "DICOMweb peer" in result.stderr


def test_config_shows_the_url_and_refuses_a_mixed_or_bad_peer(
    env: dict[str, str], config: Path
) -> None:
    shown = cli(env, "--config", str(config), "config", "show", "web")
    assert shown.returncode == 0, shown.stderr
    assert "  url = http://127.0.0.1:" in shown.stdout and "\n  ae_title =" not in shown.stdout
    bad = Path(env["HOME"]) / "bad.toml"
    bad.write_text(
        '[peers.mixed]\nurl = "https://pacs.example.org/dicom-web"\nhost = "pacs"\n'
        '[peers.ftp]\nurl = "ftp://pacs.example.org/"\n'
    )
    checked = cli(env, "--config", str(bad), "config", "check")
    assert checked.returncode == 3, (checked.stdout, checked.stderr)
    assert "peers.mixed.host: not with url" in checked.stderr
    assert "peers.ftp.url: must be the http:// or https:// root" in checked.stderr
