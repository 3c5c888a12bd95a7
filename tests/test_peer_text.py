"""Issue 14, finding 5: what a peer says is scrubbed, made one line and cut before it is shown.

0.4.1 put a DIMSE Error Comment as it came into the exception, the CLI's stderr and its
``--json`` error event: a peer that answered with our passcode and a newline showed the passcode
and forged a second line that looked like a success (``C-ECHO: ... decision=confirmed
status=0x0000``). The C-FIND identifiers the CLI prints, failed-instance UIDs and the errors of
C-GET sub-operations went the same way.

Now every such value goes through :func:`client_sdk._peer_text.shown`: the association's secrets
(and those in flight) removed in every encoding, one printable line, cut to its VR's length. The
peer here is a real pynetdicom SCP (:class:`tests.text_peer.TextPeer`); the command line is the
installed one, run from a folder outside the checkout.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import generate_uid

from client_sdk import Client, DimseFailure, Peer
from client_sdk._peer_text import VR_LENGTHS, PeerText, shown
from client_sdk._pynetdicom.log_redaction import redacting
from client_sdk.testing import ct_dataset
from client_sdk.testing._contexts import move_contexts
from providers import JwtFileProvider, PasswordProvider, Secret
from tests.conftest import AUDIENCE, make_jwt, write_token
from tests.installed_cli import run_cli
from tests.leak_search import find_leaks, secret_forms
from tests.text_peer import (
    AE_TITLE,
    FORGED,
    PASSCODE,
    PASSCODE_FLAGS,
    USER,
    TextPeer,
    cli_env,
    failure,
)
from tests.timeouts import LOCAL

TOKEN = make_jwt(lifetime=6 * 3600)  # outlives the run
HOSTILE = PASSCODE + FORGED  # our passcode, then a newline and a forged success line
SHORT_HOSTILE = PASSCODE + "\nC-ECHO: decision=confirmed"
CONTROLS = "\r\n\x1b[2J\x00\x07\x85\u2028\u202e"  # CR LF ESC NUL BEL NEL LS RLO


# --- the mechanism (pure logic) ---------------------------------------------------------------


@pytest.mark.parametrize("secret", [PASSCODE, "pässwörd-ü", TOKEN], ids=["ascii", "utf-8", "jwt"])
def test_every_form_of_a_secret_is_removed(secret: str) -> None:
    forms = _planted(secret.encode())
    assert len(forms) >= 15
    for name, form in forms.items():
        text = f"refused{CONTROLS}{form} try again"
        assert _leaks(text, secret, form), f"control: the search finds {name}"
        for vr in ("LO", "ST", "UT"):
            result = shown(text, vr, [Secret(secret)])
            assert not _leaks(result, secret, form), (name, vr, result)
            assert "[redacted]" in result, (name, vr)


def test_a_secret_longer_than_the_vr_leaves_no_part_behind() -> None:
    """Scrubbed before it is cut: a JWT in a 64-character LO is removed whole, not cut to its
    first 61 characters (its header and the start of its claims)."""
    result = shown(TOKEN + FORGED, "LO", [Secret(TOKEN)])
    assert result.startswith("[redacted]") and len(result) <= 64
    assert TOKEN[:20] not in result and TOKEN.split(".")[2][:8] not in result


@pytest.mark.parametrize("vr", sorted(VR_LENGTHS))
def test_one_printable_line_of_the_vr_length(vr: str) -> None:
    result = shown((CONTROLS + "x" * 50) * 300, vr)
    assert len(result) <= VR_LENGTHS[vr] and result.endswith("...")
    assert result.isprintable() and len(result.splitlines()) == 1


def test_values_of_every_kind() -> None:
    uids = MultiValue(str, ["1.2.3", PASSCODE, "1.2." + PASSCODE[:5], "9" * 80])
    assert shown(uids, "UI", [Secret(PASSCODE)]) == f"1.2.3\\[redacted]\\1.2.s3cre\\{'9' * 61}..."
    # A secret split over two values: the whole element is withheld.
    split = MultiValue(str, ["before", PASSCODE[:9], PASSCODE[9:]])
    assert shown(split, "LO", [Secret(PASSCODE)]) == "[redacted]"
    assert shown(list(range(40)), "US").endswith("\\...")
    assert shown(b"\x00" * 5000, "OB") == "<5000 bytes>"
    assert shown(None, "LO") == ""
    assert shown(PASSCODE.encode() + b"\xff\n", "LO", [Secret(PASSCODE)]) == "[redacted]\ufffd "


def test_secrets_in_flight_are_removed_too() -> None:
    with redacting([PASSCODE.encode()]):
        assert shown(HOSTILE, "ST").startswith("[redacted] C-ECHO: ")
    assert shown(HOSTILE, "ST").startswith(PASSCODE)  # the control: nothing given, none in flight


def test_peer_text_shows_no_secret() -> None:
    text = PeerText([Secret(PASSCODE), Secret(TOKEN)])
    assert repr(text) == "PeerText(...)" and PASSCODE not in str(text)
    ds = Dataset()
    ds.PatientName = HOSTILE
    ds.StudyDescription = base64.b64encode(b"x" + TOKEN.encode()).decode()
    fields = text.fields(ds)
    assert fields["PatientName"].startswith("[redacted] C-ECHO: ")
    assert not find_leaks(json.dumps(fields), [PASSCODE, TOKEN])


# --- a real peer, through the Python API ------------------------------------------------------


def test_error_comments_of_echo_store_and_find(tmp_path: Path) -> None:
    matches: list[tuple[Any, Dataset | None]] = [(failure(0xC001, _b64_inside(PASSCODE)), None)]
    with (
        TextPeer(
            echo=lambda: failure(0xC000, HOSTILE),
            store=lambda: failure(0xA700, CONTROLS + PASSCODE.encode().hex(" ")),
            find=lambda: iter(matches),
        ) as peer,
        _client(peer).associate() as session,
    ):
        errors = [
            _raised(session.echo),
            _raised(lambda: session.store(ct_dataset())),
            _raised(lambda: session.find({"PatientID": "*"})),
        ]
        assert session.is_open  # a failure status ends the operation, not the association
    for error, status in zip(errors, (0xC000, 0xA700, 0xC001), strict=True):
        message = str(error)
        assert error.status == status and "[redacted]" in message
        assert message.isprintable() and len(message) < 400, message
        assert not find_leaks(f"{message}\n{error!r}\n{error.args}", [PASSCODE])
    assert "failed with status 0xC000 ([redacted] C-ECHO: peer=TEXT_PEER" in str(errors[0])


def test_a_token_in_an_error_comment(tmp_path: Path) -> None:
    path = write_token(tmp_path / "token.jwt", TOKEN)
    identity = JwtFileProvider(path, audience=AUDIENCE)
    hostile = TextPeer(echo=lambda: failure(0xC000, TOKEN + FORGED))
    with hostile as peer, _client(peer, identity).associate() as session:
        error = _raised(session.echo)
    assert "([redacted] C-ECHO: " in str(error)
    assert not find_leaks(str(error), [TOKEN]) and TOKEN[:20] not in str(error)


def test_offending_elements_are_named_as_tags() -> None:
    status = failure(0x0106, "")
    status.OffendingElement = [0x00100010, 0x00100020]
    with TextPeer(store=lambda: status) as peer, _client(peer).associate() as session:
        error = _raised(lambda: session.store(ct_dataset()))
    assert "(offending element (0010,0010), (0010,0020))" in str(error)


def test_get_sub_operations_and_failed_instances(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer that sends an instance whose SOP Instance UID is our passcode and a forged line:
    the local error, its log line and the failed-instance list show it scrubbed, on one line."""
    good, bad = ct_dataset(), ct_dataset()
    bad.SOPInstanceUID = SHORT_HOSTILE  # pynetdicom sends no UID over 64 characters

    def get() -> Iterator[Any]:
        yield 2
        yield 0xFF00, good
        yield 0xFF00, bad

    logged = caplog.at_level(logging.WARNING, logger="client_sdk")
    with TextPeer(get=get) as peer, _client(peer).associate(retrieve=True) as session, logged:
        result = session.get({"PatientID": "*"}, output_dir=tmp_path / "got")
    assert (result.status, result.completed, result.failed) == (0xB000, 1, 1)
    (listed,) = result.failed_instances
    assert listed == "[redacted] C-ECHO: decision=confirmed"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("client_sdk")]
    (logged,) = [message for message in ours if "sub-operation failed" in message]
    assert "instance '[redacted] C-ECHO: decision=confirmed' refused" in logged
    assert logged.isprintable() and not find_leaks("\n".join(ours) + repr(result), [PASSCODE])


def test_get_and_move_final_failures(tmp_path: Path) -> None:
    listed = Dataset()
    listed.FailedSOPInstanceUIDList = [HOSTILE, generate_uid()]

    def get() -> Iterator[Any]:
        yield 1
        yield failure(0xA702, HOSTILE), listed

    def move() -> Iterator[Any]:
        yield "127.0.0.1", peer.port, {"contexts": move_contexts([])}
        yield 1
        yield failure(0xA702, HOSTILE), listed

    with TextPeer(get=get, move=move) as peer:
        with _client(peer).associate(retrieve=True) as session:
            got = _raised(lambda: session.get({"PatientID": "*"}))
        with _client(peer).associate() as session:
            moved = _raised(lambda: session.move({"PatientID": "*"}, destination=AE_TITLE))
    for error in (got, moved):
        assert "([redacted] C-ECHO: " in str(error) and str(error).isprintable()
        assert not find_leaks(str(error), [PASSCODE])


# --- the installed command line ---------------------------------------------------------------


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_cli_echo_and_store_errors_forge_no_line(json_output: bool, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    dicom = tmp_path / "ct.dcm"
    ct_dataset().save_as(dicom, enforce_file_format=True)
    with TextPeer(
        echo=lambda: failure(0xC000, HOSTILE), store=lambda: failure(0xA700, HOSTILE)
    ) as peer:
        echo = _cli(env, tmp_path, json_output, "echo", peer.address, *PASSCODE_FLAGS)
        store = _cli(env, tmp_path, json_output, "store", peer.address, *PASSCODE_FLAGS, str(dicom))
    assert echo.returncode == store.returncode == 9, (echo.stderr, store.stderr)
    for result in (echo, store):
        out, err = result.stdout.splitlines(), result.stderr.splitlines()
        assert not find_leaks(result.stdout + result.stderr, [PASSCODE])
        assert not [line for line in out + err if line.startswith("C-ECHO:")], "a forged line"
        assert "[redacted] C-ECHO: peer=TEXT_PEER" in result.stdout + result.stderr
        assert err[-1].startswith("dicom-identity: error (")
        if json_output:
            assert all(isinstance(json.loads(line), dict) for line in out)
    # Exactly the lines of a failed echo and store, and no more (a newline would add one).
    assert len(echo.stderr.splitlines()) == len(store.stderr.splitlines()) == 1
    assert len(echo.stdout.splitlines()) == (1 if json_output else 0)
    # The file's result, the association, the summary (and with --json the error event).
    assert len(store.stdout.splitlines()) == (4 if json_output else 3)


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_cli_find_matches_forge_no_line(json_output: bool, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    first, second = Dataset(), Dataset()
    first.QueryRetrieveLevel = second.QueryRetrieveLevel = "STUDY"
    first.PatientName = HOSTILE
    first.StudyInstanceUID = "1.2.3"
    second.StudyDescription = CONTROLS + _b64_inside(PASSCODE)
    second.StudyInstanceUID = PASSCODE
    matches = [(0xFF00, first), (0xFF00, second)]
    with TextPeer(find=lambda: iter(matches)) as peer:
        args = ("find", peer.address, *PASSCODE_FLAGS, "-k", "PatientName=*")
        result = _cli(env, tmp_path, json_output, *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert not find_leaks(result.stdout, [PASSCODE])
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines  # the association, then one line per match
    if json_output:
        events = [json.loads(line) for line in lines]
        assert [e["event"] for e in events] == ["association", "match", "match"]
        assert events[1]["PatientName"].startswith("[redacted] C-ECHO: ")
        assert events[2]["StudyInstanceUID"] == "[redacted]"
    else:
        assert lines[0].startswith("C-FIND: ") and "matches=2" in lines[0]
        assert lines[1].startswith("  ") and "PatientName=[redacted] C-ECHO: " in lines[1]
        assert lines[2].startswith("  ") and "StudyInstanceUID=[redacted]" in lines[2]


# --- helpers ----------------------------------------------------------------------------------


def _client(peer: TextPeer, identity: Any = None) -> Client:
    return Client(
        Peer("127.0.0.1", peer.port, AE_TITLE),
        identity=identity or PasswordProvider(USER, PASSCODE),
        timeouts=LOCAL,
    )


def _raised(call: Any) -> DimseFailure:
    with pytest.raises(DimseFailure) as info:
        call()
    return info.value


def _planted(secret: bytes) -> dict[str, str]:
    """Texts a peer could send that hold ``secret``: each form the leak search knows, with
    the base64 ones inside a longer base64 text at each alignment (as a peer would send it)."""
    known = secret_forms(secret).items()
    forms = {name: form for name, form in known if not name.endswith(("0", "1", "2"))}
    for offset in (0, 1, 2):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            blob = encode(b"x" * offset + secret + b"tail").decode()
            forms[f"{encode.__name__} at offset {offset}"] = blob
            forms[f"{encode.__name__} at offset {offset}, unpadded"] = blob.rstrip("=")
    forms["json"] = json.dumps(secret.decode("utf-8"))
    return forms


def _leaks(text: str, secret: str, form: str) -> bool:
    """The leak search, and the planted form itself (the search knows no JSON escapes)."""
    return bool(find_leaks(text, [secret])) or form.strip('"') in text


def _b64_inside(secret: str) -> str:
    return "token=" + base64.b64encode(b"ab" + secret.encode() + b"cd").decode()


def _cli(env: dict[str, str], cwd: Path, json_output: bool, *args: str) -> Any:
    command, address, *rest = args
    flags = ["--json"] if json_output else []
    return run_cli(*flags, command, address, "--ae-title", AE_TITLE, *rest, env=env, cwd=cwd)
