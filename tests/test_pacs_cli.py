"""``dicom-identity pacs`` as a command-line test peer (issue 13), run as the INSTALLED command
from a folder outside the checkout: TLS, its help, bad input files, its AE title, and one copy
per SOP Instance UID. The last section checks the same rules through ``EmbeddedPacs``."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from client_sdk import AssociationRejected, Client, Peer
from client_sdk.testing import EmbeddedPacs, ct_dataset
from client_sdk.testing.__main__ import _parser
from providers import PasswordProvider
from tests.conftest import require_program
from tests.installed_cli import cli_command, run_cli
from tests.processes import Running, background_command, listening
from tests.timeouts import OPERATIONS
from tests.tls_certs import CertificateFiles, make_certificates

PASSWORD = "pacs-cli-canary-Pa55word"


@dataclass(frozen=True)
class PacsProcess:
    running: Running
    first_line: str
    port: int
    ae_title: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def association_line(self) -> str:
        """The next association line it prints (bounded wait)."""
        return self.running.line(10)


@contextlib.contextmanager
def pacs_process(*args: str | Path, env: dict[str, str], cwd: Path) -> Iterator[PacsProcess]:
    """``dicom-identity pacs --port 0 ARGS`` until the block ends; then it must stop cleanly."""
    argv = [*cli_command(), "pacs", "--port", "0", *map(str, args)]
    with background_command(argv, env=env, cwd=cwd) as running:
        match = listening(running)
        first = match.string.strip()
        yield PacsProcess(running, first, int(match["port"]), match["ae_title"])
        code, stderr = running.stop()
        assert code == 0, stderr
        assert "Traceback" not in stderr, stderr


def echo(
    pacs: PacsProcess, *args: str, env: dict[str, str], cwd: Path, ae_title: str | None = None
) -> subprocess.CompletedProcess[str]:
    title = pacs.ae_title if ae_title is None else ae_title
    return run_cli("echo", pacs.address, "--ae-title", title, *args, env=env, cwd=cwd)


def error_line(stderr: str) -> str:
    """The SDK's one error line of a failed ``dicom-identity`` run."""
    lines = [line for line in stderr.splitlines() if line.startswith("dicom-identity: error")]
    assert len(lines) == 1, stderr
    return lines[0]


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_pacs_answers_a_client_that_trusts_its_ca(
    certs: CertificateFiles, tmp_path: Path, env: dict[str, str]
) -> None:
    serve = ("--tls-cert-file", certs.cert_file, "--tls-key-file", certs.key_file)
    with pacs_process(*serve, env=env, cwd=tmp_path) as pacs:
        assert pacs.first_line.endswith(" as EMBEDDED_PACS (TLS)")

        trusted = echo(pacs, "--tls", "--ca-file", str(certs.ca_file), env=env, cwd=tmp_path)
        assert trusted.returncode == 0, trusted.stderr
        assert "status=0x0000" in trusted.stdout
        assert "ended released" in pacs.association_line()

        untrusting = echo(pacs, "--tls", env=env, cwd=tmp_path)  # the system store only
        assert untrusting.returncode == 5, untrusting.stderr
        assert "certificate" in error_line(untrusting.stderr)

        plain = echo(pacs, env=env, cwd=tmp_path)
        assert plain.returncode == 5, plain.stderr
        assert "TLS" in error_line(plain.stderr)


def test_tls_ca_file_makes_the_pacs_require_client_certificates(
    certs: CertificateFiles, tmp_path: Path, env: dict[str, str]
) -> None:
    stranger = make_certificates(tmp_path / "other-ca")
    serve = ("--tls-cert-file", certs.cert_file, "--tls-key-file", certs.key_file)
    verify = ("--tls", "--ca-file", str(certs.ca_file))
    with pacs_process(*serve, "--tls-ca-file", certs.ca_file, env=env, cwd=tmp_path) as pacs:
        assert pacs.first_line.endswith("(TLS, client certificate required)")

        mine = (
            "--cert-file",
            str(certs.client_cert_file),
            "--key-file",
            str(certs.client_key_file),
        )
        with_certificate = echo(pacs, *verify, *mine, env=env, cwd=tmp_path)
        assert with_certificate.returncode == 0, with_certificate.stderr
        assert "ended released" in pacs.association_line()

        without = echo(pacs, *verify, env=env, cwd=tmp_path)
        assert without.returncode == 5, without.stderr
        assert "client certificate" in error_line(without.stderr)

        theirs = ["--cert-file", str(stranger.client_cert_file)]
        theirs += ["--key-file", str(stranger.client_key_file)]
        foreign = echo(pacs, *verify, *theirs, env=env, cwd=tmp_path)
        assert foreign.returncode == 5, foreign.stderr
        assert "certificate" in error_line(foreign.stderr)


# --- Help ---------------------------------------------------------------------------------------


def help_entries(text: str) -> dict[str, str]:
    """``--option`` -> its help text, from argparse's help output."""
    entries: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        found = re.match(r"^  (?:-\w, )?(--[\w-]+)(?: \S+)?(?:\s{2,}(.*))?$", line)
        if found:
            current = found[1]
            entries[current] = (found[2] or "").strip()
        elif current is not None and line.startswith(" " * 4):
            entries[current] = f"{entries[current]} {line.strip()}".strip()
        else:
            current = None
    return entries


def installed_python() -> str:
    """The interpreter of the environment the installed command line lives in."""
    command = Path(cli_command()[0])
    beside = command.with_name("python")
    return str(beside) if command.name == "dicom-identity" and beside.exists() else str(command)


def test_help_names_its_program_and_explains_every_option(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = run_cli("pacs", "--help", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dicom-identity pacs [-h]")
    entries = help_entries(result.stdout)
    options = [
        max(action.option_strings, key=len)
        for action in _parser()._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ]
    assert "--jwt-audience" in options and "--tls-ca-file" in options
    assert {option: bool(entries.get(option)) for option in options} == dict.fromkeys(options, True)

    usage_error = run_cli("pacs", "--tls-key-file", "k.pem", env=env, cwd=tmp_path)
    assert usage_error.returncode == 2
    assert "dicom-identity pacs: error: --tls-key-file needs --tls-cert-file" in usage_error.stderr

    as_module = subprocess.run(
        [installed_python(), "-m", "client_sdk.testing", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert as_module.returncode == 0, as_module.stderr
    assert as_module.stdout.startswith("usage: python -m client_sdk.testing [-h]")


# --- Bad input files ----------------------------------------------------------------------------

NOT_JSON = b'{"alice": "' + PASSWORD.encode() + b'",\n "bob": }'
ARRAY = b'["alice"]'
NUMBER = b'{"alice": 5}'
PUBLIC_KEY_GARBAGE = b"-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n"

# (option, file content: bytes, None for a missing file, "dir" for a folder; what the error says)
BAD_FILES = {
    "users-not-json": ("--users-file", NOT_JSON, "is not valid JSON: Expecting value at line 2"),
    "users-array": ("--users-file", ARRAY, "holds a JSON array, not an object of username"),
    "users-number": ("--users-file", NUMBER, "the password of user 'alice' is a JSON number"),
    "users-not-utf8": ("--users-file", b"\xff\xfe{}", "is not UTF-8 text"),
    "users-missing": ("--users-file", None, "does not exist"),
    "users-folder": ("--users-file", "dir", "is not a file"),
    "jwt-empty": ("--jwt-key-file", b"\n", "is empty"),
    "jwt-bad-pem": ("--jwt-key-file", PUBLIC_KEY_GARBAGE, "is not a usable PEM public key"),
    "jwt-missing": ("--jwt-key-file", None, "does not exist"),
    "keytab-not-a-keytab": ("--kerberos-keytab", b"KRB5 keytab? no", "is not a Kerberos keytab"),
    "keytab-missing": ("--kerberos-keytab", None, "does not exist"),
}


def assert_config_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 3, nothing on stdout, and one line on stderr holding every fragment."""
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("dicom-identity pacs: error: "), line
    for fragment in fragments:
        assert fragment in line, line


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_bad_input_file_exits_3_naming_it(case: str, tmp_path: Path, env: dict[str, str]) -> None:
    option, content, says = BAD_FILES[case]
    path = tmp_path / "input.file"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
        path.chmod(0o600)
    result = run_cli("pacs", "--port", "0", option, str(path), env=env, cwd=tmp_path)
    assert_config_error(result, f"{option} {str(path)!r}", says)


def test_an_unreadable_users_file_exits_3_naming_it(tmp_path: Path, env: dict[str, str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file of mode 000")
    path = tmp_path / "users.json"
    path.write_text('{"alice": "x"}')
    path.chmod(0)
    result = run_cli("pacs", "--port", "0", "--users-file", str(path), env=env, cwd=tmp_path)
    assert_config_error(result, f"--users-file {str(path)!r}", "permission denied")


def test_bad_tls_files_exit_3_naming_them(
    certs: CertificateFiles, tmp_path: Path, env: dict[str, str]
) -> None:
    other = make_certificates(tmp_path / "other")
    cert, key = str(certs.cert_file), str(certs.key_file)

    def pacs(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("pacs", "--port", "0", *args, env=env, cwd=tmp_path)

    mismatched = pacs("--tls-cert-file", cert, "--tls-key-file", str(other.key_file))
    assert_config_error(mismatched, cert, str(other.key_file), "not the certificate's own")
    missing = pacs("--tls-cert-file", str(tmp_path / "nope.pem"), "--tls-key-file", key)
    assert_config_error(missing, "--tls-cert-file", "nope.pem", "does not exist")
    swapped = pacs("--tls-cert-file", cert, "--tls-key-file", str(certs.ca_file))
    assert_config_error(swapped, f"--tls-key-file {str(certs.ca_file)!r}", "no PEM private key")
    no_key = pacs("--tls-cert-file", cert)
    assert_config_error(no_key, f"--tls-cert-file {cert!r}", "no --tls-key-file")
    bad_ca = pacs("--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-file", key)
    assert_config_error(bad_ca, f"--tls-ca-file {key!r}", "no PEM certificate")


# --- Its AE title -------------------------------------------------------------------------------


def test_a_wrong_called_ae_title_gets_the_standard_rejection(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with pacs_process(env=env, cwd=tmp_path) as pacs:
        wrong = echo(pacs, env=env, cwd=tmp_path, ae_title="WRONG")
        assert wrong.returncode == 8, wrong.stderr
        line = error_line(wrong.stderr)
        assert "called AE title" in line and "result 1, source 1, reason 7" in line
        seen = pacs.association_line()
        assert "rejected (1, 1, 7)" in seen
        assert "called AE title 'WRONG' not recognised" in seen

        right = echo(pacs, env=env, cwd=tmp_path)
        assert right.returncode == 0, right.stderr
        assert "ended released" in pacs.association_line()


def test_accept_any_ae_title(tmp_path: Path, env: dict[str, str]) -> None:
    with pacs_process("--accept-any-ae-title", env=env, cwd=tmp_path) as pacs:
        assert pacs.first_line.endswith(" as EMBEDDED_PACS (any called AE title)")
        result = echo(pacs, env=env, cwd=tmp_path, ae_title="WRONG")
        assert result.returncode == 0, result.stderr
        assert "status=0x0000" in result.stdout
        assert "ended released" in pacs.association_line()


def test_echoscu_sees_the_standard_rejection(tmp_path: Path, env: dict[str, str]) -> None:
    echoscu = require_program("echoscu", "dcmtk")
    with pacs_process(env=env, cwd=tmp_path) as pacs:

        def run(title: str) -> subprocess.CompletedProcess[str]:
            argv = [echoscu, "-v", "-aec", title, "127.0.0.1", str(pacs.port)]
            return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

        refused = run("WRONG")
        assert refused.returncode != 0
        said = refused.stdout + refused.stderr
        assert "Rejected Permanent, Source: Service User" in said
        assert "Called AE Title Not Recognized" in said
        assert "rejected (1, 1, 7)" in pacs.association_line()
        accepted = run(pacs.ae_title)
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr


# --- One copy per SOP Instance UID ---------------------------------------------------------------


def write_study(folder: Path, count: int) -> tuple[str, list[str]]:
    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    uids = []
    for n in range(count):
        dataset = ct_dataset(study_uid=study, series_uid=series, seed=n)
        dataset.save_as(folder / f"{n:02d}.dcm", enforce_file_format=True)
        uids.append(str(dataset.SOPInstanceUID))
    return study, uids


def test_a_study_stored_twice_is_retrieved_and_moved_once(
    tmp_path: Path, env: dict[str, str]
) -> None:
    study, uids = write_study(tmp_path / "study", 20)
    with (
        pacs_process("--ae-title", "DEST", env=env, cwd=tmp_path) as dest,
        pacs_process(
            "--move-destination", f"DEST=127.0.0.1:{dest.port}", env=env, cwd=tmp_path
        ) as pacs,
    ):
        peer = (pacs.address, "--ae-title", pacs.ae_title)
        for _ in range(2):
            stored = run_cli("store", *peer, str(tmp_path / "study"), "-r", env=env, cwd=tmp_path)
            assert stored.returncode == 0, stored.stderr
            assert "stored 20 of 20 files" in stored.stdout

        key = ("-k", f"StudyInstanceUID={study}")
        moved = run_cli("move", *peer, *key, "--destination", "DEST", env=env, cwd=tmp_path)
        assert moved.returncode == 0, moved.stderr
        assert re.search(r"\bcompleted=20 failed=0\b", moved.stdout), moved.stdout

        got = tmp_path / "got"
        fetched = run_cli("get", *peer, *key, "--output", str(got), env=env, cwd=tmp_path)
        assert fetched.returncode == 0, fetched.stderr
        assert re.search(r"\bcompleted=20 failed=0\b", fetched.stdout), fetched.stdout
        assert len(list(got.rglob("*.dcm"))) == 20

        images = ("--level", "IMAGE", *key, "-k", "SOPInstanceUID=")
        found = run_cli("find", *peer, *images, env=env, cwd=tmp_path)
        assert found.returncode == 0, found.stderr
        assert {uid: found.stdout.count(uid) for uid in uids} == dict.fromkeys(uids, 1)


# --- The same rules through EmbeddedPacs ---------------------------------------------------------


def test_storing_an_instance_again_replaces_the_stored_copy(tmp_path: Path) -> None:
    first = ct_dataset(seed=1)
    second = ct_dataset(study_uid=str(first.StudyInstanceUID), seed=2)
    second.SOPInstanceUID = second.file_meta.MediaStorageSOPInstanceUID = first.SOPInstanceUID
    other = ct_dataset(study_uid=str(first.StudyInstanceUID), seed=3)
    with EmbeddedPacs(storage_dir=tmp_path / "pacs") as pacs:
        client = Client(Peer(pacs.host, pacs.port, pacs.ae_title), timeouts=OPERATIONS)
        client.store(first, other)
        client.store(second)
        kept = {str(ds.SOPInstanceUID): bytes(ds.PixelData) for ds in pacs.datasets}
        assert kept == {
            str(first.SOPInstanceUID): bytes(second.PixelData),
            str(other.SOPInstanceUID): bytes(other.PixelData),
        }
        assert [str(ds.SOPInstanceUID) for ds in pacs.datasets][-1] == str(first.SOPInstanceUID)
        assert len(list((tmp_path / "pacs").glob("*.dcm"))) == 2
        moved = client.get({"StudyInstanceUID": str(first.StudyInstanceUID)})
        assert moved.completed == 2


def test_python_api_answers_only_to_its_ae_title_by_default() -> None:
    users = {"alice": PASSWORD}
    with EmbeddedPacs(users=users) as pacs:
        wrong = Client(
            Peer(pacs.host, pacs.port, "WRONG"),
            identity=PasswordProvider("alice", "not-the-password"),
            timeouts=OPERATIONS,
        )
        with pytest.raises(AssociationRejected) as rejected:
            wrong.echo()
        # The called AE title is checked first: the identity is never looked at.
        assert rejected.value.triple == (1, 1, 7)
        (record,) = pacs.wait_for_records(1)
        assert (record.rejected, record.verified, record.called_ae_title) == (
            (1, 1, 7),
            None,
            "WRONG",
        )
    with EmbeddedPacs(users=users, require_called_ae_title=False) as lenient:
        anyone = Client(
            Peer(lenient.host, lenient.port, "WRONG"),
            identity=PasswordProvider("alice", PASSWORD),
            timeouts=OPERATIONS,
        )
        assert anyone.echo() == 0x0000
        (record,) = lenient.wait_for_records(1)
        assert (record.verified, record.ended) == (True, "released")
