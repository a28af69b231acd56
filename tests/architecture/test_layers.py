"""The layers read top-down: triggers and the composition root above the engine
(``rotation``), the engine above the plugins it owns the interface of (``rotators``), and no
import cycle anywhere in the project (every import counts, inside functions and
``TYPE_CHECKING`` blocks too: a cycle hidden in a function is still a tangle)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rotation", "rotators", "emulators")
TOP_MODULES = ("function_app", "composition", "demo")


def project_modules() -> dict[str, Path]:
    """Every module of the product and its emulators, by dotted name."""
    modules = {name: ROOT / f"{name}.py" for name in TOP_MODULES if (ROOT / f"{name}.py").exists()}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported(path: Path, module: str, known: set[str]) -> Iterator[str]:
    """The project modules ``path`` imports (a ``from package import name`` counts as the
    submodule when one of that name exists, else as the package)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _known_prefix(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield from _known_prefix(candidate if candidate in known else base, known)


def _known_prefix(name: str, known: set[str]) -> Iterator[str]:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in known:
            yield prefix
            return


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {
        name: {m for m in imported(path, name, known) if m != name}
        for name, path in modules.items()
    }


def test_the_engine_imports_no_rotator() -> None:
    offenders = {
        name: sorted(m for m in deps if m.split(".")[0] == "rotators")
        for name, deps in import_graph().items()
        if name.split(".")[0] == "rotation"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_product_code_imports_no_emulator() -> None:
    offenders = {
        name: sorted(m for m in deps if m.split(".")[0] == "emulators")
        for name, deps in import_graph().items()
        if name.split(".")[0] in ("rotation", "rotators", "function_app", "composition")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_there_is_no_import_cycle() -> None:
    graph = import_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_the_graph_sees_real_imports() -> None:
    """The checks above are only as good as the graph: it must see known edges."""
    graph = import_graph()
    assert "rotation.engine" in graph["composition"]
    assert "rotators.catalogue" in graph["composition"]
    assert "rotation.rotator" in graph["rotators.postgres"]
