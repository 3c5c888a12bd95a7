"""The device authorization grant (RFC 8628), for a terminal without a browser.

The client asks the device authorization endpoint for a device code and a user code, shows the
person the verification URI and the user code (:mod:`providers._oidc_prompt`), and polls the token
endpoint until the person approved or refused, or the code expired:

* every ``interval`` seconds: the server's (at least 1 s), or the caller's ``poll_interval`` when
  the server names none (RFC 8628 3.2 says 5 s then; oidc-provider sends none);
* ``authorization_pending``: poll again; ``slow_down``: 5 s more, for this and every later poll
  (3.5); ``access_denied``: :class:`LoginDenied`; ``expired_token``, or the deadline (the code's
  ``expires_in``, at most ``max_wait``): :class:`LoginExpired`. Anything else ends the flow with
  the token endpoint's typed error (a dropped connection too: no silent retry).

The device code is a :class:`Secret`: whoever holds it gets the tokens once the person approves.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from providers._oidc_errors import LoginDenied, LoginExpired, OidcDiscoveryError, OidcLoginError
from providers._oidc_prompt import LoginPrompt, PromptCallback
from providers._oidc_server import OidcServer
from providers._oidc_tokens import oauth_error
from providers._outside_text import label
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._token_answer import ParsedAnswer
from providers._token_client_auth import ClientCredentials
from providers._token_http import HttpAnswer

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_POLL_INTERVAL = 5.0  # RFC 8628 3.2, when the server names no interval
SLOW_DOWN_STEP = 5.0  # RFC 8628 3.5
MIN_SERVER_INTERVAL = 1.0  # a server's "interval": 0 must not make the client hammer it


@dataclass(frozen=True)
class FlowAnswer:
    """The token endpoint's answer that ended a login flow, the secrets sent for it, and the
    nonce the flow sent (None: none, as in the device flow)."""

    answer: HttpAnswer
    token_url: str
    sent: tuple[Secret, ...]
    nonce: str | None = None

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"FlowAnswer({self.answer!r}, {self.token_url!r})")


def _pause(seconds: float) -> None:
    threading.Event().wait(seconds)  # never set: a bounded pause between polls


@dataclass(frozen=True)
class _Started:
    device_code: Secret
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: float
    interval: float | None

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"_Started({self.verification_uri!r})")


class DeviceFlow:
    """One device login for the public client ``client_id`` at ``server``."""

    def __init__(
        self,
        server: OidcServer,
        *,
        client_id: str,
        scopes: tuple[str, ...],
        resource: str | None,
        poll_interval: float,
        max_wait: float,
        prompt: PromptCallback,
        wait: Callable[[float], None] = _pause,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.server = server
        self.client_id = client_id
        self.scopes = scopes
        self.resource = resource
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.prompt = prompt
        self._wait = wait
        self._clock = clock

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"DeviceFlow({self.server.issuer!r}, {self.client_id!r})")

    @secret_safe  # the device code and the answers
    def run(self) -> FlowAnswer:
        endpoints = self.server.endpoints()
        if endpoints.device_authorization is None:
            raise OidcDiscoveryError(
                f"the OpenID Provider {self.server.issuer} offers no device flow (its discovery "
                "document names no device_authorization_endpoint); use the browser flow"
            )
        started = self._start(endpoints.device_authorization)
        interval = started.interval or self.poll_interval
        lifetime = min(started.expires_in, self.max_wait)
        deadline = time.monotonic() + lifetime
        self.prompt(
            LoginPrompt(
                "device",
                self.server.issuer,
                started.verification_uri,
                self._clock() + lifetime,
                user_code=started.user_code,
                url_complete=started.verification_uri_complete,
            )
        )
        credentials = ClientCredentials({"client_id": self.client_id}).adding(
            ("device_code", started.device_code)
        )
        fields = {"grant_type": DEVICE_GRANT}
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._wait(min(interval, left))
            if time.monotonic() >= deadline:
                break
            answer = self.server.post(endpoints.token, "the token endpoint", fields, credentials)
            error = oauth_error(answer)
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += SLOW_DOWN_STEP
                continue
            if error == "access_denied":
                raise LoginDenied(
                    f"the device login at {self.server.issuer} was refused (access_denied): the "
                    "person declined, or the provider's policy refused it"
                )
            if error == "expired_token":
                raise LoginExpired(
                    f"the device code of the login at {self.server.issuer} expired before it "
                    f"was approved at {started.verification_uri}; log in again"
                )
            return FlowAnswer(answer, endpoints.token, credentials.secrets)
        raise LoginExpired(
            f"nobody approved the device login at {started.verification_uri} within "
            f"{lifetime:g} s; log in again"
        )

    def _start(self, url: str) -> _Started:
        fields = {"client_id": self.client_id, "scope": " ".join(self.scopes)}
        if self.resource:
            fields["resource"] = self.resource
        what = "the device authorization endpoint"
        parsed = self.server.post_json(url, what, fields)
        return _started(parsed, f"{what} {url}", self.max_wait)


def _started(parsed: ParsedAnswer, where: str, max_wait: float) -> _Started:
    device_code = _text(parsed.field("device_code"))
    user_code = _text(parsed.field("user_code"))
    # "verification_url": what Google's endpoint calls it
    uri = _web_url(parsed.field("verification_uri") or parsed.field("verification_url"))
    complete = _web_url(parsed.field("verification_uri_complete"))
    if device_code is None or user_code is None or uri is None:
        missing = [
            name
            for name, value in (
                ("device_code", device_code),
                ("user_code", user_code),
                ("verification_uri (an http(s) URL)", uri),
            )
            if value is None
        ]
        raise OidcLoginError(
            f"{where} answered without {', '.join(missing)}; check the issuer and that the "
            "client may use the device flow"
        )
    try:
        code = Secret(device_code)
    except Exception:  # a lone surrogate: nothing that can be sent back
        raise OidcLoginError(f"{where} answered with a device_code that is not UTF-8") from None
    expires_in = _positive(parsed.field("expires_in")) or max_wait
    interval = _positive(parsed.field("interval"))
    return _Started(
        device_code=code,
        user_code=label(user_code, 64),
        verification_uri=label(uri, 300),
        verification_uri_complete=label(complete, 400) if complete else None,
        expires_in=expires_in,
        interval=max(interval, MIN_SERVER_INTERVAL) if interval is not None else None,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _positive(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _web_url(value: object) -> str | None:
    """``value`` if it is an http(s) URL with a host (shown to the person), else None."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("https", "http") and parts.netloc else None
