"""Why an operation on an established association got no response, as a typed error: the peer
aborted, broke the protocol, hung up, stalled, or said nothing within the DIMSE timeout (then
pynetdicom aborts)."""

from __future__ import annotations

from pynetdicom.association import Association

from client_sdk._association.peer_faults import PeerFaults
from client_sdk._errors import AssociationAborted, DimseFailure, PeerProtocolError
from client_sdk._pynetdicom.fault_hooks import sent_abort


def why_lost(
    operation: str,
    *,
    peer: str,
    faults: PeerFaults,
    association: Association,
    waited: float,
    before: bool = False,
) -> AssociationAborted | DimseFailure:
    """``waited``: seconds since the request went out (or the last response came)."""
    when = "before" if before else "during"
    unknown = (
        ""
        if before or operation == "C-ECHO"
        else f" Whether the {operation} took effect on the peer is unknown: check there "
        "before repeating it."
    )
    if faults.malformed is not None:
        return PeerProtocolError(
            f"{peer} {faults.malformed} {when} the {operation}; the association was "
            "aborted. The peer's DICOM implementation is at fault: report it to its vendor."
            + unknown
        )
    what = faults.describe()
    if what is not None:
        return AssociationAborted(
            f"{peer} {what} {when} the {operation}, ending the association. Check the "
            "peer's log, then open a new association." + unknown
        )
    stalled = faults.stalled()
    if stalled is not None:
        return AssociationAborted(
            f"{peer} {stalled} {when} the {operation}; the association was aborted. "
            "The peer or the network is stuck: check the peer's log, then open a new "
            "association." + unknown
        )
    timeout = association.dimse_timeout
    if timeout is not None and waited >= timeout:
        return DimseFailure(
            f"{operation} to {peer}: no response within the DIMSE timeout "
            f"({timeout:g} s), so the association was aborted. The peer may be overloaded: "
            "retry later or raise Timeouts(dimse=...)." + unknown,
            status=None,
        )
    if sent_abort(association):
        # pynetdicom aborts when a response decodes but does not fit the request.
        return PeerProtocolError(
            f"{peer} answered the {operation} with a response that is not valid for "
            "it; the association was aborted. The peer's DICOM implementation is at fault: "
            "report it to its vendor." + unknown
        )
    return AssociationAborted(
        f"{peer} closed the connection {when} the {operation} without an A-ABORT. "
        "Check the peer's log, then open a new association." + unknown
    )
