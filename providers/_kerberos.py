"""Type 3: a Kerberos service ticket for the peer, with the peer's reply verified.

The token is built fresh for every association by pyspnego (``protocol="kerberos"``: "negotiate"
would silently fall back to NTLM) from the default ticket cache, an explicit one, or a client
keytab. The same security context then verifies the peer's answer (the AP-REP): that is mutual
authentication, the proof that the PACS holds the key of the service principal.

``token_format``:

* ``"gssapi"``: the RFC 1964/4121 GSS-API initial context token (``60 .. 06 09 2a 86 48 86 f7 12
  01 02 02 01 00 <AP-REQ>``), what a GSS-API acceptor consumes; the answer is a framed AP-REP.
* ``"ap-req"``: the bare KRB_AP_REQ (DER ``6e ..``) without the GSS framing; the answer is expected
  as a bare KRB_AP_REP (``6f ..``). PS3.7 only says "RFC 1510": check the peer's Conformance
  Statement.

``mutual_auth``: ``"required"`` (a missing or invalid answer aborts the association whatever the
missing-response policy says), ``"optional"`` (an answer is verified; a missing one goes to the
policy), ``"disabled"`` (an answer is recorded, not verified).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Literal, get_args

from providers._base import (
    IdentityExchange,
    IdentityRequest,
    IdentityType,
    ResponseCheck,
    ResponseStatus,
    Target,
)
from providers._errors import (
    CredentialError,
    CredentialExpired,
    CredentialUnavailable,
    IdentityError,
    InvalidIdentity,
    MutualAuthenticationFailed,
)
from providers._kerberos_framing import AP_REP, FramingError, frame, unframe
from providers._outside_text import label, quoted
from providers._recipe import ProviderRecipe
from providers._safe_errors import secret_safe, total_repr
from providers._secret import Secret

if TYPE_CHECKING:
    import spnego

log = logging.getLogger("providers.kerberos")

MutualAuth = Literal["required", "optional", "disabled"]
TokenFormat = Literal["gssapi", "ap-req"]
EXTRA_HINT = "pip install 'dicom-identity[kerberos]' (needs Debian's libkrb5-dev to build)"


class KerberosUnavailable(IdentityError, ImportError):
    """The GSSAPI libraries that Kerberos needs are not installed."""


def _load_spnego() -> Any:
    try:
        import gssapi  # noqa: F401  (pyspnego's Kerberos support on Linux)
        import spnego
    except ImportError as exc:
        raise KerberosUnavailable(
            f"Kerberos identities need pyspnego with GSSAPI ({exc.name} is missing): {EXTRA_HINT}"
        ) from exc
    return spnego


class KerberosProvider:
    """A Kerberos service ticket for ``service/hostname``, fresh for every association.

    Credentials: the default ticket cache (after ``kinit``), ``ccache="FILE:/path"``, or a client
    ``keytab`` with its ``principal`` (service accounts: no password anywhere). ``hostname``
    defaults to the peer's host; set it when the PACS is registered under another name (the
    service principal must be a host name the KDC knows, not an IP address).
    """

    identity_type = IdentityType.KERBEROS

    def __init__(
        self,
        *,
        service: str = "dicom",
        hostname: str | None = None,
        principal: str | None = None,
        ccache: str | None = None,
        keytab: str | None = None,
        mutual_auth: MutualAuth = "required",
        token_format: TokenFormat = "gssapi",  # noqa: S107  (a format name, not a secret)
        positive_response: bool = True,
    ) -> None:
        if mutual_auth not in get_args(MutualAuth):
            raise ValueError(f"mutual_auth must be one of {get_args(MutualAuth)}: {mutual_auth!r}")
        if token_format not in get_args(TokenFormat):
            raise ValueError(
                f"token_format must be one of {get_args(TokenFormat)}: {token_format!r}"
            )
        if mutual_auth == "required" and not positive_response:
            raise ValueError(
                "mutual_auth='required' needs positive_response=True: the peer only sends its "
                "AP-REP when asked"
            )
        if keytab is not None and ccache is not None:
            raise ValueError("give a keytab or a ccache, not both")
        for what, name in (("service", service), ("hostname", hostname), ("principal", principal)):
            _refuse_unprintable(what, name)
        self._spnego = _load_spnego()
        _quiet_spnego_tokens()
        self.service = service
        self.hostname = hostname
        self.principal = principal
        self.ccache = ccache
        self.keytab = keytab
        self.mutual_auth: MutualAuth = mutual_auth
        self.token_format: TokenFormat = token_format
        self.positive_response = positive_response

    @secret_safe  # the token made here, and the GSSAPI frames, must not ride out on an error
    def negotiate(self, target: Target) -> KerberosExchange:
        spnego = self._spnego
        host = self.hostname or target.host
        _refuse_unprintable("peer host name", host)
        spn = f"{self.service}/{host}"
        req = spnego.ContextReq.default
        if self.mutual_auth == "disabled":
            req &= ~spnego.ContextReq.mutual_auth
        else:
            req |= spnego.ContextReq.mutual_auth
        try:
            principal = self._principal()
            context = spnego.client(
                username=self._credential(),
                hostname=host,
                service=self.service,
                protocol="kerberos",
                context_req=req,
            )
            token = bytes(context.step())
        except IdentityError:
            raise
        except Exception as exc:  # pyspnego, gssapi and krb5 each raise their own types
            raise self._explain(exc, spn) from None
        if self.token_format == "ap-req":
            token = unframe(token)[1]
        request = IdentityRequest(
            IdentityType.KERBEROS,
            Secret(token),
            positive_response_requested=self.positive_response,
            principal=principal,
            source=f"Kerberos {self._source()} for {spn}",
        )
        return KerberosExchange(request, context, self.mutual_auth, self.token_format, spn)

    def _credential(self) -> Any:
        spnego = self._spnego
        if self.keytab is not None:
            return spnego.KerberosKeytab(keytab=self.keytab, principal=self.principal)
        if self.ccache is not None:
            return spnego.KerberosCCache(ccache=self.ccache, principal=self.principal)
        return self.principal  # None: the default cache; a name: that principal in the cache

    def _source(self) -> str:
        if self.keytab is not None:
            return f"keytab {self.keytab}"
        return f"ticket cache {self.ccache}" if self.ccache else "default ticket cache"

    def client_principal(self) -> str:
        """The client principal this provider authenticates as (the keytab's given principal,
        or the ticket cache's), for logs and audit records; raises a GSSAPI error when there is
        no usable credential."""
        return self._principal()

    def _principal(self) -> str:
        """Who we are, for logs and audit; also fails early with a clear error."""
        if self.keytab is not None and self.principal:
            return self.principal
        import gssapi

        store: dict[bytes | str, bytes | str] | None = None
        if self.keytab is not None:
            store = {"client_keytab": self.keytab}
        elif self.ccache is not None:
            store = {"ccache": self.ccache}
        name = (
            gssapi.Name(self.principal, gssapi.NameType.kerberos_principal)
            if self.principal
            else None
        )
        creds = gssapi.Credentials(name=name, usage="initiate", store=store)
        return str(creds.name)

    def _explain(self, exc: Exception, spn: str) -> IdentityError:
        spn = label(spn, 200)  # a host name of any length may have come with the peer
        text = _minor_message(exc)
        where = self._source()
        if re.search(r"expired", text, re.I):
            return CredentialExpired(
                f"the Kerberos ticket in the {where} has expired ({text}); nothing was sent. "
                "Run kinit again, or use a keytab (KerberosProvider(keytab=..., principal=...))"
            )
        if re.search(
            r"No Kerberos credentials|No credentials cache|credentials were unavailable", text, re.I
        ):
            return CredentialUnavailable(
                f"no Kerberos ticket in the {where} ({text}). Run kinit, or configure a keytab "
                "(KerberosProvider(keytab=..., principal=...))"
            )
        if re.search(
            r"Keytab contains no suitable keys|Key table entry not found|No key table", text, re.I
        ):
            return CredentialError(
                f"the keytab {self.keytab} holds no key for {self.principal or 'its principal'} "
                f"({text}). Check it with: klist -k {self.keytab}"
            )
        if re.search(r"Key table file .* not found|keytab .* not found", text, re.I):
            return CredentialUnavailable(f"the keytab {self.keytab} does not exist ({text})")
        if re.search(r"not found in Kerberos database|Server not found", text, re.I):
            return CredentialError(
                f"the KDC does not know the service principal {spn}@{_default_realm()} ({text}). "
                "Ask the Kerberos administrator to create it (with a keytab for the PACS), or set "
                "KerberosProvider(hostname=...) to the name the PACS is registered under"
            )
        if re.search(r"Cannot contact any KDC|Cannot find KDC|Connection refused", text, re.I):
            return CredentialError(
                f"cannot reach a KDC for realm {_default_realm()} ({text}); nothing was sent. "
                "Check that the KDC is running and reachable from here (network, firewall, the "
                "[realms] section of krb5.conf), then retry"
            )
        if re.search(r"Clock skew too great", text, re.I):
            return CredentialError(
                f"clock skew too great between this machine and the KDC ({text}); nothing was "
                "sent. Synchronise the clock (chrony or ntpd)"
            )
        return CredentialError(
            f"Kerberos failed for {spn} with the {where}: {text}. Check the principal and the "
            "tickets it holds (klist), and the realm's settings in krb5.conf"
        )

    def recipe(self) -> ProviderRecipe:
        """How a worker process builds this provider again: the principal, service and
        credential cache or keytab (the ticket is got there)."""
        return ProviderRecipe.of(
            self,
            service=self.service,
            hostname=self.hostname,
            principal=self.principal,
            ccache=self.ccache,
            keytab=self.keytab,
            mutual_auth=self.mutual_auth,
            token_format=self.token_format,
            positive_response=self.positive_response,
        )

    def __repr__(self) -> str:
        return total_repr(
            self,
            lambda: (
                f"KerberosProvider(service={self.service!r}, hostname={self.hostname!r}, "
                f"principal={self.principal!r}, {self._source()}, "
                f"mutual_auth={self.mutual_auth!r}, token_format={self.token_format!r})"
            ),
        )


def _refuse_unprintable(what: str, name: str | None) -> None:
    """The C libraries cut a name at a NUL ("al\\0ice" is "al"): another principal, silently."""
    if name is not None and not name.isprintable():
        raise InvalidIdentity(
            f"the Kerberos {what} {quoted(name)} holds control characters; give the name "
            "as the KDC knows it (klist shows the principals of a ticket cache)"
        )


def _minor_message(exc: Exception) -> str:
    """The useful sentence of a GSSAPI/pyspnego/krb5 error (they never hold key material), as
    one printable line of bounded length: it can quote a principal name of any length.

    The minor (mechanism) status says the most; when it is empty or "Success", the major one."""
    return label(_useful_sentence(str(exc)) or type(exc).__name__, 300)


def _useful_sentence(text: str) -> str:
    minor = re.search(r"Minor \(\d+\): (.*?)(?:, Context:|$)", text)
    if minor and minor.group(1).strip() not in ("", "Success", "Unknown error"):
        return minor.group(1).strip()
    major = re.search(r"Major \(\d+\): (.*?)(?:, Minor|, Context:|$)", text)
    if major:
        return major.group(1).strip()
    return re.sub(r"\s+-?\d+$", "", text).strip()


class _TokenLogFilter(logging.Filter):
    """pyspnego logs every token it produces or receives, base64-encoded, at DEBUG."""

    _STEP = re.compile(r"^(\w+ step (?:input|output)): \S+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._STEP.sub(r"\1: [redacted]", message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_token_filter = _TokenLogFilter()


def _quiet_spnego_tokens() -> None:
    # On the loggers that create the records: a parent's filter never sees propagated records.
    for name in (
        "spnego",
        "spnego._gss",
        "spnego._negotiate",
        "spnego._sspi",
        "spnego._ntlm",
        "spnego._credssp",
    ):
        logger = logging.getLogger(name)
        if _token_filter not in logger.filters:
            logger.addFilter(_token_filter)


def _default_realm() -> str:
    try:
        import krb5

        return bytes(krb5.get_default_realm(krb5.init_context())).decode()
    except Exception:
        return "the default realm"


class KerberosExchange(IdentityExchange):
    """Verifies the AP-REP with the security context that produced the AP-REQ."""

    def __init__(
        self,
        request: IdentityRequest,
        context: spnego.ContextProxy,
        mutual_auth: MutualAuth,
        token_format: TokenFormat,
        spn: str,
    ) -> None:
        super().__init__(request)
        self._context: spnego.ContextProxy | None = context
        self._context_lock = threading.Lock()
        self.mutual_auth = mutual_auth
        self.token_format = token_format
        self.spn = spn
        self.requires_response = mutual_auth == "required"

    def __repr__(self) -> str:
        return total_repr(
            self, lambda: f"KerberosExchange(spn={self.spn!r}, mutual_auth={self.mutual_auth!r})"
        )

    def _check(self, server_response: bytes | None) -> ResponseCheck:
        with self._context_lock:
            context, self._context = self._context, None  # one use; drop the keys after
        if server_response is None:
            return self._absent(
                "no AP-REP"
                + (" although mutual authentication is required" if self.requires_response else "")
            )
        if self.mutual_auth == "disabled" or context is None:
            return super()._check(server_response)
        principal = self.request.principal or "the caller"
        if server_response == self.request.primary.reveal():
            raise MutualAuthenticationFailed(
                f"the peer sent our own Kerberos token back instead of an AP-REP for {self.spn}: "
                "it proved nothing about its identity. Association aborted"
            )
        try:
            token = server_response
            if self.token_format == "ap-req":
                token = frame(AP_REP, server_response)
            else:
                tok_id, _ = unframe(server_response)
                if tok_id != AP_REP:
                    raise FramingError("the GSS-API token is not an AP-REP")
            context.step(token)
            if not context.complete:
                raise FramingError("the security context did not complete")
        except Exception as exc:
            raise MutualAuthenticationFailed(
                f"the answer of the peer to the Kerberos identity of {principal!r} does not "
                f"verify ({_minor_message(exc)}): it does not hold the key of {self.spn}, or the "
                "answer was altered on the way. Association aborted"
            ) from None
        return ResponseCheck(
            ResponseStatus.VERIFIED,
            length=len(server_response),
            detail=f"AP-REP verified: the peer holds the key of {self.spn}",
        )
