"""Why an association attempt ended without an established association, as a typed error.

The evidence: what the peer did (:class:`~client_sdk._association.peer_faults.PeerFaults`), what
happened at the TCP and TLS level (:class:`~client_sdk._association.trace.ConnectionTrace`,
read by ``tls_failures``), and what pynetdicom says of the association. The words for a
rejection and for what the identity may have to do with it are in ``hints``.
"""

from __future__ import annotations

from pynetdicom.association import Association

from client_sdk._association.hints import identity_may_be_why, probe_note, rejected
from client_sdk._association.peer_faults import PeerFaults
from client_sdk._association.tls_failures import transport_failure
from client_sdk._association.trace import ConnectionTrace
from client_sdk._client_settings import ClientSettings
from client_sdk._errors import AssociationAborted, PeerProtocolError, PeerUnreachable
from client_sdk._wire.constants import A_ASSOCIATE_AC
from providers import IdentityExchange


def not_established(
    assoc: Association,
    faults: PeerFaults,
    trace: ConnectionTrace,
    settings: ClientSettings,
    exchange: IdentityExchange | None,
    elapsed: float,
) -> Exception:
    """The error for an attempt that ended before an established association."""
    return _peer_fault(assoc, faults, settings, exchange) or _failure(
        assoc, trace, settings, exchange, elapsed
    )


def _failure(
    assoc: Association,
    trace: ConnectionTrace,
    settings: ClientSettings,
    exchange: IdentityExchange | None,
    elapsed: float,
) -> Exception:
    if trace.refused is not None:
        return trace.refused.with_traceback(None)  # the connected address failed the policy
    target = settings.target
    timeouts = settings.timeouts
    transport = transport_failure(trace, target, settings.peer.tls, timeouts, elapsed)
    if transport is not None:
        return transport  # TLS: which of its failures, or plain DICOM to a TLS port
    if not trace.connected:
        error = trace.error
        if isinstance(error, TimeoutError):
            why = f"no TCP connection within the connect timeout ({timeouts.connect:g} s)"
        elif isinstance(error, ConnectionRefusedError):
            why = "connection refused: nothing listens on that port"
        elif error is not None:
            why = f"{type(error).__name__}: {error.strerror or error}"
        else:
            why = "the connection or the TLS handshake failed"
        return PeerUnreachable(
            f"cannot reach {target}: {why}. Check the host, the port and that the PACS is running"
        )
    accepted = assoc.acceptor.primitive
    if accepted is not None and accepted.result == 0 and not assoc.accepted_contexts:
        # The peer said yes to the association and no to every presentation context;
        # pynetdicom then aborts on its own.
        refused = sorted(
            {cx.abstract_syntax.name for cx in assoc.rejected_contexts if cx.abstract_syntax}
        )
        return AssociationAborted(
            f"{target} accepted the association but none of the proposed SOP classes "
            f"({', '.join(refused) or 'none proposed'}), so it was aborted. The peer does not "
            "offer this service to this calling AE title: check its configuration"
        )
    if elapsed >= timeouts.acse:
        return AssociationAborted(
            f"{target} accepted the TCP connection but sent no A-ASSOCIATE response within the "
            f"ACSE timeout ({timeouts.acse:g} s). Check that the port is a DICOM port"
        )
    if trace.probed:
        tls_hint = probe_note(target.tls)
    elif not target.tls:
        tls_hint = " A TLS port needs Peer(..., tls=TlsConfig(...)) (--tls)."
    else:
        tls_hint = ""
    return AssociationAborted(
        f"{target} closed the connection without an A-ASSOCIATE response. Check that the port "
        f"is a DICOM port and the peer's log.{identity_may_be_why(exchange)}{tls_hint}"
    )


def unusable_answer(
    settings: ClientSettings, faults: PeerFaults, exc: Exception
) -> PeerProtocolError:
    assoc = faults.association
    if assoc is not None:
        assoc.abort()
        faults.close()
    return PeerProtocolError(
        f"{settings.target} answered the A-ASSOCIATE-RQ with an A-ASSOCIATE-AC that pynetdicom "
        f"cannot apply ({type(exc).__name__}); the association was aborted. " + _VENDOR_ADVICE
    )


_VENDOR_ADVICE = (
    "The peer's DICOM implementation is at fault and a retry will not help: report it to its "
    "vendor with a capture of the exchange (tshark -d tcp.port==PORT,dicom)"
)


def _peer_fault(
    assoc: Association,
    faults: PeerFaults,
    settings: ClientSettings,
    exchange: IdentityExchange | None,
) -> Exception | None:
    """The error for a peer that rejected, aborted, broke the protocol or hung up mid-PDU;
    None for the failures ``_failure`` classifies (no connection, TLS, timeouts)."""
    target = settings.target
    if faults.tls_answer:
        return None  # plain DICOM to a TLS port: transport_failure names it (PlainToTlsPort)
    rejection = faults.rejection
    if rejection is None and assoc.is_rejected and assoc.acceptor.primitive is not None:
        rj = assoc.acceptor.primitive
        rejection = (int(rj.result or 0), int(rj.result_source or 0), int(rj.diagnostic or 0))
    if rejection is not None:
        return rejected(rejection, target, exchange)
    if faults.malformed is not None:
        return PeerProtocolError(
            f"{target} {faults.malformed}; the association was aborted. {_VENDOR_ADVICE}"
        )
    if A_ASSOCIATE_AC in faults.pdu_types:
        return None  # it did accept: what went wrong next is for _failure (no context)
    if faults.abort is not None:
        return AssociationAborted(
            f"{target} {faults.describe()} instead of answering the A-ASSOCIATE-RQ. The peer "
            "refused the association without saying why: check its log (and that it knows "
            f"calling AE title {target.calling_ae_title!r})." + identity_may_be_why(exchange)
        )
    if faults.cut is not None:
        return AssociationAborted(
            f"{target} {faults.cut} during negotiation. The peer or the network dropped the "
            "connection: check the peer's log, then retry"
        )
    stalled = faults.stalled()
    if stalled is not None:
        timeouts = settings.timeouts
        return AssociationAborted(
            f"{target} {stalled} (network timeout {timeouts.network:g} s, ACSE timeout "
            f"{timeouts.acse:g} s); the association was aborted. The peer or the network is "
            "stuck: check the peer's log, then retry"
        )
    return None
