"""Where an HTTP credential may go: the one origin it was built for, and over plain HTTP only to
loopback.

An auth object is bound to the origin (scheme, host, port) of the URL it was built for, and
refuses to sign a request to any other: a DICOMweb answer can point elsewhere (Orthanc's QIDO
``RetrieveURL`` names Orthanc itself, not the proxy in front of it), and a client that follows
such a URL must not carry the proxy's password there.

A password or bearer token (:attr:`CredentialGuard.bearer`) crosses the network as it is, so
over plain HTTP it is only sent to loopback, unless the caller allows plain HTTP explicitly. As
for the token endpoint (:mod:`providers._http_deadline`), loopback is decided by the address
connected to, never by a name (``localhost.`` is looked up in DNS): a literal loopback address is
enough on its own; a name in RFC 6761's ``localhost`` space only when the caller's transport
checks the connected address (``transport_checks_loopback=True``: a session whose ``http://``
adapter is :class:`providers._http_deadline.DeadlineAdapter`, which closes a plain-HTTP connection
to any other address before writing a byte). An auth object cannot see the connection its
request will use, so it cannot make that check itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from providers._base import Target, is_loopback_address
from providers._http_auth_errors import HttpAuthWrongOrigin, InsecureHttpAuth
from providers._outside_text import quoted

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    """RFC 6454's origin of an ``http(s)`` URL: scheme, host (lower case), port."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of ``url``; ``ValueError`` for anything but an http(s) URL with a host."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            port = None
            scheme = ""  # an invalid port: refused below
        host = (parts.hostname or "").lower()
        if scheme not in _DEFAULT_PORTS or not host:
            raise ValueError(f"not an http:// or https:// URL with a host: {quoted(url, 160)}")
        return cls(scheme, host, port if port is not None else _DEFAULT_PORTS[scheme])

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def target(self) -> Target:
        """The providers' view of this server (no AE titles: this is HTTP)."""
        return Target(self.host, self.port, "", "", tls=self.tls)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class CredentialGuard:
    """Refuses, before anything is sent, a request the credential must not go with.

    ``bearer``: the credential is replayable as it is (a password, a bearer token), so plain
    HTTP is refused off loopback unless ``allow_plain_http``. ``what`` names the credential in
    messages ("the password of 'alice'")."""

    origin: Origin
    what: str
    bearer: bool
    allow_plain_http: bool = False
    transport_checks_loopback: bool = False

    def check_origin(self, url: str) -> None:
        try:
            origin = Origin.of(url)
        except ValueError:
            origin = None
        if origin != self.origin:
            raise HttpAuthWrongOrigin(
                f"refusing to send {self.what} to {quoted(url, 160)}: this auth object was made "
                f"for {self.origin}, and a credential only goes to the origin it was made for. "
                "Make another auth object for that server if it should get one"
            )

    def check(self, url: str) -> None:
        """Raise unless ``url`` may get the credential (nothing has been sent yet)."""
        self.check_origin(url)
        if not self.bearer or self.origin.tls or self.allow_plain_http:
            return
        host = self.origin.host
        if is_loopback_address(host):
            return  # a literal address is connected to as it is
        if self.transport_checks_loopback and Target(host, 0, "", "").may_be_loopback:
            return  # the connection is closed before writing unless it reached loopback
        why = (
            "a localhost name may resolve elsewhere, and this auth object cannot see the "
            "address its request connects to"
            if Target(host, 0, "", "").may_be_loopback
            else "it is not a loopback address"
        )
        raise InsecureHttpAuth(
            f"refusing to send {self.what} over plain HTTP to {self.origin} ({why}): it would "
            "cross the network in clear; nothing was sent. Use https://, or a loopback address "
            "(127.0.0.1, ::1); for a localhost name, mount providers._http_deadline."
            "DeadlineAdapter for http:// and pass transport_checks_loopback=True; or pass "
            "allow_plain_http=True if the network is trusted"
        )
