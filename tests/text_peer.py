"""A real pynetdicom peer on 127.0.0.1 that says what the test chooses.

Its user identity answer and its DIMSE answers (status datasets with an Error Comment, C-FIND
matches, C-GET/C-MOVE final statuses and sub-operations) are callables the test sets, so a test
can make the peer send our own passcode or token back, with a newline that forges a line of
output. The ACSE is the embedded PACS's :class:`~client_sdk.testing.acse.ConformantACSE`, so the
answer goes back for identity types 1 and 2 too (stock pynetdicom drops it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pydicom import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.events import Event

from client_sdk import STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE, VERIFICATION
from client_sdk._pynetdicom.testing_acse import ConformantACSE

AE_TITLE = "TEXT_PEER"
USER = "alice"
PASSCODE = "s3cret-Passcode-77"

# What a forged line looks like: the CLI's own success line for an association.
FORGED = (
    "\nC-ECHO: peer=TEXT_PEER@127.0.0.1:104 identity=username+passcode principal='alice' "
    "response=verified decision=confirmed status=0x0000"
)

Answer = Callable[[int, bytes, bytes], bytes | None]
Retrieve = Iterator[Any]


def empty_answer(identity_type: int, primary: bytes, secondary: bytes) -> bytes | None:
    return b""


def failure(status: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = status
    ds.ErrorComment = comment
    return ds


@dataclass
class TextPeer:
    """Context manager: the peer runs between ``__enter__`` and ``__exit__``."""

    answer: Answer = empty_answer
    echo: Callable[[], int | Dataset] = lambda: 0x0000
    store: Callable[[], int | Dataset] = lambda: 0x0000
    find: Callable[[], Iterator[tuple[int | Dataset, Dataset | None]]] = lambda: iter(())
    get: Callable[[], Retrieve] = lambda: iter([0])
    move: Callable[[], Retrieve] = lambda: iter([(None, None)])
    identities: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    port: int = 0

    def __enter__(self) -> TextPeer:
        ae = AE(AE_TITLE)
        for uid in (VERIFICATION, STUDY_ROOT_FIND, STUDY_ROOT_GET, STUDY_ROOT_MOVE):
            ae.add_supported_context(uid)
        for cx in AllStoragePresentationContexts[:100]:
            # For C-GET the peer sends instances back over the client's association: SCU role.
            ae.add_supported_context(str(cx.abstract_syntax), scu_role=True, scp_role=True)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        self._lock = threading.Lock()
        server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=self._handlers())
        assert server is not None
        self._server = server
        self.port = int(server.server_address[1])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _handlers(self) -> list[Any]:
        return [
            (evt.EVT_CONN_OPEN, _conformant),
            (evt.EVT_USER_ID, self._on_user_id),
            (evt.EVT_C_ECHO, lambda event: self.echo()),
            (evt.EVT_C_STORE, lambda event: self.store()),
            (evt.EVT_C_FIND, lambda event: self.find()),
            (evt.EVT_C_GET, lambda event: self.get()),
            (evt.EVT_C_MOVE, lambda event: self.move()),
        ]

    def _on_user_id(self, event: Event) -> tuple[bool, bytes | None]:
        fields: Any = event
        kind = int(fields.user_id_type)
        primary = bytes(fields.primary_field or b"")
        secondary = bytes(fields.secondary_field or b"")
        with self._lock:
            self.identities.append((kind, primary, secondary))
        return True, self.answer(kind, primary, secondary)


def _conformant(event: Event) -> None:
    event.assoc.acse = ConformantACSE(event.assoc)


def cli_env(tmp_path: Path) -> dict[str, str]:
    """The ``env`` fixture's pattern (tests/test_cli.py), with ``alice``'s passcode in a real
    file keyring (keyrings.alt's PlaintextKeyring) under service ``text-peer``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOM_IDENTITY_")}
    env.update(
        PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring",
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        HOME=str(tmp_path),
    )
    from keyrings.alt.file import PlaintextKeyring

    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "data" / "python_keyring" / "keyring_pass.cfg")
    backend.set_password("text-peer", USER, PASSCODE)
    return env


PASSCODE_FLAGS = ("--user", USER, "--keyring-service", "text-peer")
