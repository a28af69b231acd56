"""The product must never depend on the emulators: no import of ``emulators`` in its code."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _product_files() -> list[Path]:
    files = [ROOT / "function_app.py"] if (ROOT / "function_app.py").exists() else []
    for package in ("rotation", "rotators"):
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def _imports_emulators(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno} {n}"
            for n in names
            if n.split(".")[0] == "emulators"
        ]
    return found


def test_scanner_sees_an_import() -> None:
    assert ast.parse("from emulators.stack import AzureStack")  # sanity of the parser
    sample = ROOT / "emulators" / "pytest_plugin.py"
    assert _imports_emulators(sample), "the scanner must detect a real emulators import"


def test_product_code_does_not_import_emulators() -> None:
    files = _product_files()
    assert any(f.parts[-2] == "rotation" for f in files)
    offenders = [hit for f in files for hit in _imports_emulators(f)]
    assert offenders == []
