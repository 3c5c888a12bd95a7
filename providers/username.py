"""Type 1: a username alone (no proof; the peer decides how far it trusts it)."""

from __future__ import annotations

from providers.base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers.errors import InvalidIdentity
from providers.secret import Secret

__all__ = ["UsernameProvider", "encode_username"]


class UsernameProvider:
    identity_type = IdentityType.USERNAME

    def __init__(self, username: str, *, positive_response: bool = False) -> None:
        self.username = username
        self.positive_response = positive_response

    def negotiate(self, target: Target) -> IdentityExchange:
        request = IdentityRequest(
            IdentityType.USERNAME,
            Secret(encode_username(self.username)),
            positive_response_requested=self.positive_response,
            principal=self.username,
            source="username given by the caller",
        )
        return IdentityExchange(request)

    def __repr__(self) -> str:
        return f"UsernameProvider(username={self.username!r})"


def encode_username(username: str) -> bytes:
    # Lone surrogates (from os.fsdecode of a non-UTF-8 name) cannot be sent: say so, don't mangle.
    if not isinstance(username, str):
        raise InvalidIdentity("the username must be a str")
    try:
        return username.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIdentity(
            f"the username {username!r} cannot be encoded as UTF-8; DICOM requires UTF-8 usernames"
        ) from None
