"""Placeholders in profile strings and dotted paths into JSON documents.

A profile string may contain placeholders written ``{name}`` where ``name`` is a dotted
identifier (``{key_id}``, ``{admin.password}``, ``{admin.application_key}``). Which names a
string may use depends on where it sits in the profile; :func:`placeholders` lets the profile
validator check that on load, and :func:`render` fills them in at run time. There is no
escaping: a ``{`` that does not open a placeholder is kept as is.

A JSON path is a dotted list of object keys and list indexes (``data.attributes.key``,
``data.0.id``), resolved by :func:`resolve`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\}")
JSON_PATH = re.compile(r"^[A-Za-z0-9_\-$@]+(?:\.[A-Za-z0-9_\-$@]+)*$")


class MissingValue(LookupError):
    """A placeholder has no value at run time. ``name`` is the placeholder, never a value."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def placeholders(template: str) -> list[str]:
    """The placeholder names used in ``template``, in order of appearance."""
    return PLACEHOLDER.findall(template)


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with every placeholder replaced by its value.

    Raises :class:`MissingValue` (naming the placeholder) when ``values`` has no entry for it.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            return values[name]
        except KeyError:
            raise MissingValue(name) from None

    return PLACEHOLDER.sub(substitute, template)


def render_json(template: Any, values: Mapping[str, str]) -> Any:
    """A copy of a JSON template with placeholders replaced in every string (keys included)."""
    if isinstance(template, str):
        return render(template, values)
    if isinstance(template, list):
        return [render_json(item, values) for item in template]
    if isinstance(template, dict):
        return {render(k, values): render_json(v, values) for k, v in template.items()}
    return template


def json_strings(template: Any) -> list[str]:
    """Every string (keys and values) in a JSON template, for placeholder validation."""
    if isinstance(template, str):
        return [template]
    if isinstance(template, list):
        return [s for item in template for s in json_strings(item)]
    if isinstance(template, dict):
        return [s for k, v in template.items() for s in [k, *json_strings(v)]]
    return []


def is_json_path(path: str) -> bool:
    """Whether ``path`` is a well-formed dotted JSON path."""
    return bool(JSON_PATH.match(path))


def resolve(document: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``document``; raises ``LookupError`` if absent."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise LookupError(path)
    return node
