"""What the installed ``dicom-identity`` prints (issue 13): one line on stderr, global options
after the command, get/move identity lines, keyring advice in the command line's terms.

Every command runs the installed command line from tmp_path (tests/installed_cli.py), with a
file keyring in tmp and no DICOM_IDENTITY_* variables.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import socket
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client_sdk.testing import EmbeddedPacs, ct_dataset
from tests.conftest import poll, require_program
from tests.installed_cli import cli_command, run_cli
from tests.processes import background_command, listening
from tests.tls_certs import CertificateFiles, make_certificates

PASSWORD = "output-canary-Pa55word"
WRONG = "not-the-password-7f3a"
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: a file keyring in tmp, no user config file, no D-Bus session."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DICOM_IDENTITY_") and k != "DBUS_SESSION_BUS_ADDRESS"
    }
    base.update(
        PYTHON_KEYRING_BACKEND=PLAINTEXT,
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        HOME=str(tmp_path),
    )
    return base


@pytest.fixture
def pacs() -> Iterator[EmbeddedPacs]:
    with EmbeddedPacs(users={"alice": PASSWORD}) as p:
        yield p


def write_config(tmp_path: Path, pacs: EmbeddedPacs) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[defaults.timeouts]
connect = 5
acse = 5
dimse = 10
network = 10

[peers.archive]
host = "{pacs.host}"
port = {pacs.port}
ae_title = "{pacs.ae_title}"
identity = "alice"

[identities.alice]
type = "keyring-password"
username = "alice"
service = "archive-pacs"
positive_response = true
"""
    )
    return path


def address(pacs: EmbeddedPacs) -> tuple[str, str, str]:
    return (f"{pacs.host}:{pacs.port}", "--ae-title", pacs.ae_title)


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def one_error_line(result: subprocess.CompletedProcess[str], error: str) -> str:
    """The stderr of a failed run: exactly one line, the SDK's, naming ``error``."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"dicom-identity: error ({error}): "), result.stderr
    return lines[0]


def keyring_set(env: dict[str, str], tmp_path: Path, *args: str, secret: str) -> None:
    stored = run_cli("keyring", "set", *args, env=env, cwd=tmp_path, stdin=secret + "\n")
    assert stored.returncode == 0, stored.stderr


# --- one line on stderr ----------------------------------------------------------------------


def test_wrong_password_is_one_line(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    entry = ("--keyring-service", "svc", "--user", "alice")
    keyring_set(env, tmp_path, *entry, secret=WRONG)
    rejected = run_cli("echo", *address(pacs), *entry, env=env, cwd=tmp_path)
    assert rejected.returncode == 6
    one_error_line(rejected, "AuthenticationRejected")
    debug = run_cli("echo", *address(pacs), *entry, "--debug", env=env, cwd=tmp_path)
    assert debug.returncode == 6
    assert "ERROR pynetdicom.acse: Association Rejected" in debug.stderr
    assert "Traceback" in debug.stderr  # the SDK's own, with --debug
    assert WRONG not in debug.stderr + debug.stdout


def test_wrong_port_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    args = ("echo", closed, "--ae-title", "NOBODY", "--connect-timeout", "3")
    refused = run_cli(*args, env=env, cwd=tmp_path)
    assert refused.returncode == 5
    assert "connection refused" in one_error_line(refused, "PeerUnreachable")
    debug = run_cli(*args, "--debug", env=env, cwd=tmp_path)
    assert "ERROR pynetdicom.transport" in debug.stderr


def test_tls_failures_are_one_line(
    tmp_path: Path, env: dict[str, str], certs: CertificateFiles
) -> None:
    stranger = make_certificates(tmp_path / "stranger")
    with EmbeddedPacs(ssl_context=certs.server_context()) as tls:
        base = (*address(tls), "--connect-timeout", "5")
        plain = run_cli("echo", *base, env=env, cwd=tmp_path)  # a plain client on a TLS port
        assert plain.returncode == 5
        assert "The port expects TLS" in one_error_line(plain, "PlainToTlsPort")
        untrusted = ("--ca-file", str(stranger.ca_file), "--server-hostname", "localhost")
        refused = run_cli("echo", *base, *untrusted, env=env, cwd=tmp_path)
        assert refused.returncode == 5
        line = refused.stderr.splitlines()
        assert len(line) == 1 and "does not verify against the ca_file" in line[0], refused.stderr
        debug = run_cli("echo", *base, "--debug", env=env, cwd=tmp_path)
        assert debug.returncode == 5
        assert "ERROR pynetdicom.dul" in debug.stderr and "Traceback" in debug.stderr


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_peer_killed_during_store_is_one_line(
    tmp_path: Path, env: dict[str, str], debug: bool
) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    study = "1.2.826.0.1.3680043.8.498.13"
    for n in range(400):
        ct_dataset(study_uid=study, rows=128, columns=128, seed=n).save_as(
            folder / f"{n:04d}.dcm", enforce_file_format=True
        )
    pacs_argv = [*cli_command(), "pacs", "--port", "0", "--storage-dir", str(tmp_path / "st")]
    with background_command(pacs_argv, env=env, cwd=tmp_path) as peer:
        match = listening(peer)
        host, port = match["host"], match["port"]
        stderr_path = tmp_path / "stderr.txt"
        argv = [*cli_command(), "store", f"{host}:{port}", "--ae-title", "EMBEDDED_PACS"]
        argv += [str(folder), "-r", "--workers", "2", *(["--debug"] if debug else [])]
        with stderr_path.open("w") as stderr:
            store = subprocess.Popen(
                argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
            assert store.stdout is not None
            lines = [store.stdout.readline() for _ in range(10)]  # ten results: mid-run
            peer.proc.kill()  # the peer dies without a word
            rest, _ = store.communicate(timeout=60)
    assert all(lines) and store.returncode not in (0, None), rest
    text = stderr_path.read_text()
    if debug:
        assert "pynetdicom" in text  # its log lines are back, with --debug
    else:
        assert len(text.splitlines()) == 1, text
        assert text.startswith("dicom-identity: error ("), text


def test_sdk_warning_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    with EmbeddedPacs(users={"alice": "x"}, response_mode="silent") as silent:
        flags = ("--user", "alice", "--pos-response", "--on-missing-response", "warn")
        warned = run_cli("echo", *address(silent), *flags, env=env, cwd=tmp_path)
    assert warned.returncode == 0, warned.stderr
    (line,) = warned.stderr.splitlines()
    assert line.startswith("dicom-identity: warning: ") and "did not confirm" in line
    assert "decision=warn" in warned.stdout


# --- global options anywhere -----------------------------------------------------------------


def test_global_options_after_the_command(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = str(write_config(tmp_path, pacs))
    keyring_set(env, tmp_path, "--config", config, "archive", secret=PASSWORD)
    after = run_cli("echo", "archive", "--config", config, "--json", env=env, cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    (event,) = json_lines(after.stdout)
    assert event["event"] == "association" and event["principal"] == "alice"
    # The subcommand's copies never undo what was given before the command.
    before = run_cli("--json", "--config", config, "echo", "archive", env=env, cwd=tmp_path)
    assert before.returncode == 0 and json_lines(before.stdout)[0]["status"] == 0
    debug = run_cli("echo", "archive", "--config", config, "--debug", env=env, cwd=tmp_path)
    assert debug.returncode == 0 and "DEBUG " in debug.stderr
    nested = run_cli("config", "check", "--config", config, "--json", env=env, cwd=tmp_path)
    assert nested.returncode == 0 and json_lines(nested.stdout)[0]["event"] == "message"
    for command in (["echo"], ["find"], ["keyring", "check"], ["config", "show"]):
        shown = run_cli(*command, "--help", env=env, cwd=tmp_path).stdout
        assert all(flag in shown for flag in ("--config PATH", "--json", "--debug")), command


# --- get and move: the identity line ---------------------------------------------------------


def test_get_and_move_print_the_identity_line(tmp_path: Path, env: dict[str, str]) -> None:
    study = "1.2.826.0.1.3680043.8.498.14"
    files = []
    for n in range(2):
        path = tmp_path / f"{n}.dcm"
        ct_dataset(patient_id="GM-1", study_uid=study, seed=n).save_as(
            path, enforce_file_format=True
        )
        files.append(str(path))
    with (
        EmbeddedPacs(ae_title="DEST") as dest,
        EmbeddedPacs(
            users={"alice": "x"}, move_destinations={"DEST": (dest.host, dest.port)}
        ) as source,
    ):
        who = (*address(source), "--user", "alice")
        assert run_cli("store", *who, *files, env=env, cwd=tmp_path).returncode == 0
        key = ("-k", f"StudyInstanceUID={study}")
        moved = run_cli("move", *who, *key, "--destination", "DEST", env=env, cwd=tmp_path)
        assert moved.returncode == 0, moved.stderr
        (line,) = moved.stdout.splitlines()
        assert line.startswith(f"C-MOVE: peer={source.ae_title}@"), line
        assert "identity=username principal='alice'" in line
        assert line.endswith("status=0x0000 completed=2 failed=0 warning=0 destination=DEST")
        as_json = run_cli(
            "move", *who, *key, "--destination", "DEST", "--json", env=env, cwd=tmp_path
        )
        (event,) = json_lines(as_json.stdout)
        assert event["event"] == "association" and event["operation"] == "C-MOVE"
        assert (event["principal"], event["status"], event["destination"]) == ("alice", 0, "DEST")
        assert (event["completed"], event["failed"], event["warning"]) == (2, 0, 0)
        out = tmp_path / "got"
        got = run_cli("get", *who, *key, "--output", str(out), "--json", env=env, cwd=tmp_path)
        assert got.returncode == 0, got.stderr
        (event,) = json_lines(got.stdout)
        assert (event["operation"], event["completed"], event["output"]) == ("C-GET", 2, str(out))
        assert len(list(out.glob("*.dcm"))) == 2


# --- keyring advice and commands -------------------------------------------------------------


def test_missing_entry_advises_the_dicom_identity_command(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    config = str(write_config(tmp_path, pacs))
    missing = run_cli("--config", config, "echo", "archive", env=env, cwd=tmp_path)
    assert missing.returncode == 4
    line = one_error_line(missing, "KeyringEntryMissing")
    advice = f"Add it with: dicom-identity --config {config} keyring set archive"
    assert line.endswith(advice) and "keyring set archive-pacs" not in line
    # Followed as written (the secret from a pipe), the advice makes echo work.
    command = shlex.split(line.rpartition("Add it with: ")[2])[1:]
    assert run_cli(*command, env=env, cwd=tmp_path, stdin=PASSWORD + "\n").returncode == 0
    assert run_cli("--config", config, "echo", "archive", env=env, cwd=tmp_path).returncode == 0


def test_missing_entry_of_flags_advises_them(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    flags = ("--user", "alice", "--keyring-service", "pacs one")
    missing = run_cli("echo", *address(pacs), *flags, env=env, cwd=tmp_path)
    assert missing.returncode == 4
    line = one_error_line(missing, "KeyringEntryMissing")
    assert line.endswith(
        "Add it with: dicom-identity keyring set --keyring-service 'pacs one' --user alice"
    )
    command = shlex.split(line.rpartition("Add it with: ")[2])[1:]
    assert run_cli(*command, env=env, cwd=tmp_path, stdin=PASSWORD + "\n").returncode == 0
    assert run_cli("echo", *address(pacs), *flags, env=env, cwd=tmp_path).returncode == 0


def test_keyring_check_and_delete(pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]) -> None:
    config = ("--config", str(write_config(tmp_path, pacs)))
    absent = run_cli("keyring", "check", "archive", *config, env=env, cwd=tmp_path)
    assert absent.returncode == 4
    assert "keyring set archive" in one_error_line(absent, "KeyringEntryMissing")
    keyring_set(env, tmp_path, "archive", *config, secret=PASSWORD)
    present = run_cli("keyring", "check", "archive", *config, env=env, cwd=tmp_path)
    assert present.returncode == 0, present.stderr
    assert present.stdout.startswith("present: the password of 'alice' for keyring service")
    as_json = run_cli("keyring", "check", "archive", *config, "--json", env=env, cwd=tmp_path)
    (event,) = json_lines(as_json.stdout)
    assert event["present"] is True and event["service"] == "archive-pacs"
    deleted = run_cli("keyring", "delete", "archive", *config, env=env, cwd=tmp_path)
    assert deleted.returncode == 0 and deleted.stdout.startswith("deleted the password")
    again = run_cli("keyring", "check", "archive", *config, env=env, cwd=tmp_path)
    assert again.returncode == 4
    twice = run_cli("keyring", "delete", "archive", *config, env=env, cwd=tmp_path)
    assert twice.returncode == 4
    assert "nothing to delete" in one_error_line(twice, "CredentialUnavailable")
    echo = run_cli("echo", "archive", *config, env=env, cwd=tmp_path)
    assert echo.returncode == 4
    for result in (present, as_json, deleted, again, echo):
        assert PASSWORD not in result.stdout + result.stderr
    neither = run_cli("keyring", "check", env=env, cwd=tmp_path)
    assert neither.returncode == 3 and "--keyring-service SERVICE --user NAME" in neither.stderr


@pytest.mark.parametrize(
    ("backend", "cause", "advice"),
    [
        pytest.param(
            "keyrings.alt.file.EncryptedKeyring",
            "pycryptodome/x required",
            "pip install pycryptodome",
            id="encrypted-file-without-pycryptodome",
        ),
        pytest.param(
            "keyring.backends.SecretService.Keyring",
            "DBUS_SESSION_BUS_ADDRESS is unset",
            "dbus-run-session",
            id="secret-service-without-dbus",
        ),
    ],
)
def test_unusable_backend_names_the_real_cause(
    pacs: EmbeddedPacs,
    tmp_path: Path,
    env: dict[str, str],
    backend: str,
    cause: str,
    advice: str,
) -> None:
    if "Encrypted" in backend and importlib.util.find_spec("Crypto") is not None:
        pytest.skip("pycryptodome is installed here: EncryptedKeyring loads")
    env["PYTHON_KEYRING_BACKEND"] = backend
    config = ("--config", str(write_config(tmp_path, pacs)))
    echo = run_cli("echo", "archive", *config, env=env, cwd=tmp_path)
    stored = run_cli("keyring", "set", "archive", *config, env=env, cwd=tmp_path, stdin="x\n")
    assert (echo.returncode, stored.returncode) == (4, 4)
    line = one_error_line(echo, "CredentialError")
    assert one_error_line(stored, "CredentialError") == line  # the same advice
    assert cause in line and advice in line and f"{backend!r} cannot be loaded" in line
    assert line.count("RuntimeError") == 1  # named with its message, not alone
    assert len(pacs.records) == 0  # nothing was sent


def readme_shell_block(section: str) -> str:
    """The first ``sh`` block under the README heading ``section``, de-indented."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    after = text.split(f"### {section}\n", 1)[1]
    block = after.split("```sh\n", 1)[1].split("```", 1)[0]
    return textwrap.dedent(block)


@pytest.mark.interop
def test_readme_headless_recipe_gnome_keyring(
    pacs: EmbeddedPacs, tmp_path: Path, env: dict[str, str]
) -> None:
    """The README's 'A keyring on a headless server', first way, run as written (its
    ``dicom-identity`` is the installed one): GNOME Keyring in a D-Bus session of its own. The
    entry survives into a second session."""
    require_program("dbus-run-session", "dbus")  # the recipe's first word
    require_program("gnome-keyring-daemon", "gnome-keyring")
    recipe = readme_shell_block("A keyring on a headless server")
    assert recipe.startswith("dbus-run-session -- sh -c '"), recipe
    bin_dir = tmp_path / "bin"  # dicom-identity on PATH: the installed command line
    bin_dir.mkdir()
    shim = bin_dir / "dicom-identity"
    shim.write_text("#!/bin/sh\nexec " + shlex.join(cli_command()) + ' "$@"\n')
    shim.chmod(0o755)
    env.pop("PYTHON_KEYRING_BACKEND")  # keyring's own choice: the Secret Service, in the session
    env.update(
        KEYRING_PASSWORD="unlock-canary-4d1c",
        DICOM_IDENTITY_CONFIG=str(write_config(tmp_path, pacs)),
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
    )

    def run(script: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", script],
            cwd=tmp_path,
            env=env,
            input=stdin,  # keyring set without a terminal reads the first line
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = run(recipe, PASSWORD + "\n")
    assert first.returncode == 0, first.stderr
    # keyring's choice is the Secret Service (alone, or first in its chainer next to
    # keyrings.alt's files when those are installed): GNOME Keyring's file holds the entry.
    assert "keyring.backends.SecretService.Keyring" in first.stdout or "chainer" in first.stdout
    assert (tmp_path / "data" / "keyrings" / "login.keyring").is_file()
    assert not (tmp_path / "data" / "python_keyring").exists()
    assert "principal='alice'" in first.stdout
    second = run(
        recipe.replace("dicom-identity keyring set archive", "dicom-identity keyring check archive")
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("present: ")
    poll(lambda: len(pacs.records) == 2, timeout=10, what="two verified associations")
    assert all(r.principal == "alice" for r in pacs.records)
    assert PASSWORD not in first.stdout + first.stderr + second.stdout + second.stderr


# --- the thread hook (pure logic: which thread's end is printed) -----------------------------


def test_thread_end_hook(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from client_sdk._cli import stderr as cli_logging

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        cli_logging.configure_stderr(debug=False)
        assert threading.excepthook is cli_logging._quiet_thread_end

        def fail() -> None:
            raise ConnectionResetError("peer gone")

        class DulLike(threading.Thread):  # what pynetdicom's reactor threads are
            pass

        DulLike.__module__ = "pynetdicom.dul"
        for thread in (DulLike(target=fail, name="dul"), threading.Thread(target=fail, name="x")):
            thread.start()
            thread.join(timeout=10)
    finally:
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
        root.setLevel(level)
        logging.captureWarnings(False)
    err = capsys.readouterr().err
    assert err == (
        "dicom-identity: error: thread x ended on ConnectionResetError "
        "(--debug shows the traceback)\n"
    )
