"""What the secret-matrix modules share: one association walked and gathered, the search with
its control, and the errors the matrix raised, kept for one last test.

The fixtures (``hex_dumps``, ``debug_everything``, ``keep_errors``) are in
``tests/secret_matrix_fixtures.py``, which each matrix module loads with ``pytest_plugins``.

Every case of ``tests/test_secret_matrix*.py`` that runs SDK code in this process asks for the
:func:`keep_errors` fixture and hands it each error it meets (:meth:`ErrorKeeper.keep`);
``tests/test_secret_matrix_web.py::test_every_error_the_matrix_raised_formats_without_a_secret``
(the last module of the matrix, so it runs after the others) then formats each of them with
``traceback.TracebackException.from_exception(error, capture_locals=True)``, as Sentry or pytest
``--showlocals`` would, and searches the text for the case's secrets.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from client_sdk import VERIFICATION, Client, Session
from tests.leak_search import find_leaks, planted

Secrets = list[bytes | str]


@dataclass(frozen=True)
class KeptError:
    case: str
    error: BaseException
    secrets: tuple[bytes | str, ...]


class ErrorKeeper:
    """The errors of one matrix case, and the secrets to search them for (the case adds to
    ``secrets`` as it learns them: the tokens a server issued, the Kerberos tokens sent).
    ``expect_error``: the case must keep at least one. Its ``repr`` shows neither: a frame
    that holds the keeper is formatted too."""

    def __init__(self, case: str) -> None:
        self.case = case
        self.secrets: Secrets = []
        self.expect_error = False
        self.errors: list[BaseException] = []

    def keep(self, error: BaseException) -> None:
        self.errors.append(error)

    def __repr__(self) -> str:
        return f"ErrorKeeper({self.case!r}, {len(self.errors)} kept)"


class Gathered(list[str]):
    """What a case gathered to search; its ``repr`` (in a formatted frame) is short."""

    def __repr__(self) -> str:
        return f"<{len(self)} texts gathered>"


KEPT: list[KeptError] = []
FINISHED: dict[str, ErrorKeeper] = {}  # node id -> its keeper, once the case is over


def formatted_with_locals(error: BaseException) -> str:
    """The error as a reporter that captures locals shows it: its chain as Python prints it,
    and every error linked to it (a suppressed context too) formatted the same way."""
    texts = [
        "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    ]
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        summary = traceback.TracebackException(
            type(current), current, current.__traceback__, capture_locals=True
        )
        texts += ["".join(summary.format()), repr(current), str(current), repr(current.args)]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return "\n".join(texts)


def assert_search_finds(secrets: Secrets) -> None:
    """The control: the search finds each secret in each form it looks for."""
    assert secrets, "the case has no secret to look for"
    for secret in secrets:
        raw = secret.encode() if isinstance(secret, str) else secret
        for name, text in planted(raw).items():
            assert find_leaks(text, [secret]), f"the search would miss {name}"


def echo(session: Session) -> object:
    return session.echo()


def walk(
    client: Client,
    seen: Gathered,
    keeper: ErrorKeeper,
    operation: Callable[[Session], object] = echo,
    sop_classes: Sequence[str] = (VERIFICATION,),
) -> str:
    """Associate, gather what the session shows, run ``operation`` (C-ECHO), release:
    "ok:<decision>", or the name of the error, which is kept. This frame catches, so it is the
    first of the error's traceback: it holds nothing whose repr shows a secret. What the
    operation returns is not gathered: it is the caller's data, as the peer sent it
    (docs/security.md, "Data a peer returns is the caller's")."""
    try:
        with client.associate(sop_classes=list(sop_classes)) as session:
            outcome = session.outcome
            seen += [repr(session), str(session), repr(outcome), outcome.summary()]
            for end in (session.association.requestor, session.association.acceptor):
                seen += [str(end.primitive), str(end.user_identity)]
            operation(session)
        return f"ok:{outcome.decision.value}"
    except Exception as exc:
        return shown_error(exc, seen, keeper)


def attempt(call: Callable[[], object], seen: Gathered, keeper: ErrorKeeper) -> str:
    """``call()``: "ok", or the name of the error it raised, which is kept (as in :func:`walk`)."""
    try:
        call()
    except Exception as exc:
        return shown_error(exc, seen, keeper)
    return "ok"


def shown_error(exc: BaseException, seen: Gathered, keeper: ErrorKeeper) -> str:
    seen += [repr(exc), str(exc), *map(str, exc.args), "".join(traceback.format_exception(exc))]
    keeper.keep(exc)
    return type(exc).__name__
