"""The layout the architecture relies on: packages by capability, no import circles, short
package files and modules, and a __main__.py that only wires."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

COMPONENTS = REPO / "components"
MAX_MODULE_LINES = 500
#: A module may be longer if its docstring says why, with these words.
LONG_REASON = "Longer than 500 lines because"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks
    are for type checkers only and are left out)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known and m != name}


def _import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in COMPONENTS.rglob("*.py")}
    known = set(paths)
    return {name: _runtime_imports(path, name, known) for name, path in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return found


def test_no_import_circles() -> None:
    assert _cycles(_import_graph()) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


#: The capability packages, lowest first: a package imports only from those before it (and
#: itself); ``components/plan.py`` sits above them all. The registry is a capability of its
#: own below the cluster and the releases (both read its target); the chart catalogue (pins,
#: release names, namespaces) sits below the access rules and the releases (issue 20). The
#: federation (issue 24) is on top: its front door reuses the network, access and releases
#: pieces, and a member's exports read the releases' plan.
LAYERS = ("config", "secrets", "catalog", "registry", "cluster", "network", "access",
          "releases", "federation")


def test_packages_by_capability() -> None:
    packages = {p.name for p in COMPONENTS.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(LAYERS)
    loose = {p.name for p in COMPONENTS.glob("*.py")}
    assert loose == {"__init__.py", "plan.py"}, "a module belongs in the package it serves"


def test_packages_import_only_downwards() -> None:
    """No package reaches up: an import against LAYERS is named with its module."""
    against = []
    for module, imports in _import_graph().items():
        parts = module.split(".")
        if len(parts) < 3:
            continue  # components, components.plan
        rank = LAYERS.index(parts[1])
        for imported in imports:
            target = imported.split(".")[1]
            if target in LAYERS and LAYERS.index(target) > rank:
                against.append(f"{module} imports {imported}")
    assert against == []


def test_package_init_files_are_short() -> None:
    for init in COMPONENTS.rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        # A docstring and nothing else: importing a package never imports its modules.
        assert len(tree.body) <= 1, init
        assert len(init.read_text().splitlines()) <= 5, init


def test_modules_stay_small_or_say_why() -> None:
    for path in COMPONENTS.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert LONG_REASON in docstring, f"{path.relative_to(REPO)}: {lines} lines"


def test_main_only_wires() -> None:
    main = REPO / "__main__.py"
    tree = ast.parse(main.read_text())
    assert len(main.read_text().splitlines()) <= 60
    # No function or class definitions, and no config reading of its own: the plan does it.
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert "pulumi.Config" not in main.read_text()
    assert "build_plan()" in main.read_text()
