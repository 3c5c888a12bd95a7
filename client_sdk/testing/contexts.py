"""The presentation contexts the embedded PACS accepts, and a cheap per-association copy of them.

pynetdicom deep-copies the server's context list for every association it accepts
(``pynetdicom/transport.py`` line 765). For every storage SOP class with every transfer syntax that
costs about 70 ms per association on a small machine; :class:`SharedContexts` makes the copy a
shallow one (the acceptor only reads its contexts), which costs under 2 ms.
"""

from __future__ import annotations

import copy
from typing import Any

from pydicom.uid import UID
from pynetdicom import (
    ALL_TRANSFER_SYNTAXES,
    DEFAULT_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    build_context,
)
from pynetdicom.presentation import PresentationContext

__all__ = ["STUDY_ROOT_FIND", "VERIFICATION", "SharedContexts", "supported_contexts"]

# pynetdicom.sop_class creates its names at import time, so type checkers cannot see them.
VERIFICATION = UID("1.2.840.10008.1.1")
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")


class SharedContexts(list[PresentationContext]):
    """A context list whose ``deepcopy`` copies each context but shares the (immutable) UIDs."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[PresentationContext]:
        copies = []
        for context in self:
            duplicate = copy.copy(context)
            duplicate._transfer_syntax = list(context._transfer_syntax)
            copies.append(duplicate)
        return copies


def supported_contexts() -> SharedContexts:
    """Verification, every storage SOP class (any transfer syntax pynetdicom knows) and Study Root
    C-FIND. Seam for later issues: Study Root C-GET / C-MOVE contexts go here, with their
    handlers in ``pacs.py``.
    """
    contexts = SharedContexts()
    contexts.append(build_context(VERIFICATION, DEFAULT_TRANSFER_SYNTAXES))
    for storage in AllStoragePresentationContexts:
        if storage.abstract_syntax is not None:
            contexts.append(build_context(storage.abstract_syntax, ALL_TRANSFER_SYNTAXES))
    contexts.append(build_context(STUDY_ROOT_FIND, DEFAULT_TRANSFER_SYNTAXES))
    return contexts
