"""The suite's two hypothesis profiles, registered by ``tests/conftest.py`` (``fast`` loaded).

- ``fast``, the default: derandomized, with no example database, so every run generates the same
  examples (a failure in CI is the same failure on a laptop) and the generated tests cost seconds,
  not a minute. The first examples hypothesis draws are its simplest and most boundary-like ones
  (empty, zero, maximum lengths), which is where the hostile-input tests find most.
- ``thorough``, run by ``./scripts/test --thorough`` (which passes
  ``--hypothesis-profile=thorough`` to pytest, an option of hypothesis's pytest plugin): ten times
  the examples, randomized, so each run explores inputs no earlier run tried; a failure prints
  the seed and the ``@reproduce_failure`` blob to replay it.

A generated test states its own count for the fast profile through :func:`examples`, which
scales it for the thorough one.
"""

from __future__ import annotations

from hypothesis import settings

FAST = "fast"
THOROUGH = "thorough"
THOROUGH_FACTOR = 10
# A test that names no count of its own.
FAST_EXAMPLES = 100


def register() -> None:
    """Register both profiles and load ``fast``; ``--hypothesis-profile`` overrides it later."""
    # No per-example deadline: the examples open sockets on a machine the suite shares.
    settings.register_profile(
        FAST, max_examples=FAST_EXAMPLES, derandomize=True, database=None, deadline=None
    )
    settings.register_profile(
        THOROUGH,
        max_examples=FAST_EXAMPLES * THOROUGH_FACTOR,
        derandomize=False,
        database=None,
        deadline=None,
        print_blob=True,
    )
    # conftest runs twice (as ``conftest`` and as ``tests.conftest``, which test modules import):
    # the second run must not undo ``--hypothesis-profile=thorough``.
    if settings.get_current_profile_name() not in (FAST, THOROUGH):
        settings.load_profile(FAST)


def examples(fast: int) -> int:
    """How many examples a test generates: ``fast`` in the fast profile, ten times as many in the
    thorough one. Read when the test module is imported, after the profile is loaded."""
    if settings.get_current_profile_name() == THOROUGH:
        return fast * THOROUGH_FACTOR
    return fast
