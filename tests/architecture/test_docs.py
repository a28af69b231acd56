"""The documented catalogue is the registered one: every built-in kind has its section in
docs/rotators.md and its name in the README's tag table, and nothing documented is missing
from the registry."""

from __future__ import annotations

import re
from pathlib import Path

from rotators.catalogue import BUILTIN, default_registry

ROOT = Path(__file__).resolve().parents[2]


def test_docs_rotators_has_one_section_per_registered_kind() -> None:
    text = (ROOT / "docs" / "rotators.md").read_text()
    documented = re.findall(r"^## `([a-z0-9-]+)`$", text, flags=re.MULTILINE)
    assert sorted(documented) == default_registry(include_plugins=False).kinds()
    assert len(documented) == len(set(documented))


def test_the_readme_names_every_kind_in_its_tag_table() -> None:
    text = (ROOT / "README.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `rotation-rotator`"))
    assert sorted(re.findall(r"`([a-z0-9-]+)`", row)[1:]) == sorted(BUILTIN)
