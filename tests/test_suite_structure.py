"""The test suite's own structure (issue 15): shared fixtures in one place, no test module that
imports another, the association timeouts from one module.

Each rule parses the modules of ``tests/`` with :mod:`ast`; none imports them.

- A ``test_*.py`` module imports no other ``test_*.py`` module: what two modules share lives in a
  helper module named for what it holds (``tests/leak_search.py``, ``tests/saml_assertions.py``,
  ...), so running or deleting one test module never changes another.
- A fixture defined in a shared fixture module (``tests/conftest.py`` and the modules of its
  ``pytest_plugins``) is redefined in a test module only where :data:`OVERRIDES` says so and why.
  Between test modules, the same fixture copied (the same name and the same body) fails; two
  fixtures that merely share a short name (``server``, ``config``) and do different things are
  left alone, as renaming them would say nothing more.
- ``Timeouts(...)`` is assigned at module level only in ``tests/timeouts.py``: the association
  bounds a test gives the SDK are one named set. A lighter rule than "no numeric ``timeout=``
  anywhere": the 160-odd numeric ``timeout=`` arguments left are each the bound of one local wait
  (a thread join, a child process, a ``poll``) read next to what it waits for; a shared name for
  "10 seconds" would hide that, not explain it. A ``Timeouts`` built inside a test, for the
  timeout under test, is allowed.
- No test module calls ``time.sleep``: a test polls with a bound (``tests.conftest.poll``).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Test modules that redefine a shared fixture on purpose, and why.
OVERRIDES: dict[str, dict[str, str]] = {
    "pacs": {
        "test_cli": "its own canary password, so a leak in CLI output names this module",
        "test_cli_output": "its own canary password (output-canary-...), no JWT key",
        "test_cli_store": "its own canary password (store-cli-canary-...), no JWT key",
        "test_audit_required": "its own password for the audit-required users",
        "test_identity_flags": "the users of every identity flag the module exercises",
        "test_loopback_address": "its own loopback-only passcode, a JWT key without audience",
        "test_secret_matrix_cli": "no users: JWT only, with the matrix's token server",
        "test_wrong_place_secrets": "the canary password the module looks for in the wrong places",
        "test_get_move": "C-MOVE destinations: the module's second PACS",
        "test_query_keys": "two studies stored, C-MOVE to the module's destination PACS",
        "test_oidc_login_cli": "verifies tokens through the test OpenID Provider's JWKS",
        "test_store_encoded": "no users and no JWT key: stores without an identity",
    },
    "env": {
        "test_cli_output": "no D-Bus session either: the output of a keyring-less environment",
        "test_secret_matrix_cli": "the passcode and the client secret stored in the file keyring",
    },
}
# Copies between test modules left in place, and why.
COPIES: dict[str, str] = {
    "pacs": "test_cli_output and test_cli_store: the same code over each module's own PASSWORD",
    "pacs_in": "test_embedded_pacs and _kerberos: each over its own module-scoped `running` PACS",
}


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def all_test_modules() -> list[Path]:
    return sorted(TESTS.glob("test_*.py"))


def fixtures(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """The module's top-level fixtures, by name."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            "fixture" in ast.unparse(decorator) for decorator in node.decorator_list
        ):
            found[node.name] = node
    return found


def body_without_docstring(node: ast.FunctionDef) -> str:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return "\n".join(ast.dump(statement) for statement in body)


def shared_fixture_modules() -> list[Path]:
    """tests/conftest.py and the modules its ``pytest_plugins`` names."""
    tree = parsed(TESTS / "conftest.py")
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytest_plugins"
            for target in node.targets
        ):
            names = ast.literal_eval(node.value)
    assert names, "tests/conftest.py declares no pytest_plugins"
    return [TESTS / "conftest.py", *(TESTS / f"{name.split('.')[-1]}.py" for name in names)]


def imported_test_modules(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith("tests.test_") or (node.level and module.startswith("test_")):
                found.append(module)
            if module == "tests" or (node.level and not module):
                found += [a.name for a in node.names if a.name.startswith("test_")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("tests.test_")]
    return found


def test_no_test_module_imports_another() -> None:
    offenders = {
        path.name: imports
        for path in sorted(TESTS.glob("*.py"))
        if (imports := imported_test_modules(parsed(path)))
    }
    assert offenders == {}, (
        "move what the modules share into a helper module named for what it holds"
    )


def test_the_import_check_finds_an_import() -> None:
    """The control: each form of the import is seen."""
    for source in (
        "from tests.test_cli import json_lines",
        "import tests.test_cli",
        "from .test_cli import json_lines",
        "from tests import test_cli",
    ):
        assert imported_test_modules(ast.parse(source)), source
    assert imported_test_modules(ast.parse("from tests.installed_cli import run_cli")) == []


def test_shared_fixtures_are_redefined_only_where_listed() -> None:
    shared = {
        name: path.name for path in shared_fixture_modules() for name in fixtures(parsed(path))
    }
    redefined = {
        (name, path.stem)
        for path in all_test_modules()
        for name in fixtures(parsed(path))
        if name in shared
    }
    listed = {(name, module) for name, modules in OVERRIDES.items() for module in modules}
    assert redefined - listed == set(), (
        "use the shared fixture, or list the override and why in OVERRIDES"
    )
    assert listed - redefined == set(), "OVERRIDES lists a fixture the module no longer defines"


def test_no_fixture_is_copied_between_test_modules() -> None:
    bodies: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in all_test_modules():
        for name, node in fixtures(parsed(path)).items():
            bodies[(name, body_without_docstring(node))].append(path.stem)
    copies = {name: modules for (name, _), modules in bodies.items() if len(modules) > 1}
    unexplained = {name: modules for name, modules in copies.items() if name not in COPIES}
    assert unexplained == {}, "move the fixture into a shared fixture module (see conftest.py)"


def module_level_timeouts(tree: ast.Module) -> list[str]:
    found = []
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name | ast.Attribute)
            and ast.unparse(value.func).split(".")[-1] == "Timeouts"
        ):
            found.append(ast.unparse(node))
    return found


def test_association_timeouts_come_from_tests_timeouts() -> None:
    offenders = {
        path.name: found
        for path in sorted(TESTS.glob("*.py"))
        if path.name != "timeouts.py" and (found := module_level_timeouts(parsed(path)))
    }
    assert offenders == {}, "use a named set of tests/timeouts.py (or add one there)"
    assert module_level_timeouts(ast.parse("FAST = Timeouts(connect=1, acse=1)"))  # the control


def test_no_test_module_sleeps() -> None:
    offenders = [
        f"{path.name}:{node.lineno}"
        for path in all_test_modules()
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("time.sleep", "sleep")
    ]
    assert offenders == [], "poll with a bound (tests.conftest.poll) instead of sleeping"


def test_the_fixture_checks_see_a_fixture_and_its_copy() -> None:
    """The control: a fixture is found under each decorator form, and a copy that differs only
    in its docstring and scope has the same body."""
    one = fixtures(ast.parse("@pytest.fixture\ndef pacs():\n    '''One.'''\n    return 1\n"))
    two = fixtures(ast.parse("@pytest.fixture(scope='module')\ndef pacs():\n    return 1\n"))
    other = fixtures(ast.parse("@pytest.fixture\ndef pacs():\n    return 2\n"))
    assert set(one) == set(two) == {"pacs"}
    assert body_without_docstring(one["pacs"]) == body_without_docstring(two["pacs"])
    assert body_without_docstring(one["pacs"]) != body_without_docstring(other["pacs"])
