"""Type 1: a username alone (no proof; the peer decides how far it trusts it)."""

from __future__ import annotations

from providers._base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers._errors import InvalidIdentity
from providers._misplaced_secret import refuse_misplaced_secret
from providers._outside_text import quoted
from providers._recipe import ProviderRecipe
from providers._safe_errors import total_repr
from providers._secret import Secret


class UsernameProvider:
    identity_type = IdentityType.USERNAME

    def __init__(self, username: str, *, positive_response: bool = False) -> None:
        encode_username(username)  # refuse a name that could never be sent, now
        refuse_password_in_username(username)
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

    def recipe(self) -> ProviderRecipe:
        """How a worker process builds this provider again (``store_many(processes=N)``)."""
        return ProviderRecipe.of(
            self, username=self.username, positive_response=self.positive_response
        )

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"UsernameProvider(username={self.username!r})")


def refuse_password_in_username(username: str) -> None:
    """``alice:pw`` (USER:PASSWORD typed as one) where the password has a place of its own:
    :class:`InvalidIdentity`, the password masked (it would be sent and audited as the name)."""
    refuse_misplaced_secret(username, "the username", error=InvalidIdentity, username=True)


def encode_username(username: object) -> bytes:
    """The username as the identity item carries it (UTF-8), or :class:`InvalidIdentity`."""
    if isinstance(username, bytes | bytearray):
        raise InvalidIdentity(
            "the username must be text (str), not bytes; decode it first, e.g. name.decode('utf-8')"
        )
    if not isinstance(username, str):
        raise InvalidIdentity(f"the username must be a str, not {type(username).__name__}")
    if not username.strip():
        raise InvalidIdentity("the username is empty; give the name the peer knows the user by")
    # Lone surrogates (from os.fsdecode of a non-UTF-8 name) cannot be sent: say so, don't mangle.
    try:
        return username.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIdentity(
            f"the username {quoted(username)} cannot be encoded as UTF-8 (it holds a lone "
            "surrogate, as os.fsdecode() makes of bytes that are not UTF-8); DICOM sends "
            "usernames as UTF-8: decode the name with its real encoding first"
        ) from None
