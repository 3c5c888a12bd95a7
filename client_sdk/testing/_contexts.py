"""The presentation contexts the embedded PACS accepts (and proposes to C-MOVE destinations)."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import (
    ALL_TRANSFER_SYNTAXES,
    DEFAULT_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    build_context,
)
from pynetdicom.presentation import PresentationContext

from client_sdk._association.contexts import MAX_CONTEXTS
from client_sdk._pynetdicom.testing_contexts import SharedContexts
from client_sdk._sop import NOT_STORAGE, VERIFICATION


def supported_contexts() -> SharedContexts:
    """Verification, every storage SOP class (any transfer syntax pynetdicom knows) and Study Root
    C-FIND, C-MOVE and C-GET.

    The storage contexts accept SCP/SCU role selection for both roles: a C-GET requestor proposes
    the SCP role so the PACS can send the instances back over the same association.
    """
    contexts = SharedContexts()
    for sop_class in NOT_STORAGE:  # the SOP table's own list, in its order
        contexts.append(build_context(sop_class, DEFAULT_TRANSFER_SYNTAXES))
    for storage in AllStoragePresentationContexts:
        if storage.abstract_syntax is not None:
            context = build_context(storage.abstract_syntax, ALL_TRANSFER_SYNTAXES)
            context.scu_role = True
            context.scp_role = True
            contexts.append(context)
    return contexts


def move_contexts(datasets: Iterable[Dataset]) -> list[PresentationContext]:
    """The contexts to propose to a C-MOVE destination for ``datasets``: one per SOP class with
    the uncompressed syntaxes, one per (SOP class, compressed syntax) stored; at most 128 (the
    instances that do not fit fail as sub-operations)."""
    wanted: dict[tuple[str, str], None] = {}
    for dataset in datasets:
        meta = getattr(dataset, "file_meta", None)
        stored = UID(str(meta.get("TransferSyntaxUID", ""))) if meta is not None else UID("")
        compressed = str(stored) if stored and stored.is_compressed else ""
        wanted[(str(dataset.SOPClassUID), compressed)] = None
    contexts = [
        build_context(sop_class, syntax or DEFAULT_TRANSFER_SYNTAXES)
        for sop_class, syntax in list(wanted)[:MAX_CONTEXTS]
    ]
    return contexts or [build_context(VERIFICATION, DEFAULT_TRANSFER_SYNTAXES)]
