"""The default presentation contexts are built once per process and handed out as fresh copies
(issue 16): each association gets contexts pynetdicom may number and mark without touching the
next association's, equal to what ``build_context`` gives."""

from __future__ import annotations

import copy

from pydicom.uid import UID
from pynetdicom import DEFAULT_TRANSFER_SYNTAXES, build_context

from client_sdk import VERIFICATION, Client, Peer
from client_sdk._association.contexts import proposed_contexts
from client_sdk.testing import EmbeddedPacs

EXPLICIT = "1.2.840.10008.1.2.1"


def test_each_call_gets_fresh_contexts_equal_to_build_context() -> None:
    first, _ = proposed_contexts(None)
    second, _ = proposed_contexts(None)
    assert len(first) == len(second) > 100
    assert all(a is not b for a, b in zip(first, second, strict=True))
    for context in second:
        assert context.abstract_syntax is not None
        expected = build_context(context.abstract_syntax, DEFAULT_TRANSFER_SYNTAXES)
        assert context.abstract_syntax == expected.abstract_syntax
        assert context.transfer_syntax == expected.transfer_syntax
        assert context.context_id is None


def test_changing_one_copy_leaves_the_next_association_alone() -> None:
    contexts, _ = proposed_contexts([VERIFICATION], [EXPLICIT])
    contexts[0].context_id = 1
    contexts[0].transfer_syntax.append(UID("1.2.840.10008.1.2.4.50"))
    again, _ = proposed_contexts([VERIFICATION], [EXPLICIT])
    assert again[0].context_id is None
    assert again[0].transfer_syntax == list(DEFAULT_TRANSFER_SYNTAXES)
    assert again[1].transfer_syntax == [EXPLICIT]


def test_pynetdicoms_deepcopy_of_the_list_gives_separate_contexts() -> None:
    contexts, _ = proposed_contexts(None)
    copies = copy.deepcopy(contexts)
    assert [c.abstract_syntax for c in copies] == [c.abstract_syntax for c in contexts]
    assert all(a is not b for a, b in zip(contexts, copies, strict=True))
    copies[0].context_id = 1
    assert contexts[0].context_id is None


def test_two_default_associations_in_a_row_each_accept_their_contexts() -> None:
    with EmbeddedPacs() as pacs:
        client = Client(Peer(pacs.host, pacs.port, pacs.ae_title))
        for _ in range(2):
            with client.associate() as session:
                session.echo()
                accepted = session.association.accepted_contexts
                assert len(accepted) > 100
                ids = [cx.context_id for cx in accepted]
                assert len(set(ids)) == len(ids)
