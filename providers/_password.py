"""Type 2 with a password the caller already holds (scripts, tests)."""

from __future__ import annotations

from typing import NoReturn

from providers._base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers._errors import InvalidIdentity
from providers._recipe import not_rebuildable
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._username import encode_username


def check_password(password: Secret, where: str, fix: str) -> None:
    """Refuse a passcode that cannot be sent: empty, or not UTF-8 (PS3.7 D.3.3.7).

    ``where`` names the password ("the password of keyring service 'pacs', user 'alice'"),
    ``fix`` says how to put a good one there. Neither the value nor its length is shown.
    """
    # Only yes/no questions to the Secret: no local and no exception context holds the value.
    if not password:
        raise InvalidIdentity(f"{where} is empty; {fix}")
    if not password.is_utf8():
        raise InvalidIdentity(
            f"{where} is not valid UTF-8, which DICOM requires of a passcode; {fix}"
        )


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

    @secret_safe  # the raw password is an argument: an error must not keep this frame's locals
    def __init__(
        self, username: str, password: str | bytes | Secret, *, positive_response: bool = False
    ) -> None:
        encode_username(username)  # refuse what could never be sent, now
        secret = password if isinstance(password, Secret) else Secret(password)
        check_password(
            secret,
            f"the password given for {username!r}",
            "pass the user's password as text (or as UTF-8 bytes)",
        )
        self.username = username
        self._password = secret
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

    def recipe(self) -> NoReturn:
        """Refused: the password exists only in this process (:class:`ProviderNotRebuildable`)."""
        raise not_rebuildable(
            self, f"the password of {self.username!r} was passed in and exists only here"
        )

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"PasswordProvider(username={self.username!r})")
