"""What a failed association attempt says about TLS: the recorded evidence, to a typed error.

pynetdicom reports every one of these as "aborted" plus log lines. The evidence is the
:class:`~client_sdk._association.trace.ConnectionTrace` of the attempt: the connect or handshake
error (OpenSSL's reason code, the certificate verification result), the first bytes the peer
sent, a read that failed or found the connection closed. Where that is not conclusive (a peer
that just closes the connection) one diagnostic TLS handshake to the same port settles it: does
the port speak TLS, and does it ask for a client certificate? It carries no DICOM and no
credential, is bounded by the connect timeout, and is made only after a failure.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Any

from client_sdk._association.trace import ConnectionTrace
from client_sdk._errors import (
    ClientCertificateRejected,
    ClientCertificateRequired,
    HostnameMismatch,
    PeerUnreachable,
    PlainToTlsPort,
    TlsHandshakeFailed,
    TlsHandshakeTimeout,
    TlsToPlainPort,
    TlsVersionMismatch,
    UntrustedCertificate,
)
from client_sdk._timeouts import Timeouts
from client_sdk._tls import TlsConfig
from client_sdk._wire.constants import A_ABORT_PDU
from providers import Target

# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_NAME_MISMATCH = {62, 64}
# The peer's bytes are not a TLS record: a plain DICOM port (its A-ABORT or A-ASSOCIATE-RJ).
_NOT_TLS = {
    "WRONG_VERSION_NUMBER",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
    "HTTP_REQUEST",
}
_OLD_VERSION = {"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE"}
# Alerts a server sends about the client certificate it received (or did not).
_CERTIFICATE_ALERTS = {
    "TLSV1_ALERT_UNKNOWN_CA",
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "TLSV1_ALERT_ACCESS_DENIED",
    "TLSV1_ALERT_DECRYPT_ERROR",
}
_CERTIFICATE_REQUIRED = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
_HANDSHAKE_FAILURE = "SSLV3_ALERT_HANDSHAKE_FAILURE"
_UNEXPECTED_EOF = "UNEXPECTED_EOF_WHILE_READING"
_ALERT, _HANDSHAKE = 21, 22  # TLS record content types
_TLS_RECORD_TYPES = {_ALERT, _HANDSHAKE}  # a record header starts with one, then version 3.x
_CERTIFICATE_REQUEST = 13  # TLS handshake message type
_PROBE_TIMEOUT = 5.0  # at most, and never longer than the connect timeout
_GOODBYE_TIMEOUT = 1.0


@dataclass(frozen=True)
class TlsProbe:
    """What one bare TLS handshake learnt of a port."""

    speaks_tls: bool
    certificate_requested: bool


def probe_tls(host: str, port: int, timeout: float) -> TlsProbe:
    """Open a TLS handshake to ``host:port`` without verifying anything, send an A-ABORT over
    it when it completes, and close it.

    ``speaks_tls``: a TLS handshake or alert message came back. ``certificate_requested``: the
    server sent a CertificateRequest (mutual TLS). Seen through the context's message callback,
    the only way Python shows handshake messages (``SSLContext._msg_callback``, since 3.8).
    """
    seen = {"tls": False, "certificate_request": False}

    def on_message(_conn: Any, direction: str, _v: Any, content: int, kind: int, _d: Any) -> None:
        if direction == "read" and content in (_ALERT, _HANDSHAKE):
            seen["tls"] = True
            if (content, kind) == (_HANDSHAKE, _CERTIFICATE_REQUEST):
                seen["certificate_request"] = True

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only asks "is it TLS?"; nothing is sent over it
    setattr(context, "_msg_callback", on_message)  # noqa: B010 (private; no stub)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=None) as tls,
        ):
            # Leave the DICOM way: an A-ABORT ends the server's side at once (rather than at
            # its ARTIM timeout), then wait briefly for it to close the connection.
            tls.settimeout(min(timeout, _GOODBYE_TIMEOUT))
            tls.sendall(A_ABORT_PDU)
            while tls.recv(4096):
                pass
    except (OSError, ValueError):
        pass  # an alert, a reset, a timeout: what was seen before it is the answer
    return TlsProbe(seen["tls"], seen["certificate_request"])


def transport_failure(
    trace: ConnectionTrace,
    target: Target,
    tls: TlsConfig | None,
    timeouts: Timeouts,
    elapsed: float,
) -> PeerUnreachable | None:
    """The typed TLS error that the trace of a failed attempt shows, or None when it shows
    none (a refused or timed-out TCP connect, a DICOM answer: for the caller to say)."""
    if tls is None:
        return _plain_to_tls(trace, target, timeouts, elapsed)
    if not trace.tcp_connected:
        return None  # TCP itself failed: refused, unreachable, timed out
    if not trace.connected:
        return _handshake_failure(trace, target, tls, timeouts)
    return _after_handshake(trace, target, tls, timeouts, elapsed)


def _plain_to_tls(
    trace: ConnectionTrace, target: Target, timeouts: Timeouts, elapsed: float
) -> PeerUnreachable | None:
    if not trace.connected:
        return None
    advice = (
        "The port expects TLS: configure TLS for this peer (TlsConfig, [peers.NAME.tls], --tls "
        "or --ca-file), or use its plain DICOM port"
    )
    received = trace.first_bytes
    if len(received) >= 2 and received[0] in _TLS_RECORD_TYPES and received[1] == 3:
        return PlainToTlsPort(
            f"{target} answered our plain A-ASSOCIATE-RQ with a TLS record "
            f"({received[:2].hex(' ')} ...), not a DICOM PDU. {advice}"
        )
    if received or not _closed_early(trace, timeouts, elapsed):
        return None
    if _probe(trace, target, timeouts).speaks_tls:
        return PlainToTlsPort(
            f"{target} closed the connection on our plain A-ASSOCIATE-RQ without a DICOM "
            "answer, and a TLS handshake to the same port gets a TLS answer (a TLS probe by "
            f"dicom-identity: the peer logs it as a second connection). {advice}"
        )
    return None


def _handshake_failure(
    trace: ConnectionTrace, target: Target, tls: TlsConfig, timeouts: Timeouts
) -> TlsHandshakeFailed:
    error = trace.error
    where = f"TLS handshake with {target}"
    hostname = tls.server_hostname or target.host
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or error.reason or str(error)
        if error.verify_code in _NAME_MISMATCH:
            return HostnameMismatch(
                f"{where}: the certificate is trusted but is not for {hostname!r} ({detail}). "
                "Connect by a name the certificate holds, or set TlsConfig(server_hostname=...) "
                "([peers.NAME.tls] server_hostname, --server-hostname) to one of its names",
                reason=error.reason,
            )
        store = f"ca_file {_path(tls.ca_file)!r}" if tls.ca_file is not None else "system store"
        return UntrustedCertificate(
            f"{where}: the peer's certificate does not verify against the {store} ({detail}). "
            "Set TlsConfig(ca_file=...) ([peers.NAME.tls] ca_file, --ca-file) to the CA that "
            "signed the peer's certificate",
            reason=error.reason,
        )
    if isinstance(error, TimeoutError):
        return TlsHandshakeTimeout(
            f"{where}: the peer accepted the TCP connection but finished no TLS handshake "
            f"within the connect timeout ({timeouts.connect:g} s). Check that the port is the "
            "peer's TLS port; a busy pynetdicom server does its handshakes one at a time"
        )
    reason = error.reason if isinstance(error, ssl.SSLError) else None
    if reason in _NOT_TLS:
        return TlsToPlainPort(
            f"{where}: the peer answered our TLS hello with something that is not TLS "
            f"(OpenSSL: {_text(reason)}): the port speaks plain DICOM. Use the peer's TLS port, "
            "or remove TLS for this peer",
            reason=reason,
        )
    if reason in _OLD_VERSION:
        return TlsVersionMismatch(
            f"{where}: no TLS version in common (OpenSSL: {_text(reason)}); the SDK requires "
            "TLS 1.2 or later and the peer offers only older versions. Enable TLS 1.2 or 1.3 on "
            "the peer",
            reason=reason,
        )
    if _about_client_certificate(reason):
        return _certificate_refused(where, reason, tls)
    if _closed(error) or reason in (None, _HANDSHAKE_FAILURE):
        # A bare close, or a "handshake failure" alert: ask the port once more, directly.
        probe = _probe(trace, target, timeouts)
        if probe.certificate_requested:
            return _certificate_refused(where, reason, tls)
        if _closed(error) and not probe.speaks_tls:
            return TlsToPlainPort(
                f"{where}: the peer closed the connection on our TLS hello, and a second TLS "
                "hello (a probe by dicom-identity: the peer logs it as a second connection) gets "
                "no TLS answer either: the port does not speak TLS (a plain DICOM port?). Use "
                "the peer's TLS port, or remove TLS for this peer"
            )
    what = f"OpenSSL: {_text(reason)}" if reason else _describe(error)
    return TlsHandshakeFailed(
        f"{where} failed ({what}). Check that the port is the peer's TLS port and, if it "
        "requires mutual TLS, that TlsConfig(cert_file=..., key_file=...) is set",
        reason=reason,
    )


def _after_handshake(
    trace: ConnectionTrace, target: Target, tls: TlsConfig, timeouts: Timeouts, elapsed: float
) -> TlsHandshakeFailed | None:
    # Under TLS 1.3 the client's handshake ends before the server has checked the client
    # certificate: a refusal arrives as an alert (or just a closed connection) at the first
    # read, where the A-ASSOCIATE-AC was expected.
    if trace.first_bytes:
        return None  # the peer answered with DICOM: not a TLS failure
    error = trace.read_error
    reason = error.reason if isinstance(error, ssl.SSLError) else None
    where = f"TLS connection to {target}"
    if _about_client_certificate(reason):
        return _certificate_refused(where, reason, tls)
    # The refusal's alert can be lost: the server closes with our A-ASSOCIATE-RQ unread, and
    # its kernel answers with a reset that discards the alert. Then ask the port directly.
    if (
        _closed_early(trace, timeouts, elapsed)
        and _probe(trace, target, timeouts).certificate_requested
    ):
        return _certificate_refused(where, reason, tls)
    return None


def _about_client_certificate(reason: str | None) -> bool:
    return reason == _CERTIFICATE_REQUIRED or reason in _CERTIFICATE_ALERTS


def _certificate_refused(where: str, reason: str | None, tls: TlsConfig) -> TlsHandshakeFailed:
    """The peer asked for a client certificate: it got none, or refused ours."""
    told = f"OpenSSL: {_text(reason)}" if reason else "the peer just closed the connection"
    if not tls.mutual:
        return ClientCertificateRequired(
            f"{where}: the peer requires a client certificate (mutual TLS) and none is "
            f"configured ({told}). Set TlsConfig(cert_file=..., key_file=...) "
            "([peers.NAME.tls] cert_file and key_file, --cert-file and --key-file)",
            reason=reason,
        )
    return ClientCertificateRejected(
        f"{where}: the peer refused our client certificate {_path(tls.cert_file)!r} ({told}). "
        "Use a certificate issued by a CA the peer trusts, valid now and for client "
        "authentication, or ask the peer's administrator to trust its CA",
        reason=reason,
    )


def _closed_early(trace: ConnectionTrace, timeouts: Timeouts, elapsed: float) -> bool:
    """The peer ended the connection (closed or reset) without waiting for a timeout."""
    return (trace.peer_closed or _closed(trace.read_error)) and elapsed < timeouts.acse


def _closed(error: OSError | None) -> bool:
    """A close or reset by the peer, with no TLS alert (OpenSSL 3 reports some as a reason)."""
    if isinstance(error, ssl.SSLError) and error.reason == _UNEXPECTED_EOF:
        return True
    return isinstance(error, ConnectionError | ssl.SSLEOFError | ssl.SSLZeroReturnError)


def _probe(trace: ConnectionTrace, target: Target, timeouts: Timeouts) -> TlsProbe:
    """One diagnostic handshake, noted in the trace: the peer logs it as a second connection,
    which the error message then explains."""
    trace.probed = True
    return probe_tls(target.host, target.port, min(timeouts.connect, _PROBE_TIMEOUT))


def _path(path: object) -> str:
    return str(path)


def _text(reason: str | None) -> str:
    return (reason or "no reason given").lower().replace("_", " ")


def _describe(error: OSError | None) -> str:
    if error is None:
        return "no error recorded"
    if isinstance(error, ssl.SSLEOFError | ConnectionError):
        return "the peer closed the connection during the handshake"
    return f"{type(error).__name__}: {error.strerror or error}"
