"""A hostile token endpoint (issue 14, findings 1 and 3): what it says never brings a secret out,
and it cannot hold the client past one deadline.

Everything runs against a real HTTP server on 127.0.0.1 (:class:`tests.token_server.TokenServer`;
a :class:`RawReply` writes any bytes, status line and headers included, optionally a byte at a
time) and a real file keyring. What the SDK shows is searched for every secret of the exchange
(the client secret, the tokens) in every encoding: raw, its UTF-8 read as Latin-1, URL/form
encoded (either case of ``%XX``), hex, base64 and base64url (padded or not, at the three
alignments inside a longer text), and the ``repr``/``ascii``/JSON escapes. The search is this
module's own, not the scrubber's, and a control proves that it finds each form.

Searched: the error's ``str``, ``repr``, args and attributes, every error chained to it
(``__cause__``, ``__context__``), its traceback formatted with every frame's locals
(``traceback.TracebackException(capture_locals=True)``), every log record of every logger at
DEBUG (the early-refresh WARNING included), and the installed CLI's stdout and stderr with
``--json --debug``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from providers import CredentialError, Target, TokenEndpointProvider, TokenEndpointUnreachable
from providers._token_http import MAX_RESPONSE_BYTES
from tests.conftest import free_port, poll
from tests.hypothesis_profiles import examples
from tests.installed_cli import run_cli
from tests.token_echoes import A_JWT, CLIENT_ID, CLIENT_SECRET, ECHOES, JWT_KEY, SERVICE, T0, answer
from tests.token_server import RawReply, Reply, TokenServer

DEADLINE = 0.5  # the provider's timeout: one exchange, connect to the last byte
BOUND = DEADLINE + 1.5  # what a call may take, on a loaded machine
_MIN_BASE64 = 8  # shorter base64 fragments would match by chance


# --- the search -------------------------------------------------------------------------------


def _base64_parts(secret: bytes) -> Iterator[str]:
    """The 4-character groups made of secret bytes only, at each alignment in a longer text."""
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(secret).decode()
        yield whole
        yield whole.rstrip("=")
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + secret).decode()
            first = 1 if offset else 0
            part = encoded[first * 4 : (offset + len(secret)) // 3 * 4]
            if len(part) >= _MIN_BASE64:
                yield part


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), text)


def encodings(secret: str) -> dict[str, str]:
    """Every form of ``secret`` searched for, by name."""
    raw = secret.encode()
    quoted = urllib.parse.quote(raw, safe="")
    plus = urllib.parse.quote_plus(secret)
    forms = {
        "raw": secret,
        "UTF-8 read as Latin-1": raw.decode("latin-1"),
        "URL-encoded": quoted,
        "URL-encoded, lower case": _lower_escapes(quoted),
        "form-encoded": plus,
        "form-encoded, lower case": _lower_escapes(plus),
        "URL-encoded path": urllib.parse.quote(secret),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "spaced hex": raw.hex(" "),
        "repr": repr(secret)[1:-1],
        "ascii": ascii(secret)[1:-1],
        "JSON": json.dumps(secret)[1:-1],
        "bytes repr": repr(raw)[2:-1],
    }
    for index, part in enumerate(_base64_parts(raw)):
        forms[f"base64 #{index}"] = part
    return forms


def find_leaks(text: str, secrets: list[str]) -> list[str]:
    squeezed = "".join(text.split()).lower()
    found = [
        f"secret #{index} as {name}"
        for index, secret in enumerate(secrets)
        for name, form in encodings(secret).items()
        if form in text
    ]
    found += [f"secret #{i} as hex" for i, s in enumerate(secrets) if s.encode().hex() in squeezed]
    return found


def test_the_search_finds_every_form() -> None:
    """No server: the control of this module's own search."""
    for secret in (CLIENT_SECRET, "a.JWT-like_token.value"):
        for name, form in encodings(secret).items():
            assert find_leaks(f"before {form} after", [secret]), name
        for offset in (0, 1, 2):
            blob = base64.b64encode(b"x" * offset + secret.encode() + b"tail").decode()
            assert find_leaks(f"token={blob}", [secret]), f"base64 at offset {offset}"
        clean = " ".join(encodings("another value, the same shape").values())
        assert find_leaks(clean, [secret]) == []


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter()
        return "\n".join(formatter.format(r) + repr(r.args) for r in self.records)


@pytest.fixture(scope="module")
def records() -> Iterator[Records]:
    """Every record of every logger, DEBUG and up (urllib3's, requests-kerberos', ours)."""
    handler = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def shown(error: BaseException | None) -> str:
    """Everything an error shows: str, repr, args, attributes, the chain, the traceback with
    every frame's locals."""
    texts = []
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        pending += [current.__cause__, current.__context__]
    if error is not None:
        formatted = traceback.TracebackException.from_exception(error, capture_locals=True)
        texts.append("".join(formatted.format()))
    return "\n".join(texts)


def attempt(provider: TokenEndpointProvider, target: Target) -> tuple[BaseException | None, float]:
    """The error of one negotiate() (None if it succeeded), and how long it took. The error's
    traceback starts in this frame, whose locals hold no secret."""
    started = time.monotonic()
    try:
        provider.negotiate(target)
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


class FakeClock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path_factory.mktemp("keyring") / "keyring_pass.cfg")
    backend.set_password(SERVICE, CLIENT_ID, CLIENT_SECRET)
    return backend


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def server(clock: FakeClock) -> Iterator[TokenServer]:
    with TokenServer(
        key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}, lifetime=3600, clock=clock
    ) as running:
        yield running


def make_provider(url: str, keyring: Any, clock: FakeClock) -> TokenEndpointProvider:
    return TokenEndpointProvider(
        url,
        client_id=CLIENT_ID,
        client_secret_keyring=(SERVICE, CLIENT_ID),
        keyring_backend=keyring,
        timeout=DEADLINE,
        clock=clock,
    )


# --- finding 1: each source of server text, one by one ----------------------------------------


@pytest.mark.parametrize("source", list(ECHOES))
def test_server_text_never_brings_a_secret_out(
    source: str,
    server: TokenServer,
    keyring: Any,
    clock: FakeClock,
    target: Target,
    records: Records,
) -> None:
    """Hostile: every place a server can put text (ECHOES) quoting the client secret."""
    clock.now = T0
    server.reply = RawReply(ECHOES[source])
    provider = TokenEndpointProvider(
        server.url,
        client_id=CLIENT_ID,
        client_secret_keyring=(SERVICE, CLIENT_ID),
        keyring_backend=keyring,
        audience="PACS",
        clock=clock,
    )
    error, _ = attempt(provider, target)
    assert isinstance(error, CredentialError), error
    assert server.url in str(error)
    assert find_leaks(shown(error), [CLIENT_SECRET, A_JWT]) == []
    assert "\n" not in str(error) and "\r" not in str(error) and "\u2028" not in str(error)


def test_the_early_refresh_warning_shows_no_secret(
    server: TokenServer, keyring: Any, clock: FakeClock, target: Target, records: Records
) -> None:
    """Hostile: the early refresh answered with text that quotes the client secret."""
    clock.now = T0
    server.reply = None
    provider = make_provider(server.url, keyring, clock)
    issued = provider.negotiate(target).request.primary.reveal().decode()
    del records.records[:]
    for source in ("reason phrase", "Location", "error_description, URL-encoded", "JSON key"):
        clock.now += 3600  # each time a fresh token, then its advisory window
        server.reply = None
        provider.negotiate(target)
        clock.now += 3600 - 200
        server.reply = RawReply(ECHOES[source])
        assert provider.negotiate(target).request.primary  # the current one, kept
    warnings = [r for r in records.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4
    assert all("could not refresh the token" in r.getMessage() for r in warnings)
    assert find_leaks(records.text(), [CLIENT_SECRET, issued, *server.issued]) == []


def test_the_cli_json_error_shows_no_secret(server: TokenServer, tmp_path: Path) -> None:
    """Hostile: the installed CLI's --json --debug against an endpoint quoting the secret."""
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
    backend.set_password(SERVICE, CLIENT_ID, CLIENT_SECRET)
    outputs = []
    for source in ("reason phrase", "Location", "error_description, URL-encoded", "token_type"):
        server.reply = RawReply(ECHOES[source])
        result = run_cli(
            "--json",
            "--debug",
            "echo",
            f"127.0.0.1:{free_port()}",
            "--ae-title",
            "PACS",
            "--token-url",
            server.url,
            "--client-id",
            CLIENT_ID,
            "--client-secret-keyring",
            f"{SERVICE}:{CLIENT_ID}",
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 4, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        assert [e["event"] for e in events if e["event"] == "error"] == ["error"]
        outputs += [result.stdout, result.stderr]
    assert find_leaks("\n".join(outputs), [CLIENT_SECRET]) == []


def test_a_redirect_is_not_followed(
    server: TokenServer, keyring: Any, clock: FakeClock, target: Target
) -> None:
    """Hostile: a 30x to another server (oidc-provider never redirects its token endpoint)."""
    with TokenServer(key=JWT_KEY, clients={CLIENT_ID: CLIENT_SECRET}) as elsewhere:
        for status in (301, 302, 303, 307, 308):
            server.reply = Reply(status, b"", {"Location": elsewhere.url})
            error, _ = attempt(make_provider(server.url, keyring, clock), target)
            assert isinstance(error, CredentialError) and "never re-sent" in str(error)
        assert elsewhere.requests == []


# --- finding 3: one deadline ------------------------------------------------------------------

HEADERS = answer("HTTP/1.1 200 OK", {"Content-Type": "application/json", "X-Pad": "p" * 40})


@pytest.mark.parametrize(
    "reply",
    [
        RawReply(HEADERS + b"{}", drip=0.05),  # the status line and headers, a byte at a time
        RawReply(answer("HTTP/1.1 200 OK", {}, b" " * 400 + b"{}")[:-402], hold=5),
        RawReply(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{", hold=5),  # a lie
    ],
    ids=["drip", "headers-then-silence", "content-length-lie"],
)
def test_one_deadline_for_the_whole_exchange(
    reply: RawReply, server: TokenServer, keyring: Any, clock: FakeClock, target: Target
) -> None:
    """Hostile: an answer that stalls or trickles past the deadline."""
    server.reply = reply
    error, took = attempt(make_provider(server.url, keyring, clock), target)
    assert isinstance(error, TokenEndpointUnreachable)
    assert f"within the deadline of {DEADLINE:g} s" in str(error) and server.url in str(error)
    assert DEADLINE * 0.9 <= took < BOUND


def test_a_body_dripped_a_byte_at_a_time_is_cut(
    server: TokenServer, keyring: Any, clock: FakeClock, target: Target
) -> None:
    """Hostile: a body dripped a byte at a time."""
    body = json.dumps({"access_token": A_JWT, "token_type": "Bearer"}).encode()
    whole = answer("HTTP/1.1 200 OK", {"Content-Type": "application/json"}, body)
    head = len(whole) - len(body)
    # The headers at once, then the body a byte every 20 ms: each read is quick, the whole slow.
    server.reply = RawReply(whole[:head] + body, drip=0.02)
    error, took = attempt(make_provider(server.url, keyring, clock), target)
    assert isinstance(error, TokenEndpointUnreachable), error
    assert took < BOUND


def test_the_refresh_lock_holder_gives_up_and_the_waiters_with_it(
    server: TokenServer, keyring: Any, clock: FakeClock, target: Target
) -> None:
    """Hostile: a dripping endpoint that holds the refresh lock's holder."""
    server.reply = RawReply(HEADERS + b"{}", drip=0.05)
    provider = make_provider(server.url, keyring, clock)
    results: list[tuple[BaseException | None, float]] = []

    def run() -> None:
        results.append(attempt(provider, target))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    poll(lambda: len(results) == 4, timeout=4 * BOUND, what="four callers to give up")
    for thread in threads:
        thread.join(timeout=1)
    assert all(isinstance(e, TokenEndpointUnreachable) for e, _ in results)
    # Each waiter, once the holder gave up, tries its own exchange: one deadline each, in turn.
    assert all(took < 4 * DEADLINE + BOUND for _, took in results)
    messages = {str(e) for e, _ in results}
    assert any(f"within the deadline of {DEADLINE:g} s" in m for m in messages)


# --- generated hostile answers (hypothesis) ---------------------------------------------------


def _at(offset: int) -> Callable[[str], str]:
    """The secret inside a longer base64 text, ``offset`` bytes in."""
    return lambda s: base64.b64encode(b"xyz"[:offset] + s.encode() + b"tail").decode()


ENCODERS: list[Callable[[str], str]] = [
    lambda s: s,
    urllib.parse.quote_plus,
    lambda s: urllib.parse.quote(s, safe="").lower(),
    lambda s: s.encode().hex(),
    lambda s: s.encode().hex().upper(),
    lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    _at(0),
    _at(1),
    _at(2),
    lambda s: s.encode().decode("latin-1"),
    lambda s: json.dumps(s)[1:-1],
]
_filler = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)
secret_text = st.builds(
    lambda encode, before, after: before + encode(CLIENT_SECRET) + after,
    st.sampled_from(ENCODERS),
    _filler,
    _filler,
)
some_text = st.one_of(secret_text, _filler, st.just(""))
numbers = st.one_of(
    st.integers(T0 - 10, T0 + 7200), st.sampled_from([10**30, -(10**30), 2**63]), st.floats()
)
claims = st.fixed_dictionaries(
    {},
    optional={
        "sub": some_text,
        "aud": st.one_of(some_text, st.lists(some_text, max_size=3)),
        "exp": st.one_of(numbers, some_text),
        "iat": numbers,
    },
)
tokens = claims.map(lambda c: jwt.encode(c, JWT_KEY))
leaf = st.one_of(some_text, numbers, st.none(), st.booleans(), tokens)
json_value = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
oauth_fields = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.one_of(tokens, leaf),
        "token_type": st.one_of(st.just("Bearer"), leaf),
        "expires_in": st.one_of(numbers, some_text),
        "refresh_token": st.one_of(tokens, some_text),
        "error": some_text,
        "error_description": some_text,
        "error_uri": some_text,
    },
)
json_objects = st.builds(
    lambda fields, extra: {**fields, **extra},
    oauth_fields,
    st.dictionaries(some_text, json_value, max_size=3),
)
bodies = st.one_of(
    json_objects.map(lambda o: json.dumps(o).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=40),
    st.sampled_from(
        [
            b"[" * 100_000 + b"]" * 100_000,  # nested past any recursion limit
            b"{" + b'"a":1,' * 20 + b'"z":' + b"9" * 5000 + b"}",  # a number too long
            b" " * (MAX_RESPONSE_BYTES + 1),
        ]
    ),
)
statuses = st.one_of(
    st.sampled_from([200, 200, 200, 201, 204, 302, 307, 400, 401, 403, 429, 500, 503]),
    st.integers(100, 999),
)
header_names = st.sampled_from(
    ["Location", "WWW-Authenticate", "X-Echo", "Content-Type", "Content-Encoding", "Set-Cookie"]
)
headers = st.dictionaries(header_names, st.one_of(secret_text, st.sampled_from(["gzip", "x"])))
content_lengths = st.sampled_from(["right", "right", "more", "less", "none", "garbage", "twice"])


@st.composite
def hostile_answers(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """The bytes of a hostile answer, and the tokens in it (secrets too)."""
    if draw(st.booleans()):  # well framed, a JSON object with a JWT: the token's checks
        status_line, length = "HTTP/1.1 200 OK", "right"
        body = json.dumps({**draw(json_objects), "access_token": draw(tokens)}).encode()
    else:
        status = draw(statuses)
        reason = draw(st.one_of(secret_text, st.just("OK"), st.text(max_size=8)))
        status_line = draw(
            st.one_of(
                st.just(f"HTTP/1.1 {status} {reason}"),
                st.just(f"HTTP/1.0 {status} {reason}"),
                st.builds(lambda t: f"HTTP/1.1 {t}", secret_text),
            )
        )
        body = draw(bodies)
        length = draw(content_lengths)
    fields = {"Content-Type": "application/json", **draw(headers)}
    fields = {k: v.replace("\r", " ").replace("\n", " ") for k, v in fields.items()}
    declared = {"right": len(body), "more": len(body) + 10, "less": max(len(body) - 3, 0)}
    lines = [status_line, *(f"{k}: {v}" for k, v in fields.items())]
    if length in declared:
        lines.append(f"Content-Length: {declared[length]}")
    elif length == "garbage":
        lines.append("Content-Length: -1x")
    elif length == "twice":
        lines += [f"Content-Length: {len(body)}", "Content-Length: 3"]
    data = "\r\n".join([*lines, "Connection: close"]).encode("utf-8") + b"\r\n\r\n" + body
    found = re.findall(rb"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", body)
    return data, [token.decode() for token in found]


def check_one_answer(
    data: bytes,
    in_body: list[str],
    server: TokenServer,
    keyring: Any,
    clock: FakeClock,
    target: Target,
    records: Records,
) -> None:
    """A cached token in its advisory window, then in its mandatory window; the hostile answer
    both times: only typed errors, in bounded time, and no secret anywhere."""
    clock.now = T0
    server.reply = None
    provider = make_provider(server.url, keyring, clock)
    provider.negotiate(target)
    del records.records[:]
    server.reply = RawReply(data)
    clock.now = T0 + 3600 - 200  # advisory: a failure is a warning, the token is kept
    early, took_early = attempt(provider, target)
    clock.now = T0 + 3600 - 30  # mandatory: a failure is raised
    late, took_late = attempt(provider, target)
    assert early is None, early
    assert late is None or isinstance(late, CredentialError), late
    event(type(late).__name__ if late is not None else "a token")
    assert took_early < BOUND and took_late < BOUND
    text = "\n".join([shown(late), records.text()])
    assert find_leaks(text, [CLIENT_SECRET, *server.issued[-1:], *in_body]) == []


@settings(
    max_examples=examples(50),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=hostile_answers())
def test_hostile_answers(
    hostile: tuple[bytes, list[str]],
    server: TokenServer,
    keyring: Any,
    clock: FakeClock,
    target: Target,
    records: Records,
) -> None:
    """Hostile: generated garbage answers (hypothesis), whole."""
    check_one_answer(*hostile, server, keyring, clock, target, records)


@settings(
    max_examples=examples(4),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile=hostile_answers(), pace=st.sampled_from([0.01, 0.03]))
def test_hostile_answers_dripped(
    hostile: tuple[bytes, list[str]],
    pace: float,
    server: TokenServer,
    keyring: Any,
    clock: FakeClock,
    target: Target,
) -> None:
    """Hostile: generated garbage answers (hypothesis), dripped."""
    data, in_body = hostile
    clock.now = T0
    server.reply = RawReply(data[:600], drip=pace)
    error, took = attempt(make_provider(server.url, keyring, clock), target)
    assert error is None or isinstance(error, CredentialError), error
    assert took < BOUND
    assert find_leaks(shown(error), [CLIENT_SECRET, *in_body]) == []
