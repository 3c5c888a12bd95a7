"""Verifying a Kerberos identity (user identity type 3) as a GSS-API acceptor, with a replay cache.

The requestor's primary field is either a GSS-API initial context token (``60 ...``, RFC 2743 3.1
framing around a KRB_AP_REQ) or a bare KRB_AP_REQ (``6E ...``, DER APPLICATION 14). Both are handed
to MIT Kerberos through python-gssapi; the answer is an AP-REP in the same form as the request, so
each side gets back what it sent.

Two traps, both checked against MIT krb5 1.20.1 and python-gssapi 1.12:

* ``gssapi.SecurityContext.step`` defers errors by default (``__DEFER_STEP_ERRORS__``): when the
  acceptor fails and has an error token to send, which MIT has whenever the initiator asked for
  mutual authentication, ``step()`` RETURNS that KRB-ERROR token instead of raising, and the
  GSSError only surfaces on the next property access. Code that takes ``step()``'s return value as
  the AP-REP accepts replayed, forged and expired tokens. The acceptor below turns deferral off,
  checks ``complete`` and the reply's TOK_ID. (This is also why MIT can look as if it did not
  replay-check mutual-auth tokens: it does, "Request is a replay", but the error was swallowed.)
* MIT's replay cache can be switched off (``KRB5RCACHETYPE=none``) or be unusable, and a DICOM
  acceptor accepts the association on the AP-REQ alone, with no later message that a replayer
  would fail to produce. So :class:`ReplayCache` keeps our own record. It is keyed on the
  authenticator's ciphertext, as MIT's own cache is, not on the token bytes: MIT accepts the same
  AP-REQ with non-minimal DER lengths, with trailing bytes, framed or bare, so byte-different
  tokens carry one and the same authenticator.

Nothing here logs, records or raises with token or reply bytes in it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from typing import Any

from providers._kerberos_framing import AP_REP, AP_REQ, FramingError, frame, unframe
from providers._safe_errors import total_repr

INSTALL_HINT = "pip install 'dicom-identity[kerberos]'"

# How long a presented authenticator is remembered. The acceptor takes an authenticator whose time
# is within the clock skew (MIT default 300 s) of its own clock, on either side, so one stamped
# "now + skew" stays acceptable until "now + 2 * skew".
DEFAULT_CLOCK_SKEW = 300.0
MAX_REPLAY_ENTRIES = 100_000

_GSS_TOKEN = 0x60  # [APPLICATION 0] IMPLICIT SEQUENCE, RFC 2743 3.1
_KRB_AP_REQ = 0x6E  # [APPLICATION 14], RFC 4120 5.5.1
_SEQUENCE = 0x30
_OCTET_STRING = 0x04
_AUTHENTICATOR = 0xA4  # AP-REQ field [4] authenticator: EncryptedData
_CIPHER = 0xA2  # EncryptedData field [2] cipher: OCTET STRING


class KerberosRejected(Exception):
    """The token was refused; the message is safe to log (it never holds token bytes)."""


class _Malformed(ValueError):
    pass


# DER, just enough to find the authenticator ----------------------------------------------------


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``pos``; single-byte tags and
    definite lengths only (long form accepted even when not minimal, as MIT accepts it)."""
    if pos + 2 > end:
        raise _Malformed("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _Malformed("multi-byte tag")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise _Malformed("unsupported length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise _Malformed("element overruns its parent")
    return tag, pos, pos + length


def _child(data: bytes, start: int, end: int, wanted: int) -> tuple[int, int]:
    """Content bounds of the first child tagged ``wanted`` in ``data[start:end]``."""
    pos = start
    while pos < end:
        tag, body, stop = _tlv(data, pos, end)
        if tag == wanted:
            return body, stop
        pos = stop
    raise _Malformed(f"no element {wanted:#04x}")


def _expect(data: bytes, start: int, end: int, wanted: int) -> tuple[int, int]:
    tag, body, stop = _tlv(data, start, end)
    if tag != wanted:
        raise _Malformed(f"expected {wanted:#04x}")
    return body, stop


def authenticator_digest(ap_req: bytes) -> bytes:
    """SHA-256 of the authenticator ciphertext of a bare KRB_AP_REQ (raises ``ValueError``).

    The ciphertext is integrity-protected by every Kerberos enctype, so it cannot be altered
    without breaking the token; its DER wrapping can, which is why the wrapping is not hashed.
    """
    body, stop = _expect(ap_req, 0, len(ap_req), _KRB_AP_REQ)
    body, stop = _expect(ap_req, body, stop, _SEQUENCE)
    body, stop = _child(ap_req, body, stop, _AUTHENTICATOR)
    body, stop = _expect(ap_req, body, stop, _SEQUENCE)
    body, stop = _child(ap_req, body, stop, _CIPHER)
    body, stop = _expect(ap_req, body, stop, _OCTET_STRING)
    if stop == body:
        raise _Malformed("empty authenticator")
    return hashlib.sha256(ap_req[body:stop]).digest()


# Replay cache ------------------------------------------------------------------------------------


class ReplayCache:
    """Remembers authenticator digests for ``window`` seconds; thread-safe and bounded.

    :meth:`claim` checks and records in one step, so two associations racing with the same token
    cannot both pass. Every claimed digest is kept, verified or not (a token refused now, e.g. for
    clock skew, must not get in later). Past ``max_entries`` the oldest entries are dropped,
    unverified ones first: filling the cache with forged tokens cannot evict a real one that a
    captured copy could then replay.
    """

    def __init__(
        self,
        window: float = 2 * DEFAULT_CLOCK_SKEW,
        max_entries: int = MAX_REPLAY_ENTRIES,
        clock: Any = time.monotonic,
    ) -> None:
        self.window = window
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # digest -> expiry; insertion order is expiry order (constant window, monotonic clock).
        self._unverified: OrderedDict[bytes, float] = OrderedDict()
        self._verified: OrderedDict[bytes, float] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._unverified) + len(self._verified)

    def claim(self, digest: bytes) -> bool:
        """Record ``digest``; False if it was already seen within the window."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            if digest in self._unverified or digest in self._verified:
                return False
            self._unverified[digest] = now + self.window
            while len(self._unverified) + len(self._verified) > self.max_entries:
                (self._unverified or self._verified).popitem(last=False)
            return True

    def verified(self, digest: bytes) -> None:
        """Mark a claimed digest as belonging to a token that was accepted."""
        with self._lock:
            expiry = self._unverified.pop(digest, None)
            if expiry is not None:
                self._verified[digest] = expiry

    def _prune(self, now: float) -> None:
        for entries in (self._unverified, self._verified):
            while entries:
                digest, expiry = next(iter(entries.items()))
                if expiry > now:
                    break
                del entries[digest]


# The acceptor ------------------------------------------------------------------------------------


def _import_gssapi() -> Any:
    try:
        import gssapi
    except ImportError as exc:
        raise ImportError(
            f"Kerberos in the embedded PACS needs python-gssapi: {INSTALL_HINT}"
        ) from exc
    return gssapi


def _safe(text: str, limit: int = 200) -> str:
    """A GSS-API status message fit for one log line (it may quote names from the ticket)."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _gss_message(exc: Any) -> str:
    """The minor status text of a GSSError, else the major one; never the error token."""
    for code, is_major in ((exc.min_code, False), (exc.maj_code, True)):
        if not code:
            continue
        try:
            messages = [m for m in exc.get_all_statuses(code, is_major) if m and m != "Success"]
        except Exception:  # describing an error must not raise
            messages = []
        if messages:
            return _safe("; ".join(messages))
    return "unspecified GSS-API failure"


class KerberosAcceptor:
    """Accepts Kerberos tokens with the keys in ``keytab`` (MIT Kerberos via python-gssapi).

    ``service`` (e.g. ``"dicom/localhost@REALM"``) restricts acceptance to that principal; by
    default any principal in the keytab is accepted. Credentials are acquired once, here; a keytab
    that cannot be used raises ``ValueError``, a missing python-gssapi ``ImportError``.
    """

    def __init__(
        self,
        keytab: str | os.PathLike[str],
        service: str | None = None,
        *,
        replay_cache: ReplayCache | None = None,
    ) -> None:
        gssapi = _import_gssapi()
        self._gssapi = gssapi
        self.keytab = os.fspath(keytab)
        self.service = service
        self.replay_cache = replay_cache or ReplayCache()
        try:
            name = (
                gssapi.Name(service, gssapi.NameType.kerberos_principal)
                if service is not None
                else None
            )
            self._creds = gssapi.Credentials(
                name=name,
                usage="accept",
                mechs=[gssapi.MechType.kerberos],
                store={"keytab": self.keytab},
            )
        except gssapi.exceptions.GSSError as exc:
            wanted = f" for {service!r}" if service else ""
            raise ValueError(
                f"cannot accept Kerberos with keytab {self.keytab!r}{wanted}: {_gss_message(exc)}"
            ) from None

    def __repr__(self) -> str:
        def build() -> str:  # total (providers._safe_errors): it holds the keytab's credentials
            service = self.service or "any principal in the keytab"
            return f"KerberosAcceptor({self.keytab!r}, {service})"

        return total_repr(self, build)

    def accept(self, token: bytes) -> tuple[str, bytes]:
        """Verify ``token``; returns (initiator principal, reply in the request's form, ``b""``
        when the initiator asked for no mutual authentication). Raises :class:`KerberosRejected`.
        """
        framed = bool(token) and token[0] == _GSS_TOKEN
        if framed:
            try:
                tok_id, ap_req = unframe(token)
            except FramingError:
                raise KerberosRejected("not a Kerberos token") from None
            if tok_id != AP_REQ or ap_req[:1] != bytes([_KRB_AP_REQ]):
                raise KerberosRejected("not a Kerberos token")
            gss_token = token
        elif token[:1] == bytes([_KRB_AP_REQ]):
            ap_req, gss_token = token, frame(AP_REQ, token)
        else:
            raise KerberosRejected("not a Kerberos token")
        try:
            digest = authenticator_digest(ap_req)
        except ValueError:
            raise KerberosRejected("Kerberos token malformed") from None

        if not self.replay_cache.claim(digest):
            raise KerberosRejected("Kerberos token replayed")

        gssapi = self._gssapi
        try:
            context = gssapi.SecurityContext(creds=self._creds, usage="accept")
            # Raise from step() itself, never hand back a KRB-ERROR as if it were the reply.
            context.__DEFER_STEP_ERRORS__ = False
            reply = context.step(gss_token)
            if not context.complete:
                raise KerberosRejected("Kerberos exchange needs more than one leg (unsupported)")
            principal = str(context.initiator_name)
        except gssapi.exceptions.GSSError as exc:
            raise KerberosRejected(f"Kerberos token rejected: {_gss_message(exc)}") from None
        reply = bytes(reply or b"")
        if reply:
            try:
                tok_id, bare_reply = unframe(reply)
            except FramingError:
                raise KerberosRejected("Kerberos reply is not a GSS-API token") from None
            if tok_id != AP_REP:
                raise KerberosRejected("Kerberos acceptor answered with an error token")
            if not framed:
                reply = bare_reply
        self.replay_cache.verified(digest)
        return principal, reply
