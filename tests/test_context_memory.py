"""The Client remembers which default contexts a peer accepted (issue 16): the second
``client.associate()`` proposes only those, one transfer syntax each; what the memory left out is
asked for again after an operation needed it; nothing secret is kept."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydicom.uid import UID, ExplicitVRLittleEndian

from client_sdk import Client, DimseFailure, Peer, PeerUnreachable, Session
from client_sdk.testing import CT_IMAGE_STORAGE, EmbeddedPacs, ct_dataset
from client_sdk.testing._contexts import supported_contexts
from providers import PasswordProvider
from tests.conftest import USERS
from tests.dcmtk_peers import DcmtkPeers
from tests.fixtures_pacs import client_for
from tests.leak_search import find_leaks
from tests.timeouts import LOCAL

DEFAULT_CONTEXTS = 123  # Verification, Study Root FIND and MOVE, pynetdicom's storage classes
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def proposed(session: Session) -> list[tuple[str, list[str]]]:
    """What the A-ASSOCIATE-RQ of this session's association proposed."""
    return [
        (str(cx.abstract_syntax), [str(ts) for ts in cx.transfer_syntax])
        for cx in session.association.requestor.requested_contexts
    ]


def accepted(session: Session) -> set[tuple[str, str]]:
    return {
        (str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
        for cx in session.association.accepted_contexts
    }


@pytest.fixture
def pacs_without_ct(pacs: EmbeddedPacs) -> EmbeddedPacs:
    """The embedded PACS, configured to refuse CT Image Storage (its server's own context list,
    read for each new association)."""
    server = pacs._server
    assert server is not None
    server.contexts = [cx for cx in server.contexts if cx.abstract_syntax != CT_IMAGE_STORAGE]
    return pacs


def test_the_second_default_association_proposes_only_what_the_peer_accepted(
    pacs_without_ct: EmbeddedPacs,
) -> None:
    client = client_for(pacs_without_ct)
    with client.associate() as first:
        assert len(proposed(first)) == DEFAULT_CONTEXTS
        assert all(len(syntaxes) == 4 for _, syntaxes in proposed(first))
        assert CT_IMAGE_STORAGE in {
            str(cx.abstract_syntax) for cx in first.association.rejected_contexts
        }
        first_accepted = accepted(first)
    with client.associate() as second:
        offered = proposed(second)
        assert len(offered) == len(first_accepted) < DEFAULT_CONTEXTS
        assert CT_IMAGE_STORAGE not in {uid for uid, _ in offered}  # not asked again
        assert all(len(syntaxes) == 1 for _, syntaxes in offered)
        assert {(uid, syntaxes[0]) for uid, syntaxes in offered} == first_accepted
        assert accepted(second) == first_accepted  # the peer's answer is the same
        assert second.association.rejected_contexts == []
        assert second.echo() == 0x0000
    # Named SOP classes are proposed as asked, remembered or not.
    with client.associate(sop_classes=[MR_IMAGE_STORAGE]) as named:
        assert [(uid, len(syntaxes)) for uid, syntaxes in proposed(named)] == [
            (MR_IMAGE_STORAGE, 4)
        ]


def test_the_memory_is_per_peer_ae_title_and_client(pacs_without_ct: EmbeddedPacs) -> None:
    client = client_for(pacs_without_ct)
    with client.associate() as first:
        first_accepted = accepted(first)
    with client.associate() as remembered:
        assert len(proposed(remembered)) == len(first_accepted) < DEFAULT_CONTEXTS
    client.calling_ae_title = "ANOTHER"  # another proposal key: asked in full
    with client.associate() as other:
        assert len(proposed(other)) == DEFAULT_CONTEXTS
    with client_for(pacs_without_ct).associate() as fresh:  # another Client knows nothing
        assert len(proposed(fresh)) == DEFAULT_CONTEXTS


def test_an_operation_the_memory_left_out_fails_as_before_then_the_full_list_is_asked(
    pacs_without_ct: EmbeddedPacs,
) -> None:
    client = client_for(pacs_without_ct)
    with client.associate():
        pass
    # The peer now accepts CT Image Storage (its administrator changed its configuration).
    server = pacs_without_ct._server
    assert server is not None
    server.contexts = supported_contexts()
    with client.associate() as remembered:
        assert CT_IMAGE_STORAGE not in {uid for uid, _ in proposed(remembered)}
        with pytest.raises(DimseFailure) as failed:
            remembered.store(ct_dataset())
        message = str(failed.value)
        assert "CT Image Storage" in message
        assert "did not accept it when this client last proposed the full default list" in message
        assert "next association proposes the full list again" in message
        assert remembered.echo() == 0x0000  # the association itself goes on
    with client.associate() as full:
        assert len(proposed(full)) == DEFAULT_CONTEXTS
        assert full.store(ct_dataset()) == 0x0000
        now_accepted = accepted(full)
    with client.associate() as remembered_again:  # and the new answer is remembered
        assert len(proposed(remembered_again)) == len(now_accepted)
        assert CT_IMAGE_STORAGE in {uid for uid, _ in proposed(remembered_again)}
        assert all(len(syntaxes) == 1 for _, syntaxes in proposed(remembered_again))


def test_a_remembered_proposal_that_fails_is_forgotten(pacs: EmbeddedPacs) -> None:
    client = client_for(pacs)
    with client.associate():
        pass
    assert client._context_memory.remembered(client.target) is not None
    port = pacs.port
    pacs.stop()
    with pytest.raises(PeerUnreachable):
        client.associate()
    assert client.peer.port == port
    assert client._context_memory.remembered(client.target) is None


def test_the_memory_holds_no_secret_and_starts_empty_in_a_copy(pacs: EmbeddedPacs) -> None:
    password = USERS["alice"]
    provider = PasswordProvider("alice", password)
    client = client_for(pacs, provider)
    with client.associate() as session:
        assert session.echo() == 0x0000
    memory = client._context_memory
    assert memory.remembered(client.target) is not None
    stored = repr(memory._accepted)  # everything it keeps
    assert "127.0.0.1" in stored
    pickled = pickle.dumps(memory)
    assert find_leaks(stored + repr(memory) + pickled.decode("latin-1"), [password]) == []
    copy = pickle.loads(pickled)
    assert copy.remembered(client.target) is None
    assert "0 proposal(s) remembered" in repr(copy)


# DCMTK storescp with an association negotiation profile: the peer that accepts 3 of 123.
_PROFILE = """\
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[Few]
PresentationContext1 = VerificationSOPClass\\Uncompressed
PresentationContext2 = CTImageStorage\\Uncompressed
PresentationContext3 = MRImageStorage\\Uncompressed

[[Profiles]]
[Few]
PresentationContexts = Few
"""


def test_storescp_that_accepts_three_gets_three(tmp_path: Path) -> None:
    config = tmp_path / "few.cfg"
    config.write_text(_PROFILE)
    with DcmtkPeers(tmp_path) as dcmtk:
        scp = dcmtk.storescp(extra=["-xf", str(config), "Few"])
        try:
            _three_of_123(Peer("127.0.0.1", scp.port, scp.ae_title))
        except BaseException:
            print(dcmtk.reports())  # storescp's log, shown with the failure
            raise


def _three_of_123(peer: Peer) -> None:
    client = Client(peer, timeouts=LOCAL)
    with client.associate() as first:
        assert len(proposed(first)) == DEFAULT_CONTEXTS
        assert {uid for uid, _ in accepted(first)} == {
            "1.2.840.10008.1.1",
            CT_IMAGE_STORAGE,
            MR_IMAGE_STORAGE,
        }
    with client.associate() as second:
        offered = proposed(second)
        assert len(offered) == 3
        assert {uid for uid, _ in offered} == {uid for uid, _ in accepted(first)}
        assert second.echo() == 0x0000
        ct = ct_dataset()
        ct.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        assert second.store(ct) == 0x0000
        other = ct_dataset(seed=1)
        other.SOPClassUID = other.file_meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
        with pytest.raises(DimseFailure, match="did not accept it"):
            second.store(other)  # refused with the full list too
    with client.associate() as third:
        assert len(proposed(third)) == DEFAULT_CONTEXTS  # asked again after that
