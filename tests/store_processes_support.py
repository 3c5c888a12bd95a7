"""Helpers of tests/test_store_processes.py that a worker process imports too (by class name)."""

from __future__ import annotations

import os
from pathlib import Path

from keyrings.alt.file import PlaintextKeyring


class RecordingKeyring(PlaintextKeyring):  # type: ignore[misc]
    """keyrings.alt's real plaintext file backend that also writes, beside its file, the process
    id of every password read: which process fetched the secret, and how often."""

    def get_password(self, service: str, username: str) -> str | None:
        with Path(self.file_path + ".reads").open("a", encoding="utf-8") as reads:
            reads.write(f"{os.getpid()}\n")
        return super().get_password(service, username)  # type: ignore[no-any-return]

    def reads(self) -> list[int]:
        path = Path(self.file_path + ".reads")
        return [int(line) for line in path.read_text().split()] if path.exists() else []
