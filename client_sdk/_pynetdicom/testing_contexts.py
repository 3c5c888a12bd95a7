"""A presentation context list that pynetdicom's server copies cheaply.

pynetdicom deep-copies the server's context list for every association it accepts
(``pynetdicom/transport.py`` line 765). For every storage SOP class with every transfer syntax that
costs about 70 ms per association on a small machine; :class:`SharedContexts` makes the copy a
shallow one (the acceptor only reads its contexts), which costs under 2 ms.
"""

from __future__ import annotations

import copy
from typing import Any

from pynetdicom.presentation import PresentationContext


class SharedContexts(list[PresentationContext]):
    """A context list whose ``deepcopy`` copies each context but shares the (immutable) UIDs."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[PresentationContext]:
        copies = []
        for context in self:
            duplicate = copy.copy(context)
            duplicate._transfer_syntax = list(context._transfer_syntax)
            copies.append(duplicate)
        return copies
