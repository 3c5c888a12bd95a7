"""An association's end is checked every 0.5 ms, not pynetdicom's 10 ms (issue 16): after a
release or an abort its DUL thread has stopped when the call returns, and its reactor thread
ends, against the embedded PACS and DCMTK storescp."""

from __future__ import annotations

from pathlib import Path

from client_sdk import Client, Peer, Session
from client_sdk._pynetdicom.release_wait import _POLL
from client_sdk.testing import EmbeddedPacs
from tests.conftest import poll
from tests.dcmtk_peers import DcmtkPeers
from tests.fixtures_pacs import client_for
from tests.timeouts import LOCAL


def ended_cleanly(session: Session) -> None:
    assoc = session.association
    assert not assoc.dul.is_alive()  # kill() returned only once the DUL thread had stopped
    poll(lambda: not assoc.is_alive(), timeout=5, what="the association's reactor thread to end")


def test_release_and_abort_end_every_thread(pacs: EmbeddedPacs) -> None:
    client = client_for(pacs)
    for end in ("release", "abort"):
        session = client.associate(sop_classes=["1.2.840.10008.1.1"])
        assert "kill" in vars(session.association)  # this association's own, not the class's
        assert session.echo() == 0x0000
        getattr(session, end)()
        ended_cleanly(session)
    assert [r.ended for r in pacs.wait_for_records(2)] == ["released", "aborted"]
    assert _POLL < 0.01


def test_release_from_storescp(tmp_path: Path) -> None:
    with DcmtkPeers(tmp_path) as dcmtk:
        scp = dcmtk.storescp()
        client = Client(Peer("127.0.0.1", scp.port, scp.ae_title), timeouts=LOCAL)
        for _ in range(3):
            with client.associate(services="echo") as session:
                assert session.echo() == 0x0000
            assert session.association.is_released
            ended_cleanly(session)
