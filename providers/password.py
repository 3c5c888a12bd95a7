"""Type 2 with a password the caller already holds (scripts, tests)."""

from __future__ import annotations

from providers.base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers.secret import Secret
from providers.username import encode_username

__all__ = ["PasswordProvider", "password_request"]


def password_request(
    username: str, password: Secret, *, positive_response: bool, source: str
) -> IdentityRequest:
    """The type 2 request shared by every password source."""
    return IdentityRequest(
        IdentityType.USERNAME_PASSCODE,
        Secret(encode_username(username)),
        password,
        positive_response_requested=positive_response,
        principal=username,
        source=source,
    )


class PasswordProvider:
    identity_type = IdentityType.USERNAME_PASSCODE

    def __init__(
        self, username: str, password: str | bytes | Secret, *, positive_response: bool = False
    ) -> None:
        self.username = username
        self._password = password if isinstance(password, Secret) else Secret(password)
        self.positive_response = positive_response

    def negotiate(self, target: Target) -> IdentityExchange:
        return IdentityExchange(
            password_request(
                self.username,
                self._password,
                positive_response=self.positive_response,
                source="password given by the caller",
            )
        )

    def __repr__(self) -> str:
        return f"PasswordProvider(username={self.username!r})"
