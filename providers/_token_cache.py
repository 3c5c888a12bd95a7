"""An access token cached until shortly before it expires, refreshed one caller at a time.

Shared by :class:`~providers.TokenEndpointProvider` and :class:`~providers.OidcLoginProvider`.
Two windows before expiry, each clamped to a fraction of the token's lifetime so a short-lived
token is still used for a while:

* advisory (default 300 s, at most half the lifetime): one caller refreshes early; the others keep
  using the still-valid token meanwhile; a failed refresh keeps the token, logs a warning, and
  the next early attempt waits 30 s (at most half the time left before the mandatory window);
* mandatory (default 60 s, at most a quarter of the lifetime): every caller waits for the refresh
  (at most ``lock_wait`` seconds); a failed refresh raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from providers._errors import IdentityError
from providers._safe_errors import total_repr
from providers._secret import Secret
from providers._token_answer import IssuedToken, iso_time
from providers._token_errors import TokenEndpointUnreachable

DEFAULT_ADVISORY_WINDOW = 300.0
DEFAULT_MANDATORY_WINDOW = 60.0
ADVISORY_FRACTION = 0.5  # of the token's lifetime, at most
MANDATORY_FRACTION = 0.25
# After a failed early refresh, the next early attempt waits this long (or half the time left
# before the mandatory window): an outage must not make every association wait for a timeout.
ADVISORY_RETRY = 30.0


@dataclass(frozen=True)
class CachedToken:
    value: Secret
    principal: str
    expires_at: float | None
    advisory_at: float  # refresh early from here on
    mandatory_at: float  # refresh or fail from here on

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: f"CachedToken(principal={self.principal!r}, expires_at={self.expires_at!r})",
        )


def check_windows(advisory_window: float, mandatory_window: float) -> None:
    if not 0 <= mandatory_window <= advisory_window:
        raise ValueError(
            "need 0 <= mandatory_window <= advisory_window: "
            f"{mandatory_window!r}, {advisory_window!r}"
        )


class TokenCache:
    """The token of one source (``source`` names it in messages: "the token endpoint URL").

    :meth:`current` returns the cached token, or the one ``fetch`` brings when the windows say
    so. ``lock_wait``: how long a caller waits for another thread's refresh in the mandatory
    window. ``log`` is the source's logger (its records carry the source's module name)."""

    def __init__(
        self,
        *,
        source: str,
        lock_wait: float,
        advisory_window: float = DEFAULT_ADVISORY_WINDOW,
        mandatory_window: float = DEFAULT_MANDATORY_WINDOW,
        clock: Callable[[], float] = time.time,
        log: logging.Logger | None = None,
    ) -> None:
        check_windows(advisory_window, mandatory_window)
        self.source = source
        self.lock_wait = lock_wait
        self.advisory_window = advisory_window
        self.mandatory_window = mandatory_window
        self._clock = clock
        self._log = log or logging.getLogger("providers.token_cache")
        self.lock = threading.Lock()
        self.token: CachedToken | None = None
        self.advisory_retry_at = 0.0

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"TokenCache({self.source!r}, token={self.token!r})")

    def current(self, fetch: Callable[[], IssuedToken]) -> CachedToken:
        token = self.token
        now = self._clock()
        if token is not None and now < token.advisory_at:
            return token
        if token is not None and now < token.mandatory_at:
            # Advisory window: one caller refreshes; the others use the still-valid token, and
            # after a failed early refresh nobody retries before the back-off ends.
            if now < self.advisory_retry_at or not self.lock.acquire(blocking=False):
                return token
        elif not self.lock.acquire(timeout=self.lock_wait):
            raise TokenEndpointUnreachable(
                f"another thread's token refresh from {self.source} did not finish within "
                f"{self.lock_wait:g} s; check that the token service answers"
            )
        try:
            return self._refresh(fetch)
        finally:
            self.lock.release()

    def forget(self, refused: Secret) -> None:
        """Drop ``refused`` if it is still the cached token (a server refused it): the next
        :meth:`current` fetches another. Waits for a running refresh at most ``lock_wait``."""
        if not self.lock.acquire(timeout=self.lock_wait):
            return  # a refresh is running: the token it brings is not the refused one
        try:
            if self.token is not None and self.token.value == refused:
                self.token = None
        finally:
            self.lock.release()

    def _refresh(self, fetch: Callable[[], IssuedToken]) -> CachedToken:
        token = self.token
        now = self._clock()
        if token is not None and now < token.advisory_at:
            return token  # another thread refreshed while this one waited
        try:
            fresh = self.cached(fetch())
        except IdentityError as exc:
            if token is not None and now < token.mandatory_at:
                self.advisory_retry_at = now + min(ADVISORY_RETRY, (token.mandatory_at - now) / 2)
                self._log.warning(
                    "could not refresh the token from %s early (%s); keeping the current one, "
                    "valid until %s; next attempt at %s, mandatory from %s",
                    self.source,
                    exc,
                    iso_time(token.expires_at),
                    iso_time(self.advisory_retry_at),
                    iso_time(token.mandatory_at),
                )
                return token
            raise
        self.token = fresh
        self._log.debug(
            "token for %r from %s, expires at %s",
            fresh.principal,
            self.source,
            iso_time(fresh.expires_at),
        )
        return fresh

    def keep(self, issued: IssuedToken) -> CachedToken:
        """Cache ``issued`` (a token that came another way: a login)."""
        self.token = fresh = self.cached(issued)
        return fresh

    def cached(self, issued: IssuedToken) -> CachedToken:
        """``issued`` with its windows."""
        expires_at = issued.expires_at
        if expires_at is None:  # no lifetime known: used once, fetched again next time
            issued_at = issued.issued_at
            return CachedToken(issued.value, issued.principal, None, issued_at, issued_at)
        lifetime = max(expires_at - issued.issued_at, 0.0)
        advisory = min(self.advisory_window, ADVISORY_FRACTION * lifetime)
        mandatory = min(self.mandatory_window, MANDATORY_FRACTION * lifetime)
        return CachedToken(
            issued.value,
            issued.principal,
            expires_at,
            expires_at - advisory,
            expires_at - mandatory,
        )
