"""KeyringPasswordProvider against a real GNOME Keyring (Secret Service over D-Bus).

The test runs a child Python inside a private D-Bus session with an unlocked, headless
gnome-keyring-daemon (secrets component only), HOME and the XDG folders in tmp so no real keyring
is touched:

    dbus-run-session -- sh -c 'printf %s "$UNLOCK" | gnome-keyring-daemon --unlock
                               --components=secrets >/dev/null; exec python child.py'

The child stores the password with ``keyring.set_password`` through the SecretService backend,
then the SDK reads it with ``KeyringPasswordProvider`` and an embedded PACS that knows the user
verifies it. The child prints one ``RESULT {json}`` line; this test asserts on it, on the child's
log (pynetdicom's DEBUG dump included: no password anywhere), and that gnome-keyring-daemon ends
with the D-Bus session.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import poll, require_program
from tests.orthanc_peer import LoggedProcess

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parent.parent
BACKEND = "keyring.backends.SecretService.Keyring"
CHILD_TIMEOUT = 25.0

CHILD = r"""
import json, logging, sys

import keyring
import pynetdicom
from jeepney import DBusAddress, new_method_call
from jeepney.io.blocking import open_dbus_connection

from client_sdk import Client, Peer, Timeouts
from client_sdk.testing import EmbeddedPacs
from providers import KeyringPasswordProvider

logging.basicConfig(level=logging.DEBUG, stream=sys.stdout)
pynetdicom.debug_logger()  # the dump that would show a password, if anything leaked
service, user, password_file = sys.argv[1:4]
with open(password_file, encoding="utf-8") as fh:
    password = fh.read()

backend = keyring.get_keyring()
keyring.set_password(service, user, password)
stored_back = keyring.get_password(service, user) == password

timeouts = Timeouts(connect=5, acse=5, dimse=5, network=5)
with EmbeddedPacs(users={user: password}) as pacs:
    client = Client(
        Peer(pacs.host, pacs.port, pacs.ae_title),
        identity=KeyringPasswordProvider(service, user, positive_response=True),
        timeouts=timeouts,
    )
    echo_status = client.echo()
    with client.associate() as session:
        outcome = session.outcome
        session_status = session.echo()
    records = pacs.wait_for_records(2)

# Which process owns the Secret Service name on this bus: gnome-keyring-daemon.
with open_dbus_connection(bus="SESSION") as bus:
    dbus = DBusAddress(
        "/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus"
    )
    owner = bus.send_and_get_reply(
        new_method_call(dbus, "GetConnectionUnixProcessID", "s", ("org.freedesktop.secrets",))
    ).body[0]
with open(f"/proc/{owner}/comm") as fh:
    owner_name = fh.read().strip()

result = {
    "backend": f"{type(backend).__module__}.{type(backend).__qualname__}",
    "stored_back": stored_back,
    "echo_status": echo_status,
    "session_status": session_status,
    "source": outcome.source,
    "principal": outcome.principal,
    "decision": outcome.decision.value,
    "records": [
        {
            "identity_type": r.identity_type,
            "principal": r.principal,
            "verified": r.verified,
            "response_sent": r.response_sent,
            "ended": r.ended,
            "dimse": r.dimse,
        }
        for r in records
    ],
    "secret_service_pid": owner,
    "secret_service_comm": owner_name,
}
print("RESULT " + json.dumps(result), flush=True)
"""


def _private_dirs(base: Path) -> dict[str, str]:
    """HOME and XDG folders for the child: gnome-keyring writes its keyring under them."""
    dirs = {
        "HOME": base / "home",
        "XDG_DATA_HOME": base / "home" / ".local" / "share",
        "XDG_CONFIG_HOME": base / "home" / ".config",
        "XDG_CACHE_HOME": base / "home" / ".cache",
        "XDG_RUNTIME_DIR": base / "run",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {key: str(path) for key, path in dirs.items()}


def _alive(pid: int) -> bool:
    """Running and not a zombie (a zombie has ended; its parent or init reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def keyring_session(tmp_path: Path) -> Iterator[tuple[LoggedProcess, str, str, str]]:
    """The child in its own D-Bus session; killed (whole process group) at teardown."""
    dbus_run_session = require_program("dbus-run-session", "dbus")
    daemon = require_program("gnome-keyring-daemon", "gnome-keyring")
    service = f"dicom-identity-interop-{secrets.token_hex(4)}"
    user = "alice"
    password = f"keyring-pass-{secrets.token_hex(12)}"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    # Through a 0600 file, not the environment that gnome-keyring-daemon would inherit too.
    password_file = tmp_path / "password"
    password_file.touch(mode=0o600)
    password_file.write_text(password, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHON_KEYRING_BACKEND": BACKEND,
        "UNLOCK": f"unlock-{secrets.token_hex(8)}",  # the throwaway login keyring's password
        **_private_dirs(tmp_path),
    }
    shell = (
        f'printf %s "$UNLOCK" | {daemon} --unlock --components=secrets >/dev/null; '
        f'unset UNLOCK; exec "$0" "$@"'
    )
    argv = [dbus_run_session, "--", "sh", "-c", shell, sys.executable, str(script)]
    argv += [service, user, str(password_file)]
    child = LoggedProcess(argv, tmp_path / "child.log", env=env, cwd=ROOT)
    try:
        yield child, service, user, password
    finally:
        child.stop(timeout=5)


def test_keyring_password_from_gnome_keyring_is_accepted(
    keyring_session: tuple[LoggedProcess, str, str, str],
) -> None:
    child, service, user, password = keyring_session
    child.start()
    try:
        status = child.proc.wait(timeout=CHILD_TIMEOUT) if child.proc is not None else None
    except subprocess.TimeoutExpired:
        child.stop(timeout=5)
        pytest.fail(f"the child did not finish within {CHILD_TIMEOUT} s\n{child.describe()}")
    log = child.log()
    assert status == 0, child.describe()
    lines = [line for line in log.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, child.describe()
    result = json.loads(lines[0].removeprefix("RESULT "))
    where = f"{json.dumps(result, indent=2)}\n{child.describe()}"

    assert result["backend"] == BACKEND, where
    assert result["stored_back"] is True, where
    assert result["echo_status"] == 0, where
    assert result["session_status"] == 0, where
    # The request names where the secret came from: the SecretService backend, and the service.
    assert result["source"] == f"keyring {BACKEND} service={service!r}", where
    assert result["principal"] == user, where
    assert result["decision"] == "confirmed", where
    for record in result["records"]:
        assert record["identity_type"] == 2, where
        assert record["principal"] == user, where
        assert record["verified"] is True, where
        assert record["response_sent"] == "empty", where
        assert record["ended"] == "released", where
        assert record["dimse"] == ["C-ECHO"], where
    assert len(result["records"]) == 2, where
    # Nothing the child printed (pynetdicom's DEBUG dump included) holds the password.
    assert password not in log, f"password found in the child's output\n{child.log_path}"

    # gnome-keyring-daemon served the secret, and it does not outlive the D-Bus session.
    assert result["secret_service_comm"].startswith("gnome-keyring"), where
    pid = int(result["secret_service_pid"])
    try:
        poll(lambda: not _alive(pid), timeout=10, what=f"gnome-keyring-daemon (pid {pid}) to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: it outlived its D-Bus session\n{where}") from None
