"""Small helpers for tests that drive pynetdicom directly (not through the SDK)."""

from __future__ import annotations

from pynetdicom.association import Association


def rejection(assoc: Association) -> tuple[int, int, int]:
    """The (result, source, reason) of a rejected association."""
    assert assoc.is_rejected, "expected the association to be rejected"
    rj = assoc.acceptor.primitive
    assert rj is not None
    return (int(rj.result or 0), int(rj.result_source or 0), int(rj.diagnostic or 0))
