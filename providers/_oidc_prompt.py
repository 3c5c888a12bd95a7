"""What a person must do to log in, handed to the caller (by default printed on stderr).

The verification URI and the user code of the device flow, or the authorization URL of the
browser flow, are meant for the person's eyes: the user code is useless without the device code
(which stays a :class:`~providers.Secret` and is never shown), and the authorization URL carries
only the PKCE challenge, ``state`` and ``nonce``. They are still never logged. Every text of the
server is shown as one printable line (:func:`providers._outside_text.label`): a hostile server's
control characters cannot forge terminal output.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from providers._token_answer import iso_time


@dataclass(frozen=True)
class LoginPrompt:
    """``flow`` "device": open ``url`` (the verification URI) and enter ``user_code``, or open
    ``url_complete`` (which carries the code). ``flow`` "browser": ``url`` is the authorization
    URL that the browser was (or should be) opened at. ``expires_at``: the login's deadline
    (seconds since the epoch)."""

    flow: Literal["device", "browser"]
    issuer: str
    url: str
    expires_at: float
    user_code: str | None = None
    url_complete: str | None = None


PromptCallback = Callable[[LoginPrompt], None]


def print_prompt(prompt: LoginPrompt) -> None:
    """The default: a few lines on stderr."""
    if prompt.flow == "device":
        text = (
            f"To log in to {prompt.issuer}, open {prompt.url}\n"
            f"and enter the code {prompt.user_code}"
        )
        if prompt.url_complete:
            text += f" (or open {prompt.url_complete})"
    else:
        text = (
            f"Opening a browser to log in to {prompt.issuer}. If none opens, open this URL:\n"
            f"{prompt.url}"
        )
    print(f"{text}\nWaiting until {iso_time(prompt.expires_at)}.", file=sys.stderr, flush=True)
