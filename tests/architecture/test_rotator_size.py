"""Every built-in rotator module holds its target logic only: at most 150 lines of code.

Error translation lives in tables (``rotators/_errors.py``), shared parsing in
``rotators/_base.py``, a protocol's details in its ``_<kind>_wire.py`` (or, for
``http-api-key``, its profile/client/keys modules). A line of code is a line with a token
that is not a comment or a docstring; blank lines do not count.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from rotators.catalogue import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 150
_LAYOUT = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}


def code_lines(source: str) -> int:
    """How many lines of ``source`` hold code (not blank, comment or docstring)."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in _LAYOUT or token.type == tokenize.ENDMARKER:
            continue
        lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(lines)


def test_the_counter_skips_docstrings_comments_and_blank_lines() -> None:
    source = '''"""Module doc
spanning lines."""

# a comment
import os  # trailing comment


def f(x: int) -> int:
    """Doc."""
    return (
        x + 1
    )
'''
    assert code_lines(source) == 5  # import, def, return ( , x + 1, )


@pytest.mark.parametrize("kind", sorted(BUILTIN))
def test_a_builtin_rotator_module_has_at_most_150_lines_of_code(kind: str) -> None:
    module = BUILTIN[kind].partition(":")[0]
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    count = code_lines(path.read_text())
    assert count <= LIMIT, (
        f"{path.relative_to(ROOT)} has {count} lines of code (limit {LIMIT}): move error "
        "translation to a table (rotators/_errors.py) and protocol details to a helper module"
    )
