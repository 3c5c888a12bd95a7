"""The token endpoint's answer to a login or a refresh: the access token (read like every type-5
token, :func:`providers._token_answer.read_answer`: a JWT, not expired, for the configured
audience), and the refresh and ID tokens that come with it, each a :class:`Secret`."""

from __future__ import annotations

from dataclasses import dataclass

from providers._outside_text import label
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._token_answer import Hint, IssuedToken, ParsedAnswer, read_answer
from providers._token_http import HttpAnswer


@dataclass(frozen=True)
class LoginTokens:
    access: IssuedToken
    refresh_token: Secret | None
    id_token: Secret | None
    scopes: tuple[str, ...]  # granted: the answer's scope, else the access token's

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: (
                f"LoginTokens({self.access!r}, refresh_token={self.refresh_token is not None}, "
                f"id_token={self.id_token is not None}, scopes={self.scopes!r})"
            ),
        )


@secret_safe  # the answer's JSON
def oauth_error(answer: HttpAnswer) -> str | None:
    """The OAuth ``error`` code of a 4xx answer (for the caller to compare, never to show)."""
    if not 400 <= answer.status < 500 or answer.too_large:
        return None
    code = ParsedAnswer(answer.body).field("error")
    return code if isinstance(code, str) else None


@secret_safe
def refresh_token_of(answer: HttpAnswer) -> Secret | None:
    """The refresh token of a 2xx answer, or None."""
    if not 200 <= answer.status < 300 or answer.too_large:
        return None
    return _token(ParsedAnswer(answer.body), "refresh_token")


@secret_safe  # the answer's tokens and JSON
def read_tokens(
    answer: HttpAnswer,
    *,
    url: str,
    client_id: str,
    audience: str | None,
    sent: tuple[Secret, ...],
    now: float,
    hint: Hint,
) -> LoginTokens:
    """The tokens of the answer; the errors of :func:`read_answer`."""
    access = read_answer(
        answer, url=url, client_id=client_id, sent=sent, audience=audience, now=now, hint=hint
    )
    parsed = ParsedAnswer(answer.body)
    scope = parsed.field("scope")
    if not isinstance(scope, str) and parsed.decode_claims(access.value) is None:
        scope = parsed.claims.get("scope")  # RFC 9068 2.2.3
    # Server text, shown by whoami: one printable word each, a bounded number of them.
    scopes = tuple(label(s, 64) for s in scope.split()[:64]) if isinstance(scope, str) else ()
    return LoginTokens(access, _token(parsed, "refresh_token"), _token(parsed, "id_token"), scopes)


def _token(parsed: ParsedAnswer, key: str) -> Secret | None:
    value = parsed.field(key)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return Secret(value.strip())
    except Exception:  # a lone surrogate: no token that can be sent
        return None
