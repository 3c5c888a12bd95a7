"""The documents name only tests that exist: every ``tests/test_x.py::test_name`` in the README,
docs/*.md and benchmarks/README.md (the commands that reproduce an interoperability row, the
tests behind a security guarantee) names a test function of that module, read with ``ast``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted(ROOT.glob("docs/*.md"))]
# tests/test_web_levels.py::test_find_at_series_level, with or without a [param] after it
REFERENCE = re.compile(r"(tests/test_\w+\.py)::(\w+)")


def references(text: str) -> list[tuple[str, str]]:
    return REFERENCE.findall(text)


def functions_of(module: Path) -> set[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_every_test_a_document_names_exists() -> None:
    named = [(doc, ref) for doc in DOCUMENTS for ref in references(doc.read_text("utf-8"))]
    assert len(named) > 30  # the interop rows and the security guarantees name their tests
    missing = []
    for doc, (path, name) in named:
        module = ROOT / path
        if not module.is_file() or name not in functions_of(module):
            missing.append(f"{doc.relative_to(ROOT)}: {path}::{name}")
    assert missing == [], "rename the reference or restore the test"


def test_the_pattern_reads_a_node_id_and_a_wrong_one_is_caught() -> None:
    text = "`pytest tests/test_tls.py::test_tls_echo[plain] tests/test_x.py`"
    assert references(text) == [("tests/test_tls.py", "test_tls_echo")]
    assert "test_no_such_test" not in functions_of(ROOT / "tests" / "test_tls.py")
