"""The person's part of an OpenID Connect login, done over HTTP the way a browser would.

A :class:`Browser` is one fresh browser (a ``requests.Session`` that keeps the provider's
cookies, no proxy from the environment): it follows redirects one at a time, reads the forms of
the provider's interaction pages (oidc-provider's development pages and the device pages of
``tests/oidc_op/server.js``) and submits them as a person would: the user code, the login and
password, the consent, or "abort". Every call has one overall deadline. Pages it did not expect
raise :class:`InteractionFailed` with the URL, the status and the error the page shows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests

__all__ = ["Browser", "DeviceCodeRejected", "InteractionFailed", "LoginRejected"]

MAX_STEPS = 20  # redirects and forms in one login; a loop ends as an error, not a hang


class InteractionFailed(AssertionError):
    """The provider answered with a page the helper did not expect (an error page, a loop)."""


class LoginRejected(InteractionFailed):
    """The login page refused the login and password."""


class DeviceCodeRejected(InteractionFailed):
    """The device page refused the user code; ``reason`` is the page's error name
    (``NotFoundError``, ``ExpiredError``, ``AlreadyUsedError``, ``NoCodeError``...)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Form:
    action: str
    method: str
    id: str | None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    url: str
    status: int
    forms: list[Form] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    ids: dict[str, dict[str, str]] = field(default_factory=dict)  # element id -> attributes
    text_by_id: dict[str, str] = field(default_factory=dict)

    def form_with(self, name: str, value: str | None = None) -> Form | None:
        for form in self.forms:
            if name in form.fields and (value is None or form.fields[name] == value):
                return form
        return None

    def form_by_id(self, form_id: str) -> Form | None:
        return next((f for f in self.forms if f.id == form_id), None)

    def describe(self) -> str:
        shown = {k: v for k, v in self.text_by_id.items() if v}
        return f"{self.status} from {self.url}; page says {shown or 'nothing with an id'}"


class _PageParser(HTMLParser):
    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self._form: Form | None = None
        self._open_id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.page.ids[a["id"]] = a
            self._open_id = a["id"]
            self.page.text_by_id.setdefault(a["id"], "")
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get").lower(), a.get("id"))
            self.page.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("href"):
            self.page.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        self._open_id = None

    def handle_data(self, data: str) -> None:
        if self._open_id is not None:
            self.page.text_by_id[self._open_id] += data.strip()


def parse_page(response: requests.Response) -> Page:
    page = Page(response.url, response.status_code)
    _PageParser(page).feed(response.text)
    return page


class Browser:
    """One browser session against the provider at ``issuer``; ``timeout`` bounds each call."""

    def __init__(self, issuer: str, *, timeout: float = 10.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy: only 127.0.0.1 is ever contacted
        self._deadline = 0.0

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    # -- the device flow (RFC 8628): the person types the user code on the verification page --

    def approve_device(self, user_code: str, login: str, password: str) -> None:
        """Enter ``user_code``, confirm, log in, consent; returns on the success page."""
        confirm = self._device_confirm_page(user_code)
        response = self._submit(confirm)
        outcome = self._drive(response, login, password, approve=True)
        if not isinstance(outcome, Page) or "op.deviceSuccess" not in outcome.ids:
            raise InteractionFailed(f"the device login did not end on the success page: {outcome}")

    def deny_device(self, user_code: str) -> None:
        """Enter ``user_code``, then press "Abort" on the confirmation page."""
        confirm = self._device_confirm_page(user_code)
        page = parse_page(self._submit(confirm, extra={"abort": "yes"}))
        reason = page.ids.get("op.deviceError", {}).get("data-error")
        if reason != "AbortedError":
            raise InteractionFailed(f"the abort was not confirmed: {page.describe()}")

    def _device_confirm_page(self, user_code: str) -> Form:
        self._start()
        page = parse_page(self._get(f"{self.issuer}/device"))
        entry = page.form_by_id("op.deviceInputForm")
        if entry is None:
            raise InteractionFailed(f"no user code form: {page.describe()}")
        page = parse_page(self._submit(entry, base=page.url, extra={"user_code": user_code}))
        error = page.ids.get("op.deviceError")
        if error is not None:
            reason = error.get("data-error", "?")
            raise DeviceCodeRejected(f"user code refused ({reason}): {page.describe()}", reason)
        confirm = page.form_by_id("op.deviceConfirmForm")
        if confirm is None:
            raise InteractionFailed(f"no confirmation form: {page.describe()}")
        confirm.action = urljoin(page.url, confirm.action)
        return confirm

    # -- the authorization code flow: the browser opened at the authorization URL ------------

    def complete_login(
        self,
        authorization_url: str,
        login: str,
        password: str,
        *,
        approve: bool = True,
        call_callback: bool = False,
    ) -> str:
        """Follow ``authorization_url`` through login and consent (or "abort" on the consent
        page when ``approve`` is false) to the first redirect that leaves the provider, and
        return that URL (the loopback callback, with ``code``/``state`` or ``error``). With
        ``call_callback`` the browser then requests it, as a real one would."""
        self._start()
        outcome = self._drive(self._get(authorization_url), login, password, approve=approve)
        if isinstance(outcome, Page):
            raise InteractionFailed(f"the login did not redirect back: {outcome.describe()}")
        if call_callback:
            with requests.Session() as plain:
                plain.trust_env = False
                plain.get(outcome, allow_redirects=False, timeout=self._remaining()).close()
        return outcome

    # -- the shared part: redirects, login form, consent form ---------------------------------

    def _drive(
        self, response: requests.Response, login: str, password: str, *, approve: bool
    ) -> Page | str:
        """Until a redirect leaves the provider (returned as a URL) or a page has no
        interaction form (returned as a Page)."""
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                target = urljoin(response.url, response.headers["location"])
                if not self._is_provider(target):
                    return target
                response = self._get(target)
                continue
            page = parse_page(response)
            if "op.loginError" in page.ids:
                raise LoginRejected(f"login {login!r} refused: {page.describe()}")
            if "op.error" in page.ids:
                raise InteractionFailed(f"the provider shows an error: {page.describe()}")
            login_form = page.form_with("prompt", "login")
            consent_form = page.form_with("prompt", "consent")
            if login_form is not None:
                response = self._submit(
                    login_form, base=page.url, extra={"login": login, "password": password}
                )
            elif consent_form is not None and approve:
                response = self._submit(consent_form, base=page.url)
            elif consent_form is not None:
                abort = next((link for link in page.links if link.endswith("/abort")), None)
                if abort is None:
                    raise InteractionFailed(f"no abort link on the consent page: {page.describe()}")
                response = self._get(urljoin(page.url, abort))
            else:
                return page
        raise InteractionFailed(f"more than {MAX_STEPS} pages and redirects: {response.url}")

    def _is_provider(self, url: str) -> bool:
        ours, theirs = urlsplit(self.issuer), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)

    def _start(self) -> None:
        self._deadline = time.monotonic() + self.timeout

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise InteractionFailed(f"the interaction took longer than {self.timeout} s")
        return left

    def _get(self, url: str) -> requests.Response:
        return self.session.get(url, allow_redirects=False, timeout=self._remaining())

    def _submit(
        self, form: Form, *, base: str | None = None, extra: dict[str, str] | None = None
    ) -> requests.Response:
        action = urljoin(base, form.action) if base is not None else form.action
        data = {**form.fields, **(extra or {})}
        if form.method != "post":
            raise InteractionFailed(f"form {form.id or action} is not a POST form")
        return self.session.post(
            action, data=data, allow_redirects=False, timeout=self._remaining()
        )
