"""Copies of a validated presentation context that share its UIDs (issue 16).

``build_context`` validates every UID with pydicom (about 1,860 UID constructions for the 123
contexts of a default association); the SDK builds each context once per process and proposes
copies. A copy has its own transfer syntax list and its own ID and result fields (pynetdicom sets
those per association), and shares the immutable UIDs.
"""

from __future__ import annotations

import copy

from pynetdicom.presentation import PresentationContext

from client_sdk._pynetdicom.testing_contexts import SharedContexts

__all__ = ["SharedContexts", "copy_context"]


def copy_context(template: PresentationContext) -> PresentationContext:
    """A fresh context equal to ``template``, sharing its UIDs."""
    duplicate = copy.copy(template)
    duplicate._transfer_syntax = list(template._transfer_syntax)
    return duplicate
