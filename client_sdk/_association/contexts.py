"""What an A-ASSOCIATE-RQ proposes: the presentation contexts (and, for C-GET, the SCP/SCU role
items), and the room left for the identity item in the 16-bit User Information length."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from pynetdicom import (
    DEFAULT_TRANSFER_SYNTAXES,
    PYNETDICOM_IMPLEMENTATION_UID,
    PYNETDICOM_IMPLEMENTATION_VERSION,
    StoragePresentationContexts,
    build_context,
    build_role,
)
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext

from client_sdk._errors import IdentityTooLarge
from client_sdk._pynetdicom.context_copies import SharedContexts, copy_context
from client_sdk._pynetdicom.encoding import role_item_length
from client_sdk._sop import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE, VERIFICATION
from providers import IdentityExchange, Target
from providers._base import ITEM_HEADER_LENGTH, MAX_ITEM_LENGTH

MAX_CONTEXTS = 128  # presentation context IDs are odd numbers 1-255
_MAX_PDU_ITEM = 8  # the Maximum Length sub-item (51H): 4-byte header + 4-byte value
_NOT_STORAGE = {VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE}


def user_information_budget(roles: Sequence[SCP_SCU_RoleSelectionNegotiation] = ()) -> int:
    """Bytes left for the identity item in the User Information item (16-bit length), next to
    pynetdicom's own sub-items and the given SCP/SCU role selection items."""
    used = _MAX_PDU_ITEM + ITEM_HEADER_LENGTH + len(PYNETDICOM_IMPLEMENTATION_UID)
    if PYNETDICOM_IMPLEMENTATION_VERSION:
        used += ITEM_HEADER_LENGTH + len(PYNETDICOM_IMPLEMENTATION_VERSION)
    used += sum(role_item_length(role) for role in roles)
    return MAX_ITEM_LENGTH - used


@functools.cache
def _template(uid: str, syntaxes: tuple[str, ...]) -> PresentationContext:
    """One validated context per SOP class and syntaxes, built once per process: build_context
    checks every UID (about 1,860 UID constructions for the default 123 contexts)."""
    return build_context(uid, list(syntaxes))


def _context(uid: str, syntaxes: str | Sequence[str]) -> PresentationContext:
    """A fresh context (pynetdicom sets its ID and result) sharing the template's UIDs."""
    key = (syntaxes,) if isinstance(syntaxes, str) else tuple(syntaxes)
    return copy_context(_template(uid, key))


_DEFAULT_SYNTAXES = tuple(str(ts) for ts in DEFAULT_TRANSFER_SYNTAXES)


@functools.cache
def default_sop_classes() -> tuple[str, ...]:
    """What ``associate()`` proposes with no SOP classes named: Verification, Study Root C-FIND
    and C-MOVE, and pynetdicom's common storage classes (123 in all)."""
    storage = [str(cx.abstract_syntax) for cx in StoragePresentationContexts]
    return (VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_MOVE, *storage)


def remembered_contexts(accepted: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """One context per (abstract syntax, transfer syntax) a peer accepted before, offering only
    that syntax: the peer picks one per context, so it would pick the same from the full list."""
    return SharedContexts(_context(uid, syntax) for uid, syntax in accepted)


def proposed_contexts(
    sop_classes: Iterable[str] | None, transfer_syntaxes: Iterable[str] = (), retrieve: bool = False
) -> tuple[list[PresentationContext], list[SCP_SCU_RoleSelectionNegotiation]]:
    """The presentation contexts to propose and, for ``retrieve``, the SCP/SCU role items."""
    if sop_classes is None:
        uids: list[str] = list(default_sop_classes())
    else:
        uids = list(dict.fromkeys(str(uid) for uid in sop_classes if uid))
    if retrieve and STUDY_ROOT_GET not in uids:
        uids.insert(0, STUDY_ROOT_GET)
    # An acceptor picks one syntax per context, usually an uncompressed one, so a compressed
    # dataset needs a context that offers only its own syntax.
    named = [str(ts) for ts in dict.fromkeys(transfer_syntaxes)]
    extra = [ts for ts in named if ts not in DEFAULT_TRANSFER_SYNTAXES]
    # SharedContexts: AE.associate deep-copies the list; the copy then shares the UIDs too.
    contexts: list[PresentationContext] = SharedContexts(
        _context(uid, _DEFAULT_SYNTAXES) for uid in uids
    )
    contexts += [_context(uid, ts) for uid in uids for ts in extra]
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError(
            f"at most {MAX_CONTEXTS} presentation contexts per association, {len(contexts)} needed "
            f"for {len(uids)} SOP classes and {len(extra)} extra transfer syntaxes"
        )
    # A named uncompressed syntax also gets contexts of its own, as many as fit: pynetdicom
    # acceptors pick Implicit VR Little Endian from the default list, and a dataset read from an
    # Explicit VR file is then decoded and re-encoded element by element (about a fifth of the
    # client's CPU per CT image); with its own syntax accepted it goes as it was read.
    exact = [_context(uid, ts) for uid in uids for ts in named if ts not in extra]
    contexts += exact[: MAX_CONTEXTS - len(contexts)]
    if not retrieve:
        return contexts, []
    # C-GET: the peer sends the instances back as C-STORE requests on this association, for
    # storage classes we proposed with the SCP role. Propose as many as fit.
    for storage in StoragePresentationContexts:
        uid = str(storage.abstract_syntax)
        if len(contexts) >= MAX_CONTEXTS:
            break
        if uid not in uids:
            uids.append(uid)
            contexts.append(_context(uid, _DEFAULT_SYNTAXES))
    roles = [
        build_role(uid, scu_role=True, scp_role=True) for uid in uids if uid not in _NOT_STORAGE
    ]
    return contexts, roles


def check_budget(exchange: IdentityExchange, target: Target, budget: int) -> None:
    """:class:`IdentityTooLarge` when the identity item does not fit ``budget``: nothing sent."""
    request = exchange.request
    size = request.item_length
    if size - ITEM_HEADER_LENGTH > MAX_ITEM_LENGTH or size > budget:
        raise IdentityTooLarge(
            f"the {request.identity_type.label} identity from {request.source} is {size} bytes; "
            f"at most {budget} fit in an A-ASSOCIATE-RQ (16-bit lengths), so nothing was sent "
            f"to {target}. Use a smaller credential (fewer JWT claims, a shorter ticket)"
        )
