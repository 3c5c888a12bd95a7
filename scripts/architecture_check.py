"""The architecture's three rules, checked from the source (stdlib ``ast`` only, nothing imported):

1. no import cycle among the shipped modules (``client_sdk``, ``providers``), counting every
   import that runs: at module level and inside functions (deferred). Importing ``a.b.c`` from
   outside ``a.b`` runs ``a/b/__init__.py`` first, so it counts as an import of ``a.b`` too.
   Imports under ``if TYPE_CHECKING:`` run only under a type checker: the cycles they close are
   listed apart, as information;
2. no use of pynetdicom's internals outside ``client_sdk/_pynetdicom/`` (the seam package): an
   import of a module that is not pynetdicom's public API, an imported name or an attribute that
   is private in pynetdicom's own source, an override of a private method, a monkeypatch of a
   pynetdicom method, the attributes that lead to its internal objects (``assoc.dul``, the
   DIMSE queue, the state machine), and the names of its private loggers;
3. no shipped module over 450 lines.

Usage: ``.venv/bin/python scripts/architecture_check.py [ROOT]`` (default: this checkout).
Prints the cycles, the internal names with where they are used, and the largest modules; exits
1 when any rule is broken.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("client_sdk", "providers")
SEAM_PACKAGE = "client_sdk._pynetdicom"
MAX_LINES = 450
LARGEST_SHOWN = 10

# pynetdicom's public API as the SDK uses it; every other module of it is an internal.
PUBLIC_PYNETDICOM = {
    "pynetdicom",
    "pynetdicom.ae",
    "pynetdicom.association",
    "pynetdicom.dimse_primitives",
    "pynetdicom.events",
    "pynetdicom.pdu_primitives",
    "pynetdicom.presentation",
    "pynetdicom.sop_class",
    "pynetdicom.status",
}
# Attributes that reach pynetdicom's internal objects (the DUL, its state machine, the DIMSE
# queue), whatever object they are read on. ``acse`` counts when assigned (``assoc.acse = ...``):
# ``Timeouts.acse`` is a number of seconds.
INTERNAL_ATTRIBUTES = {
    "current_state",
    "do_action",
    "dul",
    "event_queue",
    "kill_dul",
    "msg_queue",
    "receive_primitive",
    "state_machine",
    "to_user_queue",
}
ASSIGNED_INTERNAL_ATTRIBUTES = {"acse"}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int
    is_package: bool


@dataclass
class Names:
    """What pynetdicom's own source defines: its private names and its classes' methods."""

    private: set[str] = field(default_factory=set)
    methods: set[str] = field(default_factory=set)


def load_modules(root: Path) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            text = path.read_text(encoding="utf-8")
            name = ".".join(parts)
            tree = ast.parse(text, filename=str(path))
            modules[name] = Module(name, path, tree, text.count("\n"), is_package)
    return modules


def pynetdicom_names() -> Names:
    names = Names()
    data: set[str] = set()
    spec = importlib.util.find_spec("pynetdicom")
    if spec is None or spec.origin is None:
        print("architecture check: pynetdicom is not installed; run it with the venv's python")
        raise SystemExit(2)
    source = Path(spec.origin).parent
    for path in source.rglob("*.py"):
        if {"tests", "apps", "benchmarks"} & set(path.relative_to(source).parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        if not _is_property(item):
                            names.methods.add(item.name)
                        if _private(item.name):
                            names.private.add(item.name)
                    elif isinstance(item, ast.Assign | ast.AnnAssign):
                        targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                        for target in targets:
                            if isinstance(target, ast.Name) and _private(target.id):
                                names.private.add(target.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id != "self":
                    continue
                if _private(node.attr):
                    names.private.add(node.attr)
                elif isinstance(node.ctx, ast.Store):
                    data.add(node.attr)
    names.methods -= data  # a data attribute somewhere: setting it is no monkeypatch
    return names


def _is_property(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``@property`` or ``@name.setter``: setting it is the class's public API."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Name) and decorator.id in ("property", "cached_property"):
            return True
        if isinstance(decorator, ast.Attribute) and decorator.attr in ("setter", "getter"):
            return True
    return False


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# --- rule 1: the import graph ------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    target: str
    line: int
    deferred: bool  # inside a function
    type_only: bool  # under ``if TYPE_CHECKING:``


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _walk(node: ast.AST, in_function: bool = False, type_only: bool = False) -> Iterator[tuple]:
    """(import node, inside a function, under TYPE_CHECKING) for every import below ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function, type_only
            continue
        function = in_function or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        checking = type_only or (isinstance(child, ast.If) and _is_type_checking(child.test))
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for item in child.body:
                yield from _walk_one(item, function, True)
            for item in child.orelse:
                yield from _walk_one(item, function, type_only)
            continue
        yield from _walk(child, function, checking)


def _walk_one(node: ast.AST, in_function: bool, type_only: bool) -> Iterator[tuple]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, in_function, type_only
    else:
        yield from _walk(node, in_function, type_only)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_edges(modules: dict[str, Module]) -> dict[str, list[Edge]]:
    graph: dict[str, list[Edge]] = {name: [] for name in modules}
    for module in modules.values():
        for node, deferred, type_only in _walk(module.tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(module, node)
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    targets.append(candidate if candidate in modules else base)
            for target in targets:
                for reached in _with_parents(target, module.name, modules):
                    if reached != module.name:
                        edge = Edge(reached, node.lineno, deferred, type_only)
                        graph[module.name].append(edge)
    return graph


def _with_parents(target: str, importer: str, modules: dict[str, Module]) -> list[str]:
    """``target`` and each package above it that the importer is not inside of."""
    reached = []
    parts = target.split(".")
    for end in range(1, len(parts) + 1):
        name = ".".join(parts[:end])
        if name not in modules:
            continue
        inside = importer == name or importer.startswith(name + ".")
        if name == target or (modules[name].is_package and not inside):
            reached.append(name)
    return reached


def runtime_only(graph: dict[str, list[Edge]]) -> dict[str, list[Edge]]:
    return {name: [edge for edge in edges if not edge.type_only] for name, edges in graph.items()}


def cycles(graph: dict[str, list[Edge]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(name: str) -> None:
        index[name] = low[name] = counter[0]
        counter[0] += 1
        stack.append(name)
        on_stack.add(name)
        for edge in graph[name]:
            if edge.target not in index:
                visit(edge.target)
                low[name] = min(low[name], low[edge.target])
            elif edge.target in on_stack:
                low[name] = min(low[name], index[edge.target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


def example_cycle(component: list[str], graph: dict[str, list[Edge]]) -> list[tuple[str, Edge]]:
    """One shortest cycle through the component's first module (breadth first)."""
    members = set(component)
    start = component[0]
    previous: dict[str, tuple[str, Edge]] = {}
    queue = [start]
    while queue:
        name = queue.pop(0)
        for edge in graph[name]:
            if edge.target not in members:
                continue
            if edge.target == start:
                path = [(name, edge)]
                while name != start:
                    name, step = previous[name]
                    path.append((name, step))
                return list(reversed(path))
            if edge.target not in previous:
                previous[edge.target] = (name, edge)
                queue.append(edge.target)
    return []


# --- rule 2: pynetdicom's internals ------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    path: Path
    line: int
    name: str
    why: str


def internal_uses(modules: dict[str, Module], names: Names, root: Path) -> list[Use]:
    uses: list[Use] = []
    for module in modules.values():
        if module.name == SEAM_PACKAGE or module.name.startswith(SEAM_PACKAGE + "."):
            continue
        uses += _module_uses(module, names, root)
    return sorted(uses, key=lambda use: (str(use.path), use.line))


def _module_uses(module: Module, names: Names, root: Path) -> list[Use]:
    path = module.path.relative_to(root)
    uses: list[Use] = []
    imported: set[str] = set()  # local names bound to pynetdicom classes
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pynetdicom") and alias.name not in PUBLIC_PYNETDICOM:
                    uses.append(Use(path, node.lineno, alias.name, "internal module"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pynetdicom"):
            source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                imported.add(alias.asname or alias.name)
                if source not in PUBLIC_PYNETDICOM and full not in PUBLIC_PYNETDICOM:
                    uses.append(Use(path, node.lineno, full, "from an internal module"))
                elif _private(alias.name):
                    uses.append(Use(path, node.lineno, full, "private name"))
    pynetdicom_classes = _classes_with_pynetdicom_bases(module.tree, imported)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ClassDef) and node.name in pynetdicom_classes:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in names.private:
                    what = f"{node.name}.{item.name}"
                    uses.append(Use(path, item.lineno, what, "overrides a private method"))
        elif isinstance(node, ast.Attribute):
            uses += _attribute_uses(node, path, names, pynetdicom_classes, module.tree)
        elif isinstance(node, ast.Call) and _is_getattr_like(node):
            text = node.args[1]
            if isinstance(text, ast.Constant) and text.value in names.private:
                uses.append(Use(path, node.lineno, text.value, "private attribute by name"))
        elif isinstance(node, ast.Constant) and str(node.value).startswith("pynetdicom._"):
            uses.append(Use(path, node.lineno, node.value, "private logger or module name"))
    return uses


def _classes_with_pynetdicom_bases(tree: ast.Module, imported: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.id if isinstance(base, ast.Name) else None
                if name in imported or name in found:
                    found.add(node.name)
    return found


def _attribute_uses(
    node: ast.Attribute, path: Path, names: Names, pynetdicom_classes: set[str], tree: ast.Module
) -> list[Use]:
    owner = node.value
    on_self = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
    stored = isinstance(node.ctx, ast.Store)
    ours = on_self and _enclosing_class(tree, node) not in pynetdicom_classes
    if _private(node.attr) and node.attr in names.private and not ours:
        return [Use(path, node.lineno, node.attr, "private attribute")]
    if node.attr in INTERNAL_ATTRIBUTES and not on_self:
        return [Use(path, node.lineno, node.attr, "internal object")]
    if stored and node.attr in ASSIGNED_INTERNAL_ATTRIBUTES and not on_self:
        return [Use(path, node.lineno, node.attr, "internal object replaced")]
    if stored and not on_self and node.attr in names.methods:
        return [Use(path, node.lineno, node.attr, "monkeypatch of a method")]
    return []


def _enclosing_class(tree: ast.Module, target: ast.AST) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(child is target for child in ast.walk(node)):
            return node.name
    return None


def _is_getattr_like(node: ast.Call) -> bool:
    function = node.func
    return (
        isinstance(function, ast.Name)
        and function.id in ("getattr", "setattr", "hasattr", "delattr")
        and len(node.args) >= 2
    )


# --- the report --------------------------------------------------------------------------------


def _print_cycles(found: list[list[str]], graph: dict[str, list[Edge]]) -> None:
    for component in found:
        print(f"  cycle of {len(component)} modules: {', '.join(component)}")
        for name, edge in example_cycle(component, graph):
            how = " (deferred)" if edge.deferred else ""
            how += " (type-only)" if edge.type_only else ""
            print(f"    {name}:{edge.line} imports {edge.target}{how}")


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).resolve().parent.parent
    modules = load_modules(root)
    graph = import_edges(modules)
    runtime = runtime_only(graph)
    found = cycles(runtime)
    typing_only = [component for component in cycles(graph) if component not in found]
    uses = internal_uses(modules, pynetdicom_names(), root)
    largest = sorted(modules.values(), key=lambda module: -module.lines)
    too_long = [module for module in largest if module.lines > MAX_LINES]

    print(f"== import cycles ({len(found)}; imports inside functions counted)")
    _print_cycles(found, runtime)
    print(f"== closed only by imports under TYPE_CHECKING ({len(typing_only)}; information)")
    _print_cycles(typing_only, graph)
    where = sorted({str(use.path) for use in uses})
    print(
        f"== pynetdicom internals outside {SEAM_PACKAGE} ({len(uses)} uses in {len(where)} modules)"
    )
    for use in uses:
        print(f"  {use.path}:{use.line}: {use.name} ({use.why})")
    print(f"== largest shipped modules (lines; at most {MAX_LINES})")
    for module in largest[:LARGEST_SHOWN]:
        mark = "  TOO LONG" if module.lines > MAX_LINES else ""
        print(f"  {module.lines:5d} {module.path.relative_to(root)}{mark}")
    broken = bool(found or uses or too_long)
    print(
        f"== {'FAILED' if broken else 'ok'}: {len(found)} cycle(s), {len(uses)} internal use(s), "
        f"{len(too_long)} module(s) over {MAX_LINES} lines, {len(modules)} modules"
    )
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
