"""Read the trigger declarations of a Python v2 Functions app (``function_app.py``) with ``ast``.

The source is parsed, never imported: importing would need the Functions runtime packages and
run module-level code. In the v2 model a function is a decorated ``def``; its Functions name is
the ``def`` name unless ``@app.function_name("...")`` (or ``name=``) gives another one.
A keyword value may be a literal, a module-level constant of the file, or a constant imported
with ``from package.module import NAME`` from a module inside the repository.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


class UnresolvedValue(ValueError):
    """A decorator argument is not a literal or a resolvable constant."""


@dataclass(frozen=True)
class Trigger:
    """One decorated function: its Functions name, trigger kind and literal keyword values."""

    name: str
    kind: str
    options: dict[str, object] = field(default_factory=dict)


def _decorator_call(node: ast.expr) -> tuple[str, ast.Call] | None:
    """``("event_grid_trigger", call)`` for ``@<anything>.event_grid_trigger(...)``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr, node
    return None


class _Constants:
    """Resolves names to constants defined in the file or imported from repository modules."""

    def __init__(self, tree: ast.Module, root: Path) -> None:
        self._root = root
        self._local: dict[str, ast.expr] = {}
        self._imported: dict[str, tuple[str, str]] = {}
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Name):
                    self._local[target.id] = stmt.value
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if stmt.value is not None:
                    self._local[stmt.target.id] = stmt.value
            elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                for alias in stmt.names:
                    self._imported[alias.asname or alias.name] = (stmt.module, alias.name)

    def value(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self._local:
                return self.value(self._local[node.id])
            if node.id in self._imported:
                module, name = self._imported[node.id]
                path = self._root.joinpath(*module.split(".")).with_suffix(".py")
                if path.is_file():
                    other = _Constants(ast.parse(path.read_text(encoding="utf-8")), self._root)
                    return other.value(ast.Name(id=name, ctx=ast.Load()))
        raise UnresolvedValue(f"not a constant: {ast.unparse(node)}")


def triggers(source: str, *, root: Path) -> list[Trigger]:
    """Every decorated top-level function of ``source`` that declares a ``*_trigger``/``route``.

    ``root`` is the directory imports are resolved against (the repository root).
    """
    tree = ast.parse(source)
    constants = _Constants(tree, root)
    found: list[Trigger] = []
    for stmt in tree.body:
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        name = stmt.name
        kind: str | None = None
        options: dict[str, object] = {}
        for decorator in stmt.decorator_list:
            parsed = _decorator_call(decorator)
            if parsed is None:
                continue
            attr, call = parsed
            if attr == "function_name":
                if call.args:
                    name = str(constants.value(call.args[0]))
                for kw in call.keywords:
                    if kw.arg == "name":
                        name = str(constants.value(kw.value))
            elif attr.endswith("_trigger") or attr == "route":
                kind = attr
                for kw in call.keywords:
                    if kw.arg is None:
                        continue
                    try:
                        options[kw.arg] = constants.value(kw.value)
                    except UnresolvedValue:
                        options[kw.arg] = UnresolvedValue
        if kind is not None:
            found.append(Trigger(name=name, kind=kind, options=options))
    return found


def event_grid_functions(source: str, *, root: Path) -> set[str]:
    """The Functions names of the Event Grid-triggered functions in ``source``."""
    return {t.name for t in triggers(source, root=root) if t.kind == "event_grid_trigger"}
