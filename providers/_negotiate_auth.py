"""HTTP Negotiate (RFC 4559) with Kerberos, every reply of the server verified.

Each request gets a security context of its own (pyspnego, ``protocol="kerberos"``, from the
``KerberosProvider``'s ticket cache or keytab) and its token goes with the request; the server's
token in the reply's ``WWW-Authenticate: Negotiate`` (the AP-REP) is fed to that same context,
which completes only if the server holds the key of ``HTTP/host``. With mutual authentication
``"required"`` (the default) a reply without a token, or whose token does not complete the
context, raises :class:`HttpMutualAuthenticationFailed` and the reply is refused, on the first
request of an auth object as on every later one. (requests-kerberos checks the first reply of
an auth object only, and mod_auth_gssapi makes a new context for every request.)

A 401 is the server's refusal, whatever token it carries: mod_auth_gssapi answers a failed
context with a Kerberos KRB-ERROR token, so having a token proves nothing there. The 401 is
returned as it is (its Kerberos error is logged at DEBUG), never retried with the same ticket.

Over HTTPS the token is bound to the server's certificate (``tls-server-end-point``,
:mod:`providers._tls_channel_binding`). The certificate is read from the connection of a reply,
so the first request of an auth object is sent without a token, answered 401, and sent again
bound to the certificate of that connection; later requests carry a token at once, bound to the
certificate learnt, and a reply that came over a connection with another certificate is refused
(a 401 over it is sent once more, bound to the new certificate: the server may have renewed it).
"""

from __future__ import annotations

import base64
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.auth

from providers._errors import IdentityError
from providers._http_auth_errors import HttpMutualAuthenticationFailed
from providers._http_debug_scrub import quiet_http_debug
from providers._http_origin import CredentialGuard, Origin
from providers._http_resend import can_resend, resend
from providers._kerberos import KerberosProvider, MutualAuth, _minor_message, _refuse_unprintable
from providers._safe_errors import secret_safe, total_repr
from providers._tls_channel_binding import certificate_binding, peer_certificate
from providers._www_authenticate import find_challenge

log = logging.getLogger("providers.negotiate_auth")


class HttpNegotiateAuth(requests.auth.AuthBase):
    """``Authorization: Negotiate`` for requests to the origin of ``url`` only.

    ``hostname`` names the service principal ``service/hostname`` (default: the provider's
    ``hostname``, else the URL's host; an IP address is never a principal). ``mutual_auth``
    defaults to the provider's (``"required"`` unless it says otherwise).
    ``channel_bindings``: bind tokens to the server certificate over HTTPS."""

    def __init__(
        self,
        provider: KerberosProvider,
        *,
        url: str,
        hostname: str | None = None,
        service: str = "HTTP",
        mutual_auth: MutualAuth | None = None,
        channel_bindings: bool = True,
    ) -> None:
        self.provider = provider
        self.origin = Origin.of(url)
        self.hostname = hostname or provider.hostname or self.origin.host
        self.service = service
        for what, name in (("service", service), ("host name", self.hostname)):
            _refuse_unprintable(what, name)
        self.mutual_auth: MutualAuth = mutual_auth or provider.mutual_auth
        if self.mutual_auth not in ("required", "optional", "disabled"):
            raise ValueError(f"mutual_auth must be required, optional or disabled: {mutual_auth!r}")
        self.channel_bindings = channel_bindings and self.origin.tls
        self.spn = f"{service}/{self.hostname}"
        self.guard = CredentialGuard(self.origin, f"a Kerberos token for {self.spn}", bearer=False)
        self._binding: bytes | None = None  # the certificate's, once a reply showed it
        quiet_http_debug()

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: (
                f"HttpNegotiateAuth(spn={self.spn!r}, origin='{self.origin}', "
                f"mutual_auth={self.mutual_auth!r}, {self.provider!r})"
            ),
        )

    @secret_safe  # the header holds the token
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.guard.check(str(request.url))
        exchange = _Exchange(self)
        binding = self._binding
        if not self.channel_bindings or binding is not None:
            request.headers["Authorization"] = exchange.start(binding)
        elif not can_resend(request):
            # No certificate known yet, and a body that cannot be sent twice: unbound.
            request.headers["Authorization"] = exchange.start(None)
        request.register_hook("response", exchange.handle)  # type: ignore[no-untyped-call]
        return request

    @secret_safe  # the token made here, and the GSSAPI frames
    def new_context(self, binding: bytes | None) -> tuple[Any, bytes]:
        """A fresh security context (bound to ``binding`` when given) and its first token."""
        spnego = self.provider._spnego
        from spnego.channel_bindings import GssChannelBindings

        req = spnego.ContextReq.default
        if self.mutual_auth == "disabled":
            req &= ~spnego.ContextReq.mutual_auth
        else:
            req |= spnego.ContextReq.mutual_auth
        bindings = GssChannelBindings(application_data=binding) if binding else None
        try:
            context = spnego.client(
                username=self.provider._credential(),
                hostname=self.hostname,
                service=self.service,
                protocol="kerberos",
                context_req=req,
                channel_bindings=bindings,
            )
            return context, bytes(context.step())
        except IdentityError:
            raise
        except Exception as exc:  # pyspnego, gssapi and krb5 each raise their own types
            raise self.provider._explain(exc, self.spn) from None

    def binding_of(self, response: requests.Response) -> bytes | None:
        """The binding of the certificate ``response`` came over (None over plain HTTP)."""
        if not self.channel_bindings:
            return None
        certificate = peer_certificate(response)
        return certificate_binding(certificate) if certificate else None

    def remember(self, binding: bytes | None) -> None:
        self._binding = binding


class _Exchange:
    """One request's context: made by :meth:`start`, used once by :meth:`handle`."""

    def __init__(self, auth: HttpNegotiateAuth) -> None:
        self._auth = auth
        self._lock = threading.Lock()
        self._context: Any = None
        self._binding: bytes | None = None
        self._sent: str | None = None
        self._handled = False

    def __repr__(self) -> str:
        return total_repr(self, lambda: f"_Exchange(spn={self._auth.spn!r})")

    def start(self, binding: bytes | None) -> str:
        self._context, token = self._auth.new_context(binding)
        self._binding = binding
        self._sent = "Negotiate " + base64.b64encode(token).decode("ascii")
        return self._sent

    @secret_safe  # its frames hold the tokens sent and received
    def handle(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        with self._lock:
            handled, self._handled = self._handled, True
        if handled:
            return self._later(response)
        auth = self._auth
        if self._context is None:  # over TLS, sent without a token to learn the certificate
            if response.status_code != 401 or not _offers_negotiate(response):
                return response  # nothing asked for, nothing sent
            response = resend(response, self.start(auth.binding_of(response)), send_kwargs)
        elif response.status_code == 401 and self._binding is not None:
            fresh = auth.binding_of(response)
            if fresh is not None and fresh != self._binding and can_resend(response.request):
                # The server's certificate changed since it was learnt: bind to the new one.
                response = resend(response, self.start(fresh), send_kwargs)
        if response.status_code == 401:
            self._log_refusal(response)
            return response
        return self._verified(response)

    def _verified(self, response: requests.Response) -> requests.Response:
        """``response`` if its token completes this context; else it is closed and refused."""
        auth = self._auth
        context, self._context = self._context, None  # one use
        if self._binding is not None and auth.binding_of(response) != self._binding:
            auth.remember(None)
            raise self._refused(
                response,
                "it came over a TLS connection whose certificate is not the one the Kerberos "
                "token was bound to",
            )
        challenge = find_challenge(response.headers.get("WWW-Authenticate"), "Negotiate")
        token = challenge.token68 if challenge is not None else None
        if auth.mutual_auth == "disabled" or (token is None and auth.mutual_auth == "optional"):
            return response
        if token is None:
            raise self._refused(response, "it carries no Negotiate token (no AP-REP)")
        try:
            context.step(base64.b64decode(token, validate=True))
            if not context.complete:
                raise ValueError("the security context did not complete")
        except Exception as exc:
            raise self._refused(
                response, f"its token does not verify ({_minor_message(exc)})"
            ) from None
        if self._binding is not None:
            auth.remember(self._binding)
        return response

    def _refused(self, response: requests.Response, why: str) -> HttpMutualAuthenticationFailed:
        response.close()  # nothing of an unverified reply is read
        request = response.request
        path = urlsplit(str(request.url)).path  # not the query: it can name a patient
        return HttpMutualAuthenticationFailed(
            f"the reply of {self._auth.origin} to {request.method} {path} is refused: {why}. "
            f"The server did not prove that it holds the key of {self._auth.spn}, or the reply "
            "was altered on the way"
        )

    def _later(self, response: requests.Response) -> requests.Response:
        """The answer to a redirect that requests followed: it cannot be verified."""
        header = response.request.headers.get("Authorization")
        if header == self._sent or _offers_negotiate(response, with_token=True):
            raise self._refused(
                response,
                "it answers a redirect that re-sent the Kerberos token of the first request, "
                "which no context can verify; request the new location yourself "
                "(allow_redirects=False)",
            )
        return response

    def _log_refusal(self, response: requests.Response) -> None:
        challenge = find_challenge(response.headers.get("WWW-Authenticate"), "Negotiate")
        context, self._context = self._context, None
        if challenge is None or challenge.token68 is None or context is None:
            return
        try:  # the token of a 401 is a KRB-ERROR: the context turns it into its message
            context.step(base64.b64decode(challenge.token68, validate=True))
        except Exception as exc:
            log.debug(
                "%s refused the token for %s: %s",
                self._auth.origin,
                self._auth.spn,
                _minor_message(exc),
            )


def _offers_negotiate(response: requests.Response, *, with_token: bool = False) -> bool:
    challenge = find_challenge(response.headers.get("WWW-Authenticate"), "Negotiate")
    return challenge is not None and (challenge.token68 is not None or not with_token)
