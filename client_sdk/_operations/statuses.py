"""DIMSE statuses (PS3.7 Annex C, PS3.4): which go on, which fail, and the words for a failure."""

from __future__ import annotations

from pydicom import Dataset
from pydicom.multival import MultiValue

from client_sdk._errors import DimseFailure, NotAuthorized
from client_sdk._outcome import IdentityOutcome
from client_sdk._peer_text import PeerText

SUCCESS = 0x0000
NOT_AUTHORIZED = 0x0124
MOVE_DESTINATION_UNKNOWN = 0xA801
PENDING = (0xFF00, 0xFF01)
WARNINGS = (0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007)
_SHOWN_TAGS = 4  # offending elements named in a message


def goes_on(status: int) -> bool:
    """Success, a warning or pending: not a failure."""
    return status == SUCCESS or status in WARNINGS or status in PENDING


def failure(
    operation: str,
    status: int,
    status_ds: Dataset,
    *,
    peer: str,
    outcome: IdentityOutcome,
    peer_text: PeerText,
    extra: str = "",
) -> DimseFailure:
    """The error for a failure status: :class:`NotAuthorized` for 0x0124."""
    detail = peer_detail(status_ds, peer_text) + extra
    if status == NOT_AUTHORIZED:
        return NotAuthorized(
            f"{operation} to {peer} refused: not authorized (0x0124){detail}. "
            f"The identity {outcome.principal or outcome.type_label!r} was "
            "accepted for the association but lacks the right for this operation",
            status=status,
        )
    return DimseFailure(
        f"{operation} to {peer} failed with status 0x{status:04X}{detail}",
        status=status,
    )


def peer_detail(status: Dataset, peer_text: PeerText) -> str:
    """The Error Comment and Offending Element of a failure status, as shown: the comment is
    the peer's text (client_sdk._peer_text), the elements are numbers formatted here."""
    comment = peer_text.shown(status.get("ErrorComment", ""), "LO").strip()
    offending = status.get("OffendingElement")
    tags = offending if isinstance(offending, list | tuple | MultiValue) else [offending]
    named = [f"({int(t) >> 16:04X},{int(t) & 0xFFFF:04X})" for t in tags if isinstance(t, int)]
    if named:
        more = f" and {len(named) - _SHOWN_TAGS} more" if len(named) > _SHOWN_TAGS else ""
        comment += f"{'; ' if comment else ''}offending element {', '.join(named[:_SHOWN_TAGS])}"
        comment += more
    return f" ({comment})" if comment else ""


def count(status: Dataset, keyword: str) -> int:
    value = status.get(keyword)
    return int(value) if isinstance(value, int) else 0
