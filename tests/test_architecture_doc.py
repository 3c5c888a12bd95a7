"""docs/architecture.md names only paths that exist: every backticked path (a name with a slash,
or a file name with an extension) is checked against the checkout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
# `client_sdk/_sop.py`, `providers/`, `README.md`; not `Client.associate()` or `SEAMS`.
PATH = re.compile(r"`([\w.-]+/[\w./-]*|[\w-]+\.(?:py|md|toml|sh))`")


def named_paths(text: str) -> list[str]:
    return PATH.findall(text)


def test_every_path_in_the_architecture_doc_exists() -> None:
    paths = named_paths(DOC.read_text())
    assert len(paths) > 40  # the doc names the modules it describes
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_path_pattern_finds_files_and_folders_only() -> None:
    text = "`providers/` `client_sdk/_sop.py` `README.md` `Client.associate()` `SEAMS` `a.b`"
    assert named_paths(text) == ["providers/", "client_sdk/_sop.py", "README.md"]
    assert not (ROOT / "client_sdk/_no_such_module.py").exists()  # a wrong path would be caught
