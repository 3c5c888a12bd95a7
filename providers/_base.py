"""The contract between credential sources and the client.

A provider is asked for one identity for one association (``negotiate(target)``) and returns a
single-use :class:`IdentityExchange`. The exchange holds the :class:`IdentityRequest` (whose secret
fields stay wrapped in :class:`Secret` until :meth:`IdentityExchange.to_primitive`) and checks the
peer's answer in :meth:`IdentityExchange.complete`, the way an httpx auth flow yields a request and
then inspects the response.
"""

from __future__ import annotations

import enum
import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from providers._errors import IdentityError, InvalidIdentity
from providers._safe_errors import secret_safe, total_repr
from providers._scrub import SecretForms
from providers._secret import Secret

if TYPE_CHECKING:  # pynetdicom is imported when an identity is sent, not at start-up (issue 16)
    from pynetdicom.pdu_primitives import UserIdentityNegotiation

# Identity item header: type(1) + response requested(1) + primary length(2) + secondary length(2).
_ITEM_FIXED_LENGTH = 6
# Item type, reserved byte and the 16-bit item length itself.
ITEM_HEADER_LENGTH = 4
MAX_ITEM_LENGTH = 0xFFFF


class IdentityType(enum.IntEnum):
    """User Identity Type (PS3.7 D.3.3.7)."""

    USERNAME = 1
    USERNAME_PASSCODE = 2
    KERBEROS = 3
    SAML = 4
    JWT = 5

    @property
    def is_bearer(self) -> bool:
        """Whoever captures this identity on the wire can replay it (passcode, SAML, JWT)."""
        return self in (IdentityType.USERNAME_PASSCODE, IdentityType.SAML, IdentityType.JWT)

    @property
    def label(self) -> str:
        return _TYPE_LABELS[self]


_TYPE_LABELS = {
    IdentityType.USERNAME: "username",
    IdentityType.USERNAME_PASSCODE: "username+passcode",
    IdentityType.KERBEROS: "kerberos",
    IdentityType.SAML: "saml",
    IdentityType.JWT: "jwt",
}


@dataclass(frozen=True)
class Target:
    """What a provider may know of the peer it is asked to authenticate to."""

    host: str
    port: int
    called_ae_title: str
    calling_ae_title: str
    tls: bool = False

    @property
    def is_loopback(self) -> bool:
        """True only for a literal loopback address (127.0.0.0/8, ::1).

        A name alone never counts, not even ``localhost``: the C library may resolve it through
        DNS (``localhost.``, with its trailing dot, skips the hosts file). The client decides
        from the address it actually connected to (:func:`is_loopback_address`)."""
        return is_loopback_address(self.host)

    @property
    def may_be_loopback(self) -> bool:
        """A literal loopback address, or a name in RFC 6761's ``localhost`` space: worth
        connecting to, for the connected address to say whether it is loopback."""
        name = self.host.rstrip(".").lower()
        return self.is_loopback or name == "localhost" or name.endswith(".localhost")

    def __str__(self) -> str:
        return f"{self.called_ae_title}@{self.host}:{self.port}"


def is_loopback_address(address: str) -> bool:
    """``address`` is a literal IP address in 127.0.0.0/8 or ::1 (an IPv4-mapped one too)."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


@dataclass(frozen=True)
class IdentityRequest:
    """One user identity item, validated, with its secret fields wrapped.

    ``principal`` and ``source`` are never secret: they name who is authenticating (a username, a
    JWT ``sub``, ``user@REALM``) and where the credential came from, for logs and audit.
    """

    identity_type: IdentityType
    primary: Secret
    secondary: Secret | None = None
    positive_response_requested: bool = False
    principal: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity_type", IdentityType(self.identity_type))
        self.validate()

    def validate(self) -> None:
        """Refuse what the standard or DCMTK's strict parser would not take. Names no secret."""
        kind = self.identity_type
        where = f"{kind.label} identity for {self.principal or 'an unnamed principal'}"
        if not isinstance(self.primary, Secret) or (
            self.secondary is not None and not isinstance(self.secondary, Secret)
        ):
            raise InvalidIdentity(f"{where}: primary and secondary fields must be Secret values")
        if not isinstance(self.positive_response_requested, bool):
            raise InvalidIdentity(f"{where}: positive_response_requested must be a bool")
        # Only yes/no questions to the Secrets: no local and no exception context holds a value.
        if not self.primary:
            raise InvalidIdentity(f"{where}: the primary field is empty; nothing to send")
        username = kind in (IdentityType.USERNAME, IdentityType.USERNAME_PASSCODE)
        if username and not self.primary.is_utf8():
            raise InvalidIdentity(f"{where}: the username is not valid UTF-8")
        if kind is IdentityType.USERNAME_PASSCODE:
            if not self.secondary:
                raise InvalidIdentity(
                    f"{where}: the passcode is empty; store a non-empty password in the source"
                )
            if not self.secondary.is_utf8():
                raise InvalidIdentity(f"{where}: the passcode is not valid UTF-8")
        elif self.secondary:
            # Secondary bytes on another type make DCMTK mis-parse the rest of the item.
            raise InvalidIdentity(f"{where}: a passcode may only be sent with type 2")

    def __repr__(self) -> str:
        # Total (see providers._safe_errors): copy.deepcopy leaves a half-built request in a frame
        # when it fails on the Secret, and a reporter that shows locals calls repr on it.
        def build() -> str:
            shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
            return f"IdentityRequest({shown})"

        return total_repr(self, build)

    @property
    def secrets(self) -> tuple[Secret, ...]:
        """The fields that are secret: the passcode, and the primary field of a ticket or
        token (a username is not). What a peer must never get credit for sending back."""
        sent = [self.secondary] if self.secondary else []
        if self.identity_type not in (IdentityType.USERNAME, IdentityType.USERNAME_PASSCODE):
            sent.append(self.primary)
        return tuple(sent)

    @property
    def item_length(self) -> int:
        """Encoded size of the 58H item including its 4-byte header."""
        secondary = len(self.secondary.reveal()) if self.secondary is not None else 0
        return ITEM_HEADER_LENGTH + _ITEM_FIXED_LENGTH + len(self.primary.reveal()) + secondary

    @secret_safe  # its locals hold the revealed fields
    def to_primitive(self) -> UserIdentityNegotiation:
        """Build pynetdicom's primitive. Call at the last moment; never ``str()`` the result."""
        from pynetdicom.pdu_primitives import UserIdentityNegotiation

        item = UserIdentityNegotiation()
        item.user_identity_type = int(self.identity_type)
        item.positive_response_requested = self.positive_response_requested
        item.primary_field = self.primary.reveal()
        item.secondary_field = (
            self.secondary.reveal()
            if self.identity_type is IdentityType.USERNAME_PASSCODE and self.secondary is not None
            else b""
        )
        return item


class ResponseStatus(enum.Enum):
    """What came back for the identity: one word, the same in the Python API, the command line's
    ``response=`` and ``--json`` ``"response"``, and the audit trail (README: "What came back").

    Says what the peer sent, never what the client decided about it (that is the ``Decision``).
    A response that came although none was requested still gets its own word.
    """

    NO_IDENTITY = "no-identity"  # no identity was sent (the client sets it; no exchange has it)
    NOT_REQUESTED = "not-requested"  # no positive response was requested, and none came
    MISSING = "missing"  # a response was requested; the A-ASSOCIATE-AC holds no 59H item
    EMPTY = "empty"  # a 59H item with a zero-length response (PS3.7's answer for types 1 and 2)
    ECHOED = "echoed"  # a secret we sent, sent back (dcm4che's default acceptor): proves nothing
    UNVERIFIED = "present-unverified"  # a non-empty response that nothing can check
    VERIFIED = "verified"  # checked cryptographically (Kerberos AP-REP)

    @property
    def received(self) -> bool:
        """A 59H item came back (whatever it held)."""
        return self in _RECEIVED


_RECEIVED = frozenset(
    {
        ResponseStatus.EMPTY,
        ResponseStatus.ECHOED,
        ResponseStatus.UNVERIFIED,
        ResponseStatus.VERIFIED,
    }
)


@dataclass(frozen=True)
class ResponseCheck:
    status: ResponseStatus
    length: int | None = None
    detail: str = ""

    @property
    def echoed(self) -> bool:
        """The "response" holds a secret we sent (dcm4che's default acceptor echoes our token)."""
        return self.status is ResponseStatus.ECHOED


class IdentityExchange:
    """One identity for one association: the request, then the check of what came back.

    Single use: :meth:`to_primitive` and :meth:`complete` each work once. Subclasses that can
    verify the response (Kerberos) override :meth:`_check` and set ``requires_response``.
    """

    requires_response: bool = False

    def __init__(self, request: IdentityRequest) -> None:
        self.request = request
        self._lock = threading.Lock()
        self._sent = False
        self._result: ResponseCheck | None = None

    def to_primitive(self) -> UserIdentityNegotiation:
        with self._lock:
            if self._sent:
                raise IdentityError(
                    "this IdentityExchange was already used for an association; "
                    "call provider.negotiate(target) again for a new one"
                )
            self._sent = True
        return self.request.to_primitive()

    @property
    def result(self) -> ResponseCheck | None:
        return self._result

    @secret_safe  # the answer may be our own token echoed back
    def complete(self, server_response: bytes | None) -> ResponseCheck:
        """Check the server response of the A-ASSOCIATE-AC (``None``: no 59H item)."""
        with self._lock:
            if self._result is not None:
                raise IdentityError("this IdentityExchange was already completed")
            result = self._check(server_response)
            self._result = result
            return result

    def _check(self, server_response: bytes | None) -> ResponseCheck:
        if server_response is None:
            return self._absent("no user identity item in the A-ASSOCIATE-AC")
        length = len(server_response)
        if server_response and holds_secret(server_response, self.request.secrets):
            # Our own passcode or token back, whole or inside more bytes, raw or encoded
            # (dcm4che's default acceptor echoes; a hostile peer adds a byte): proves nothing.
            return ResponseCheck(
                ResponseStatus.ECHOED, length, detail="the peer sent back a secret we sent"
            )
        if not server_response:
            return ResponseCheck(ResponseStatus.EMPTY, 0, detail="zero-length response")
        return ResponseCheck(ResponseStatus.UNVERIFIED, length, detail="response present")

    def _absent(self, detail: str) -> ResponseCheck:
        """No 59H item: missing if a response was requested, else simply not requested."""
        if self.request.positive_response_requested:
            return ResponseCheck(ResponseStatus.MISSING, detail=detail)
        return ResponseCheck(ResponseStatus.NOT_REQUESTED, detail="no response requested")


def holds_secret(data: bytes, secrets: Iterable[Secret]) -> bool:
    """Whether ``data`` holds one of ``secrets`` anywhere, raw or in any encoding the shared
    scrubber knows (base64 at every alignment, hex, URL-encoded, escaped)."""
    given = [secret for secret in secrets if secret]
    if any(secret.reveal() in data for secret in given):
        return True
    forms = SecretForms(given)
    # Latin-1 maps each byte to one character, so every ASCII encoding is found in it; UTF-8
    # finds the escapes of a non-ASCII secret (a JSON "\u00e4").
    for text in (data.decode("latin-1"), data.decode("utf-8", "replace")):
        if forms and forms.remove(text) != text:
            return True
    return False


@runtime_checkable
class IdentityProvider(Protocol):
    """Anything that can produce one identity for one association.

    Providers that always produce one identity type may also expose ``identity_type`` so the
    client can refuse an insecure transport before the credential is even fetched.
    """

    def negotiate(self, target: Target) -> IdentityExchange: ...
