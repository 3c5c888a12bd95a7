"""The end of an association without pynetdicom's 10 ms sleeps (issue 16).

After the A-RELEASE-RP (or an abort) ``Association.kill()`` waits for the DUL thread to reach
Sta1 (transport closed), checking every 10 ms. The RP reaches the caller before the DUL has closed
the transport, so the first check nearly always fails: a release spent 6.5 ms asleep on average
for a Verification-only association and 10 ms for the default one, more than everything else of
a loopback association together (``benchmarks/README.md``, issue 16).

:func:`poll_release_finely` gives one association a ``kill`` that is upstream's, line for line,
checking every 0.5 ms instead (an instance attribute: nothing process-wide). ``SEAMS`` pins the
body mirrored.
"""

from __future__ import annotations

import time

from pynetdicom.association import Association

_POLL = 0.0005  # seconds between checks that the DUL thread stopped


def poll_release_finely(assoc: Association) -> None:
    """Make ``assoc.kill()`` check every 0.5 ms whether its DUL thread has stopped."""

    def kill() -> None:
        # Association.kill, with _POLL for its time.sleep(0.01).
        assoc._reactor_checkpoint.set()
        assoc._kill = True
        assoc.is_established = False
        assoc._is_paused = True
        while assoc.dul.is_alive() and not assoc.dul.stop_dul():
            time.sleep(_POLL)

    assoc.kill = kill  # type: ignore[method-assign]
