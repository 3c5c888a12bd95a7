"""Issue 14, finding 6: an answer that holds a secret we sent proves nothing, and is wiped.

0.4.1 compared the 59H server response with the primary field only, byte for byte: a peer that
answered a type 2 identity with our passcode, or a JWT with the token plus one byte, was counted
``confirmed`` under the default fail-closed policy, and the answer stayed on
``session.association`` (``str(session.association.acceptor.user_identity)`` printed it).

Now any answer that holds a secret we sent (the passcode; the token or ticket of types 3-5), raw
or in an encoding (base64 at any alignment, hex, URL-encoded), is ``echoed``, which the default
policy counts as missing (the association is aborted; exit 7 on the command line), and the
answer is wiped from pynetdicom's objects. The peer is a real pynetdicom SCP
(:class:`tests.text_peer.TextPeer`) whose EVT_USER_ID handler returns those bytes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import types
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, build_context
from pynetdicom.association import Association
from pynetdicom.pdu_primitives import UserIdentityNegotiation

from client_sdk import Client, MissingResponse, Peer, Policy, ServerResponseMissing
from providers import (
    IdentityExchange,
    IdentityRequest,
    IdentityType,
    JwtFileProvider,
    PasswordProvider,
    ResponseStatus,
    Secret,
)
from tests.conftest import AUDIENCE, make_jwt, write_token
from tests.installed_cli import run_cli
from tests.leak_search import find_leaks
from tests.text_peer import AE_TITLE, PASSCODE, PASSCODE_FLAGS, USER, TextPeer, cli_env
from tests.timeouts import LOCAL

VERIFICATION = "1.2.840.10008.1.1"

Answer = Callable[[bytes], bytes]  # the secret we sent -> what the peer answers

# Each answer holds the secret it is given; none is the secret alone except "as sent".
ECHOES: dict[str, Answer] = {
    "as sent": lambda secret: secret,
    "plus one byte": lambda secret: secret + b"x",
    "inside more bytes": lambda secret: b"OK:" + secret + b";",
    "base64": lambda secret: base64.b64encode(secret),
    "base64 at offset 1 in more": lambda secret: base64.b64encode(b"z" + secret + b"tail"),
    "base64url, no padding, offset 2": lambda secret: base64.urlsafe_b64encode(
        b"zz" + secret
    ).rstrip(b"="),
    "hex": lambda secret: secret.hex().encode(),
    "spaced HEX": lambda secret: secret.hex(" ").upper().encode(),
    "url-encoded": lambda secret: urllib.parse.quote(secret, safe="").encode(),
}


# --- the check itself (pure logic) ----------------------------------------------------------


@pytest.mark.parametrize("form", sorted(ECHOES))
@pytest.mark.parametrize("kind", [IdentityType.USERNAME_PASSCODE, IdentityType.JWT])
def test_every_form_of_a_secret_we_sent_is_an_echo(form: str, kind: IdentityType) -> None:
    request = _request(kind)
    check = IdentityExchange(request).complete(ECHOES[form](_sent_secret(kind)))
    assert check.status is ResponseStatus.ECHOED and check.echoed, form


@pytest.mark.parametrize(
    "answer",
    [b"", b"OK", USER.encode(), b"a response that is not ours", b"s3cret-Passcode-7"],
    ids=["empty", "ok", "the username", "other text", "all but the last character"],
)
def test_an_answer_without_a_secret_we_sent_is_not_an_echo(answer: bytes) -> None:
    """The control: the username is not a secret, and a near miss is not the passcode."""
    check = IdentityExchange(_request(IdentityType.USERNAME_PASSCODE)).complete(answer)
    expected = ResponseStatus.EMPTY if not answer else ResponseStatus.UNVERIFIED
    assert check.status is expected and not check.echoed


# --- a real peer, through the Python API ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "form"),
    [
        (IdentityType.USERNAME_PASSCODE, "as sent"),
        (IdentityType.USERNAME_PASSCODE, "base64"),
        (IdentityType.USERNAME_PASSCODE, "spaced HEX"),
        (IdentityType.JWT, "plus one byte"),
        (IdentityType.JWT, "base64 at offset 1 in more"),
    ],
)
def test_an_echo_aborts_by_default_and_leaves_nothing(
    kind: IdentityType, form: str, tmp_path: Path
) -> None:
    with TextPeer(answer=_answer_with(kind, ECHOES[form])) as peer:
        client, secret = _client(peer, kind, tmp_path)
        with pytest.raises(ServerResponseMissing) as info:
            client.associate(sop_classes=[VERIFICATION])
    error = info.value
    assert error.advice is not None and error.advice.echoed
    assert "echoing our own token or passcode" in str(error) and "aborted" in str(error)
    assert not find_leaks(f"{error}\n{error!r}\n{error.args}", [secret])
    # The association the flow aborted, as an error reporter reaches it (the frames' locals).
    frames = _frames(error)
    (assoc,) = {id(v): v for f in frames for v in f.values() if isinstance(v, Association)}.values()
    assert assoc.is_aborted
    text, visited = reachable_text([assoc])
    assert _where_pynetdicom_keeps_it(assoc) <= visited
    assert not find_leaks(text, [secret])
    # No SDK frame keeps the answer (or the secret) as a local of its own.
    for local in (v for f in frames for v in f.values() if isinstance(v, bytes | str)):
        shown = local.decode("latin-1") if isinstance(local, bytes) else local
        assert not find_leaks(shown, [secret])


@pytest.mark.parametrize("kind", [IdentityType.USERNAME_PASSCODE, IdentityType.JWT])
def test_an_echo_let_through_by_the_policy_is_still_wiped(
    kind: IdentityType, tmp_path: Path
) -> None:
    with TextPeer(answer=_answer_with(kind, ECHOES["plus one byte"])) as peer:
        client, secret = _client(peer, kind, tmp_path, missing=MissingResponse.WARN)
        with client.associate(sop_classes=[VERIFICATION]) as session:
            assert session.outcome.status is ResponseStatus.ECHOED
            assert session.outcome.decision.value == "warn"
            assert session.echo() == 0x0000
            answer = session.association.acceptor.user_identity
            assert answer is not None and answer.server_response == b"[wiped]"
            assert not find_leaks(str(answer), [secret])  # 0.4.1 printed the echo here
            # Nothing reachable from the association holds it (no Secret either) ...
            text, visited = reachable_text([session.association])
            assert _where_pynetdicom_keeps_it(session.association) <= visited
            assert not find_leaks(text, [secret])
            # ... nor from the session, which keeps the identity's secrets only as Secret
            # values (its peer_text scrubs what the peer says; a Secret shows nothing).
            text, _ = reachable_text([session], opaque=(Secret,))
            assert not find_leaks(f"{text}\n{session!r}", [secret])


def test_the_walk_finds_what_pynetdicom_keeps(tmp_path: Path) -> None:
    """The control of the walk: a raw pynetdicom association to the same echoing peer keeps
    our passcode (on the request it sent, and on the answer); the walk finds both."""
    with TextPeer(answer=lambda kind, primary, secondary: b"=" + secondary) as peer:
        ae = AE("RAW")
        ae.acse_timeout = ae.network_timeout = 5
        item = UserIdentityNegotiation()
        item.user_identity_type = 2
        item.positive_response_requested = True
        item.primary_field = USER.encode()
        item.secondary_field = PASSCODE.encode()
        assoc = ae.associate(
            "127.0.0.1", peer.port, [build_context(VERIFICATION)], AE_TITLE, ext_neg=[item]
        )
        assert assoc.is_established
        del item  # only the association keeps it now
        try:
            answer = assoc.acceptor.user_identity
            assert answer is not None and answer.server_response == b"=" + PASSCODE.encode()
            text, _ = reachable_text([assoc])
            assert text.count(PASSCODE) >= 2
            answer.server_response = b""
            text, _ = reachable_text([assoc])
            assert PASSCODE in text  # the request primitive still holds it
        finally:
            assoc.release()


# --- the installed command line ---------------------------------------------------------------


@pytest.mark.parametrize("kind", [IdentityType.USERNAME_PASSCODE, IdentityType.JWT])
@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_the_cli_exits_7_on_an_echo(kind: IdentityType, json_output: bool, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    if kind is IdentityType.JWT:
        token = make_jwt()
        write_token(tmp_path / "token.jwt", token)
        flags: tuple[str, ...] = ("--jwt-file", str(tmp_path / "token.jwt"))
        secret = token
    else:
        flags, secret = PASSCODE_FLAGS, PASSCODE
    with TextPeer(answer=_answer_with(kind, ECHOES["base64 at offset 1 in more"])) as peer:
        args = ["echo", peer.address, "--ae-title", AE_TITLE, *flags, "--pos-response"]
        result = run_cli(*(["--json"] if json_output else []), *args, env=env, cwd=tmp_path)
        assert peer.identities, "the peer got the identity"
    assert result.returncode == 7, result.stderr
    assert not find_leaks(result.stdout + result.stderr, [secret])
    (line,) = result.stderr.splitlines()
    assert line.startswith("dicom-identity: error (ServerResponseMissing): ")
    assert "echoing our own token or passcode" in line
    if json_output:
        (event,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert event["event"] == "error" and event["exit_code"] == 7
    else:
        assert result.stdout == ""


# --- helpers ----------------------------------------------------------------------------------


def _request(kind: IdentityType) -> IdentityRequest:
    if kind is IdentityType.USERNAME_PASSCODE:
        return IdentityRequest(kind, Secret(USER), Secret(PASSCODE), True, principal=USER)
    return IdentityRequest(kind, Secret(_TOKEN), None, True, principal=USER)


_TOKEN = make_jwt(lifetime=6 * 3600)  # outlives the run


def _sent_secret(kind: IdentityType) -> bytes:
    return PASSCODE.encode() if kind is IdentityType.USERNAME_PASSCODE else _TOKEN.encode()


def _answer_with(kind: IdentityType, echo: Answer) -> Callable[[int, bytes, bytes], bytes]:
    """The peer's EVT_USER_ID answer: ``echo`` of the secret it received."""

    def answer(identity_type: int, primary: bytes, secondary: bytes) -> bytes:
        return echo(secondary if kind is IdentityType.USERNAME_PASSCODE else primary)

    return answer


def _client(
    peer: TextPeer,
    kind: IdentityType,
    tmp_path: Path,
    missing: MissingResponse = MissingResponse.ABORT,
) -> tuple[Client, bytes]:
    """A client with a type 2 or type 5 identity for ``peer``, and the secret it sends."""
    if kind is IdentityType.USERNAME_PASSCODE:
        identity: Any = PasswordProvider(USER, PASSCODE, positive_response=True)
        secret = PASSCODE
    else:
        secret = make_jwt()
        path = write_token(tmp_path / "token.jwt", secret)
        identity = JwtFileProvider(path, audience=AUDIENCE, positive_response=True)
    client = Client(
        Peer("127.0.0.1", peer.port, AE_TITLE),
        identity=identity,
        policy=Policy(missing_response=missing),
        timeouts=LOCAL,
    )
    return client, secret.encode()


def _frames(error: BaseException) -> list[dict[str, Any]]:
    """The locals of the SDK's and pynetdicom's frames in ``error``'s traceback (not this
    test's own frames, which hold the secret on purpose)."""
    found = []
    tb = error.__traceback__
    while tb is not None:
        if "/tests/" not in tb.tb_frame.f_code.co_filename:
            found.append(dict(tb.tb_frame.f_locals))
        tb = tb.tb_next
    return found


_LEAVES = (int, float, complex, bool, type(None), range)
_NOT_STATE = (
    types.ModuleType,
    type,
    types.BuiltinFunctionType,
    types.CodeType,
    logging.Logger,
    logging.Manager,
)


def reachable_text(
    roots: Iterable[object],
    *,
    opaque: tuple[type, ...] = (),
    depth: int = 14,
    budget: int = 300_000,
) -> tuple[str, set[int]]:
    """``repr``, ``str`` and every text or bytes value reachable from ``roots`` through
    attributes (``vars`` and ``__slots__``), containers, bound methods and closures, breadth
    first and bounded; and the ids of the objects visited. ``opaque``: types whose ``repr`` is
    taken but whose insides are not read (a ``Secret`` held on purpose)."""
    seen: set[int] = set()
    parts: list[str] = []
    queue: deque[tuple[object, int]] = deque((root, 0) for root in roots)
    while queue:
        obj, level = queue.popleft()
        if id(obj) in seen or isinstance(obj, _LEAVES + _NOT_STATE):
            continue
        seen.add(id(obj))
        assert len(seen) < budget, "the walk did not end within its budget"
        if isinstance(obj, bytes | bytearray | memoryview):
            parts.append(bytes(obj).decode("latin-1"))
            continue
        if isinstance(obj, str):
            parts.append(obj)
            continue
        for show in (repr, str):
            with contextlib.suppress(Exception):  # a repr that fails shows nothing either
                parts.append(show(obj))
        if level < depth and not isinstance(obj, opaque):
            queue.extend((child, level + 1) for child in _children(obj))
    return "\n".join(parts), seen


def _where_pynetdicom_keeps_it(assoc: Association) -> set[int]:
    """The objects that hold the identity items and PDUs: the walk must reach each."""
    answer, request = assoc.acceptor.user_identity, assoc.requestor.primitive
    assert answer is not None and request is not None and assoc.acceptor.primitive is not None
    held = [answer, request, request.user_information, assoc.acceptor.primitive, assoc.dul]
    return {id(obj) for obj in (*held, assoc.dul._recv_pdu, assoc.dul.to_user_queue)}


def _children(obj: object) -> list[object]:
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset | deque):
        return list(obj)
    if isinstance(obj, types.MethodType):
        return [obj.__self__, obj.__func__]
    if isinstance(obj, types.FunctionType):
        return [cell.cell_contents for cell in obj.__closure__ or () if _filled(cell)]
    found: list[object] = []
    with contextlib.suppress(TypeError):  # no __dict__
        found.extend(vars(obj).values())
    for cls in type(obj).__mro__:
        slots = getattr(cls, "__slots__", ())
        for name in [slots] if isinstance(slots, str) else slots:
            with contextlib.suppress(AttributeError):
                found.append(getattr(obj, name))
    return found


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True
