"""A client's memory of the presentation contexts each peer accepted (issue 16).

``client.associate()`` with no SOP classes proposes 123 contexts with four transfer syntaxes
each; the peer negotiates all of them, and pynetdicom validates every UID of its answer again.
After such an association the Client remembers, in memory only, which (abstract syntax,
transfer syntax) pairs the peer accepted, keyed by the peer (address, AE titles, TLS) and the
proposal; the next default association to it proposes only those, one syntax per context. The
peer picks one syntax per context either way, so the accepted contexts are the same.

Forgotten (the next association proposes the full list again) when an operation needs an abstract
syntax the full list has but the remembered one left out (the peer may accept it now: the
operation's error says so), when the peer rejects part of a remembered proposal, and when an
association with a remembered proposal is not established. Nothing secret is kept: the peer's
address and AE titles, and UIDs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from pynetdicom.association import Association
from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
from pynetdicom.presentation import PresentationContext

from client_sdk._association.contexts import (
    default_sop_classes,
    proposed_contexts,
    remembered_contexts,
)
from client_sdk._pynetdicom.missing_context import on_missing_context
from providers import Target

# (abstract syntax, transfer syntax) of each context a peer accepted, in the order proposed.
Accepted = tuple[tuple[str, str], ...]
_MAX_PEERS = 64  # a Client talks to one peer; a few keys per transfer-syntax set at most


@dataclass(frozen=True)
class _Key:
    target: Target
    transfer_syntaxes: tuple[str, ...]


class ContextMemory:
    """Thread-safe: the associations of ``store_many`` workers share their Client's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accepted: dict[_Key, Accepted] = {}

    def plan(
        self,
        target: Target,
        sop_classes: Iterable[str] | None,
        transfer_syntaxes: Iterable[str],
        retrieve: bool,
    ) -> Proposal:
        """What to propose to ``target``: the remembered contexts for a default proposal the
        peer answered before, otherwise the full list."""
        syntaxes = tuple(str(ts) for ts in dict.fromkeys(transfer_syntaxes))
        if sop_classes is not None or retrieve:
            # Named SOP classes are what the caller asked for; C-GET also negotiates roles.
            contexts, roles = proposed_contexts(sop_classes, syntaxes, retrieve)
            return Proposal(contexts, roles, retrieve=retrieve)
        key = _Key(target, syntaxes)
        with self._lock:
            accepted = self._accepted.get(key)
        if accepted is None:
            contexts, roles = proposed_contexts(None, syntaxes)
            return Proposal(contexts, roles, memory=self, key=key)
        return Proposal(remembered_contexts(accepted), [], memory=self, key=key, reused=accepted)

    def remember(self, key: _Key, accepted: Accepted) -> None:
        with self._lock:
            self._accepted.pop(key, None)
            if len(self._accepted) >= _MAX_PEERS:
                del self._accepted[next(iter(self._accepted))]  # the oldest
            self._accepted[key] = accepted

    def forget(self, key: _Key) -> None:
        with self._lock:
            self._accepted.pop(key, None)

    def remembered(self, target: Target, transfer_syntaxes: Iterable[str] = ()) -> Accepted | None:
        """The pairs remembered for a default proposal to ``target`` (None: the full list)."""
        key = _Key(target, tuple(str(ts) for ts in dict.fromkeys(transfer_syntaxes)))
        with self._lock:
            return self._accepted.get(key)

    def __reduce__(self) -> tuple[type[ContextMemory], tuple[()]]:
        # A copy (another process's Client) starts empty: the lock cannot travel.
        return (ContextMemory, ())

    def __repr__(self) -> str:
        with self._lock:
            return f"ContextMemory({len(self._accepted)} proposal(s) remembered)"


class Proposal:
    """The contexts and role items of one association attempt, and what it teaches the memory."""

    def __init__(
        self,
        contexts: list[PresentationContext],
        roles: list[SCP_SCU_RoleSelectionNegotiation],
        *,
        retrieve: bool = False,
        memory: ContextMemory | None = None,
        key: _Key | None = None,
        reused: Accepted | None = None,
    ) -> None:
        self.contexts = contexts
        self.roles = roles
        self.retrieve = retrieve  # C-GET: the Session takes the peer's C-STORE requests
        self._memory = memory
        self._key = key
        self._reused = reused

    def established(self, assoc: Association) -> None:
        """The peer accepted the association: learn from its answer, or watch the operations."""
        memory, key = self._memory, self._key
        if memory is None or key is None:
            return
        if self._reused is None:
            accepted = tuple(
                (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
                for cx in assoc.accepted_contexts
            )
            if accepted:
                memory.remember(key, accepted)
            return
        if assoc.rejected_contexts:  # the peer changed its mind: ask it everything again
            memory.forget(key)
        on_missing_context(assoc, self._missing)

    def failed(self) -> None:
        """No association: a remembered proposal is not tried again."""
        if self._memory is not None and self._key is not None and self._reused is not None:
            self._memory.forget(self._key)

    def _missing(self, syntax: str) -> str | None:
        memory, key, reused = self._memory, self._key, self._reused or ()
        if memory is None or key is None or syntax not in default_sop_classes():
            return None  # the full list would not have had it either
        if any(uid == syntax for uid, _ in reused):
            return None  # proposed: the peer refused it, or no syntax of the data fits
        memory.forget(key)
        return (
            f"It was not proposed: {key.target} did not accept it when this client last "
            "proposed the full default list, so this association proposed only what it accepted "
            "then. The client has forgotten that: its next association proposes the full list "
            "again"
        )
