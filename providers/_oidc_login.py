"""Type 5 for a person: an OpenID Connect login (device or browser flow), refreshed from then on.

:meth:`OidcLoginProvider.login` runs a flow (:mod:`providers._oidc_device_flow`,
:mod:`providers._oidc_browser_flow`), verifies the ID token (:mod:`providers._oidc_id_token`),
keeps the access token in memory and the refresh token in the OS keyring
(:mod:`providers._oidc_refresh_store`), never in a file. :meth:`OidcLoginProvider.negotiate`
gives the access token, refreshed with the windows of the token endpoint
(:mod:`providers._token_cache`): one refresh at a time across threads (the cache's lock) and
processes (:mod:`providers._oidc_refresh_lock`). Under the process lock the refresh token is read
from the keyring again, so a token another process rotated meanwhile is the one used: using a
rotated refresh token again makes a provider revoke the whole grant. A refresh the provider
refuses with ``invalid_grant`` (revoked, expired) deletes the dead token and raises
:class:`LoginRequired`, which says what to run; nothing waits for a person unless
``interactive`` is on. Every access token is checked like every type-5 token before anything
is sent (:func:`providers._token_answer.read_answer`: a JWT, not expired, ``aud`` holding
``audience``).
"""

from __future__ import annotations

import logging
import math
import os
import time
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from providers._base import IdentityExchange, IdentityRequest, IdentityType, Target
from providers._errors import IdentityError
from providers._oidc_browser_flow import BrowserFlow, OpenBrowser
from providers._oidc_device_flow import DEFAULT_POLL_INTERVAL, DeviceFlow, FlowAnswer
from providers._oidc_errors import DEFAULT_LOGIN_COMMAND, InvalidIdToken, LoginRequired
from providers._oidc_id_token import IdToken, IdTokenVerifier
from providers._oidc_login_recipe import oidc_login_recipe
from providers._oidc_prompt import PromptCallback, print_prompt
from providers._oidc_refresh_lock import ProcessLock
from providers._oidc_refresh_store import RefreshTokenStore, default_entry
from providers._oidc_server import OidcServer
from providers._oidc_tokens import LoginTokens, oauth_error, read_tokens, refresh_token_of
from providers._recipe import ProviderRecipe
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret
from providers._token_answer import IssuedToken
from providers._token_cache import (
    DEFAULT_ADVISORY_WINDOW,
    DEFAULT_MANDATORY_WINDOW,
    CachedToken,
    TokenCache,
)
from providers._token_client_auth import PublicClient

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger("providers.oidc_login")

OidcFlow = Literal["device", "browser"]
DEFAULT_SCOPES = ("openid", "offline_access")
DEFAULT_TIMEOUT = 10.0  # seconds for one whole exchange with the provider
DEFAULT_LOGIN_TIMEOUT = 600.0  # seconds for a person to complete a login
# A refresh is at most this many exchanges (discovery, token, JWKS), plus a margin for the
# keyring: what a process or thread waits for another one's refresh.
REFRESH_EXCHANGES = 3
LOCK_MARGIN = 5.0


@dataclass(frozen=True)
class LoginStatus:
    """Who is logged in (``whoami``); never a token. ``expires_at``: the access token's."""

    principal: str
    name: str | None
    issuer: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float | None


@dataclass(frozen=True)
class LogoutResult:
    """``revoked``: the provider revoked the refresh token (RFC 7009); ``deleted``: a keyring
    entry was deleted; ``note``: why it was not revoked, if it was not."""

    revoked: bool
    deleted: bool
    note: str = ""


class OidcLoginProvider:
    """A person's access token from the OpenID Provider ``issuer``, for the public client
    ``client_id`` (registered for the device flow or a loopback redirect, without a secret).

    ``scopes`` are asked for (``openid`` always; ``offline_access`` for a refresh token);
    ``resource`` (RFC 8707) is sent with every request when given; ``audience`` is checked in
    every access token's ``aud`` before it is sent. ``flow``: ``"device"`` or ``"browser"``, what
    :meth:`login` runs by default. ``interactive``: when no login is stored (or it ended),
    :meth:`negotiate` runs the flow and waits for the person, instead of raising
    :class:`LoginRequired`, whose advice names ``login_command``. ``keyring_entry`` (SERVICE,
    USER), by default ``("dicom-identity-oidc:ISSUER", client_id)``; ``keyring_backend`` the
    keyring's default when None; ``lock_dir`` the folder of the lock file (default: the user's
    runtime or cache directory). ``poll_interval``: seconds between device-flow polls when the
    server names none (RFC 8628: 5). ``login_timeout`` bounds a login, ``timeout`` each
    exchange. ``prompt`` shows the person what to do (default: stderr); ``open_browser`` opens
    the authorization URL (default ``webbrowser.open``). ``clock`` is for the cache's windows.
    """

    identity_type = IdentityType.JWT

    def __init__(
        self,
        issuer: str,
        *,
        client_id: str,
        scopes: Sequence[str] | str = DEFAULT_SCOPES,
        audience: str | None = None,
        resource: str | None = None,
        flow: OidcFlow = "device",
        interactive: bool = False,
        login_command: str | None = None,
        keyring_entry: tuple[str, str] | None = None,
        keyring_backend: KeyringBackend | None = None,
        lock_dir: str | os.PathLike[str] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        login_timeout: float = DEFAULT_LOGIN_TIMEOUT,
        timeout: float = DEFAULT_TIMEOUT,
        ca_file: str | None = None,
        prompt: PromptCallback = print_prompt,
        open_browser: OpenBrowser = webbrowser.open,
        positive_response: bool = False,
        advisory_window: float = DEFAULT_ADVISORY_WINDOW,
        mandatory_window: float = DEFAULT_MANDATORY_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("client_id must be a non-empty string")
        if flow not in get_args(OidcFlow):
            raise ValueError(f"flow must be one of {get_args(OidcFlow)}: {flow!r}")
        for name, value in (
            ("poll_interval", poll_interval),
            ("login_timeout", login_timeout),
            ("timeout", timeout),
        ):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds: {value!r}")
        words = scopes.split() if isinstance(scopes, str) else list(scopes)
        if not all(isinstance(w, str) and w and w.isprintable() and " " not in w for w in words):
            raise ValueError(f"scopes must be words without spaces: {scopes!r}")
        self._server = OidcServer(issuer, timeout=timeout, ca_file=ca_file)
        self.issuer = self._server.issuer
        self.client_id = client_id
        self.scopes = tuple(dict.fromkeys(["openid", *words]))
        self.audience = audience
        self.resource = resource
        self.flow: OidcFlow = flow
        self.interactive = interactive
        self.login_command = login_command or DEFAULT_LOGIN_COMMAND
        self.poll_interval = float(poll_interval)
        self.login_timeout = float(login_timeout)
        self.timeout = float(timeout)
        self.positive_response = positive_response
        self.prompt = prompt
        self.open_browser = open_browser
        self._clock = clock
        self._store = RefreshTokenStore(
            keyring_entry or default_entry(self.issuer, client_id), keyring_backend
        )
        self._process_lock = ProcessLock(f"{self.issuer}\0{client_id}", directory=lock_dir)
        self._verifier = IdTokenVerifier(self._server, client_id)
        self._holder_time = REFRESH_EXCHANGES * self.timeout + LOCK_MARGIN
        waits = 2 * self._holder_time + (self.login_timeout if interactive else 0.0)
        self._cache = TokenCache(
            source=f"the OpenID Provider {self.issuer}",
            lock_wait=waits,
            advisory_window=advisory_window,
            mandatory_window=mandatory_window,
            clock=clock,
            log=log,
        )
        self._identity: IdToken | None = None
        self._scopes_granted: tuple[str, ...] = ()

    def recipe(self) -> ProviderRecipe:
        """How a worker process builds this provider again (``providers._oidc_login_recipe``)."""
        return oidc_login_recipe(self, ca_file=self._server.ca_file)

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: (
                f"OidcLoginProvider(issuer={self.issuer!r}, client_id={self.client_id!r}, "
                f"flow={self.flow!r}, audience={self.audience!r})"
            ),
        )

    @property
    def source(self) -> str:
        return f"OpenID Connect login at {self.issuer} (client {self.client_id!r})"

    @property
    def keyring_entry(self) -> tuple[str, str]:
        return self._store.entry

    # The public operations ---------------------------------------------------------------------

    @secret_safe  # its frames hold the tokens
    def negotiate(self, target: Target) -> IdentityExchange:
        token = self._cache.current(self._refreshed)
        request = IdentityRequest(
            IdentityType.JWT,
            token.value,
            positive_response_requested=self.positive_response,
            principal=token.principal,
            source=self.source,
        )
        return IdentityExchange(request)

    @secret_safe
    def login(self, flow: OidcFlow | None = None) -> LoginStatus:
        """Run a login flow now (waiting for the person up to ``login_timeout``), keep its
        tokens, and say who logged in."""
        tokens = self._login(flow or self.flow)
        return self._status(self._cache.keep(tokens.access))

    @secret_safe
    def whoami(self) -> LoginStatus:
        """Who is logged in: the current access token (refreshed if due, which may raise
        :class:`LoginRequired`), described without any token."""
        return self._status(self._cache.current(self._refreshed))

    @secret_safe
    def logout(self) -> LogoutResult:
        """Revoke the refresh token at the provider when it offers revocation (RFC 7009; at most
        providers this ends the grant), delete it from the keyring, and forget the access token
        (a JWT cannot be revoked: it stays valid at the peers until its ``exp``)."""
        with self._process_lock.held(self._holder_time, what=self._locked_what):
            stored = self._store.read()
            revoked, note = False, "no login was stored"
            if stored is not None:
                revoked, note = self._revoke(stored)
            deleted = self._store.delete()
        self._cache.token = None
        self._identity = None
        if not revoked and stored is not None:
            log.warning("logout from %s: the refresh token was not revoked: %s", self.issuer, note)
        return LogoutResult(revoked, deleted, note)

    def forget(self, refused: Secret) -> None:
        """A server refused ``refused``: if it is still the cached token, drop it."""
        self._cache.forget(refused)

    # Login -------------------------------------------------------------------------------------

    def _login(self, flow: OidcFlow) -> LoginTokens:
        if flow not in get_args(OidcFlow):
            raise ValueError(f"flow must be one of {get_args(OidcFlow)}: {flow!r}")
        answer = self._run_flow(flow)
        tokens = read_tokens(
            answer.answer,
            url=answer.token_url,
            client_id=self.client_id,
            audience=self.audience,
            sent=answer.sent,
            now=self._clock(),
            hint=self._hint,
        )
        if tokens.id_token is None:
            raise InvalidIdToken(
                f"the login's answer from {self.issuer} carries no ID token although 'openid' "
                "was asked for (OpenID Connect Core 3.1.3.3); the login's tokens were not kept"
            )
        identity = self._verifier.verify(tokens.id_token, nonce=answer.nonce)
        with self._process_lock.held(self._holder_time, what=self._locked_what):
            if tokens.refresh_token is not None:
                self._store.write(tokens.refresh_token)
            else:
                self._store.delete()  # an older login's: this one replaces it
                log.warning(
                    "the login at %s gave no refresh token (ask for the offline_access scope): "
                    "the next process must log in again",
                    self.issuer,
                )
        self._identity = identity
        self._scopes_granted = tokens.scopes
        log.info("logged in to %s as %r (%s flow)", self.issuer, identity.subject, flow)
        return tokens

    def _run_flow(self, flow: OidcFlow) -> FlowAnswer:
        if flow == "browser":
            return BrowserFlow(
                self._server,
                client_id=self.client_id,
                scopes=self.scopes,
                resource=self.resource,
                max_wait=self.login_timeout,
                prompt=self.prompt,
                open_browser=self.open_browser,
                clock=self._clock,
            ).run()
        return DeviceFlow(
            self._server,
            client_id=self.client_id,
            scopes=self.scopes,
            resource=self.resource,
            poll_interval=self.poll_interval,
            max_wait=self.login_timeout,
            prompt=self.prompt,
            clock=self._clock,
        ).run()

    # Refresh -----------------------------------------------------------------------------------

    @property
    def _locked_what(self) -> str:
        return f"the login of client {self.client_id!r} at {self.issuer}"

    def _refreshed(self) -> IssuedToken:
        """A new access token (the cache calls this, holding its lock)."""
        try:
            with self._process_lock.held(self._holder_time, what=self._locked_what):
                # Read again under the lock: another process may have rotated it.
                stored = self._store.read()
                if stored is None:
                    raise self._login_required(
                        f"no login at {self.issuer} for client {self.client_id!r} is stored "
                        f"({self._store.where})"
                    )
                return self._refresh_with(stored)
        except LoginRequired:
            if not self.interactive:
                raise
        return self._login(self.flow).access

    def _refresh_with(self, stored: Secret) -> IssuedToken:
        token_url = self._server.endpoints().token
        credentials = PublicClient().credentials(self.client_id, token_url)
        credentials = credentials.adding(("refresh_token", stored))
        fields = {"grant_type": "refresh_token"}
        if self.resource:
            fields["resource"] = self.resource
        answer = self._server.post(token_url, "the token endpoint", fields, credentials)
        if oauth_error(answer) == "invalid_grant":
            if self._store.read() == stored:
                self._store.delete()  # dead: nobody may use it again
            raise self._login_required(
                f"the login at {self.issuer} ended: the provider refused its refresh token "
                "(invalid_grant: revoked, expired, or used twice)"
            )
        rotated = refresh_token_of(answer)
        if rotated is not None and rotated != stored:
            # Stored before anything else can fail: the old one is spent at the provider.
            self._store.write(rotated)
        tokens = read_tokens(
            answer,
            url=token_url,
            client_id=self.client_id,
            audience=self.audience,
            sent=credentials.secrets,
            now=self._clock(),
            hint=self._hint,
        )
        if tokens.id_token is not None:
            subject = self._identity.subject if self._identity is not None else None
            self._identity = self._verifier.verify(tokens.id_token, subject=subject)
        self._scopes_granted = tokens.scopes or self._scopes_granted
        log.debug(
            "refreshed the login at %s%s",
            self.issuer,
            " (the refresh token was rotated)" if rotated is not None else "",
        )
        return tokens.access

    def _revoke(self, stored: Secret) -> tuple[bool, str]:
        endpoints = self._server.endpoints()
        if endpoints.revocation is None:
            return False, (
                f"{self.issuer} offers no token revocation: the refresh token stays valid there "
                "until it expires"
            )
        credentials = PublicClient().credentials(self.client_id, endpoints.revocation)
        credentials = credentials.adding(("token", stored))
        fields = {"token_type_hint": "refresh_token"}
        what = "the revocation endpoint"
        try:
            answer = self._server.post(endpoints.revocation, what, fields, credentials)
        except IdentityError as exc:
            return False, f"revocation failed: {exc}"
        if 200 <= answer.status < 300:
            return True, ""
        error = oauth_error(answer)
        code = f", OAuth error {error!r}" if error and error.isidentifier() else ""
        return False, f"{what} {endpoints.revocation} answered HTTP {answer.status}{code}"

    # Advice and status -------------------------------------------------------------------------

    def _login_required(self, message: str) -> LoginRequired:
        return LoginRequired(
            message, issuer=self.issuer, client_id=self.client_id, command=self.login_command
        )

    def _hint(self, status: int, error: str | None, negotiate_offered: bool) -> str:
        if error in ("invalid_client", "unauthorized_client"):
            return (
                f"Check that client {self.client_id!r} is registered at {self.issuer} as a "
                "public client allowed this flow and refresh tokens"
            )
        if error == "invalid_grant":
            return f"Log in again: {self.login_command}"
        if error == "invalid_target":
            return f"Check the resource {self.resource!r} with the provider's administrators"
        if error == "invalid_scope":
            return f"Check the scopes {' '.join(self.scopes)!r}"
        if status >= 500:
            return "The OpenID Provider failed; try again later or ask its administrators"
        return "Check the issuer and the client's registration"

    def _status(self, token: CachedToken) -> LoginStatus:
        identity = self._identity
        return LoginStatus(
            principal=token.principal,
            name=identity.name if identity is not None else None,
            issuer=self.issuer,
            client_id=self.client_id,
            scopes=self._scopes_granted,
            expires_at=token.expires_at,
        )
