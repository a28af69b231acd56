"""Read the Bicep templates under ``infra/`` into plain data the tests can assert on.

There is no Bicep compiler on these machines (it is a .NET tool fetched from GitHub), so the
templates are parsed with ``pycep-parser``, the same parser checkov uses. Its output is a
JSON-like tree: literal strings and identifiers both appear as Python strings, expressions as
``{"operator": ...}`` or ``{"function": ...}`` dicts. The helpers here resolve the few shapes the
templates use (a literal, or an identifier naming a variable or a parameter default) and refuse
anything else, so a test never passes by failing to look.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA_DIR = REPO_ROOT / "infra"

#: Resource types whose assignment scope means "everything in it": never allowed as a scope.
BROAD_SCOPE_TYPES = frozenset(
    {"Microsoft.Resources/resourceGroups", "Microsoft.Resources/subscriptions"}
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class UnresolvedExpression(ValueError):
    """A template value is an expression these helpers do not evaluate."""


@dataclass(frozen=True)
class Resource:
    """One ``resource`` declaration: its symbol, type, flags and body (loops unwrapped)."""

    symbol: str
    type: str
    existing: bool
    condition: Any
    looped: bool
    body: Mapping[str, Any]

    def get(self, *path: str) -> Any:
        """The value at ``path`` inside the body, or ``None`` where a key is missing."""
        node: Any = self.body
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return node


@dataclass(frozen=True)
class Template:
    """One parsed ``.bicep`` file."""

    path: Path
    text: str
    tree: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The path relative to the repository root, for messages."""
        return str(self.path.relative_to(REPO_ROOT))

    @property
    def target_scope(self) -> str:
        """``resourceGroup`` (the Bicep default), ``subscription``, ..."""
        scope = self.tree.get("globals", {}).get("scope", {})
        return str(scope.get("value", "resourceGroup"))

    def section(self, name: str) -> Mapping[str, Any]:
        """``parameters``, ``variables``, ``resources``, ``modules`` or ``outputs``."""
        return cast("Mapping[str, Any]", self.tree.get(name) or {})

    def resources(self, type_: str | None = None) -> Iterator[Resource]:
        """Every resource declared in the file, optionally only those of one type."""
        for symbol, decl in self.section("resources").items():
            if type_ is not None and decl["type"] != type_:
                continue
            body, condition, looped = _unwrap(decl["config"])
            yield Resource(
                symbol=symbol,
                type=decl["type"],
                existing=bool(decl["existing"]),
                condition=condition,
                looped=looped,
                body=body,
            )

    def resource(self, symbol: str) -> Resource:
        """The resource declared under ``symbol``; ``KeyError`` if there is none."""
        for res in self.resources():
            if res.symbol == symbol:
                return res
        raise KeyError(f"{self.name} declares no resource '{symbol}'")

    def only(self, type_: str) -> Resource:
        """The one resource of ``type_`` the file declares (``existing`` references aside);
        fails the test unless there is exactly one."""
        found = [res for res in self.resources(type_) if not res.existing]
        assert len(found) == 1, f"{self.name} declares {len(found)} {type_}, not one"
        return found[0]

    def resolve_string(self, value: Any) -> str:
        """A literal, or the value of the variable / parameter default an identifier names.

        ``pycep`` does not tell a literal from an identifier, so an identifier-shaped string
        that names a variable or parameter is resolved through it; anything else is taken
        literally. Expressions raise :class:`UnresolvedExpression`.
        """
        seen: set[str] = set()
        while isinstance(value, str) and _IDENTIFIER.match(value) and value not in seen:
            seen.add(value)
            variables = self.section("variables")
            parameters = self.section("parameters")
            if value in variables:
                value = variables[value]["value"]
            elif value in parameters and parameters[value].get("default") is not None:
                value = parameters[value]["default"]
            else:
                break
        if isinstance(value, str):
            return value
        raise UnresolvedExpression(f"{self.name}: cannot evaluate {value!r}")


def _unwrap(config: Mapping[str, Any]) -> tuple[Mapping[str, Any], Any, bool]:
    """Strip pycep's ``{loop_type, condition, config}`` wrappers off a declaration body."""
    condition: Any = None
    looped = False
    while "config" in config and ("loop_type" in config or "condition" in config):
        looped = looped or config.get("loop_type") is not None
        if config.get("condition") is not None:
            condition = config["condition"]
        config = config["config"]
    return config, condition, looped


def load_templates(infra_dir: Path = INFRA_DIR) -> dict[str, Template]:
    """Parse every ``.bicep`` file under ``infra_dir``, keyed by path relative to it."""
    parser = BicepParser()
    templates: dict[str, Template] = {}
    for path in sorted(infra_dir.rglob("*.bicep")):
        text = path.read_text(encoding="utf-8")
        tree = parser.parse(text=text)
        templates[path.relative_to(infra_dir).as_posix()] = Template(path, text, tree)
    return templates


def role_definition_guid(template: Template, assignment: Resource) -> str:
    """The GUID of a role assignment's ``subscriptionResourceId(roleDefinitions, ...)``."""
    value = assignment.get("properties", "roleDefinitionId")
    function = value.get("function") if isinstance(value, Mapping) else None
    if not function or function.get("type") != "subscription_resource_id":
        raise UnresolvedExpression(
            f"{template.name}:{assignment.symbol}: roleDefinitionId must be "
            "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', <guid>)"
        )
    params = function["parameters"]
    if params.get("resource_type") != "Microsoft.Authorization/roleDefinitions":
        raise UnresolvedExpression(f"{template.name}:{assignment.symbol}: not a role definition")
    if params.get("resource_name_2") is not None or params.get("subscription_id") is not None:
        raise UnresolvedExpression(f"{template.name}:{assignment.symbol}: unexpected arguments")
    guid = template.resolve_string(params["resource_name_1"]).lower()
    if not _GUID.match(guid):
        raise UnresolvedExpression(f"{template.name}:{assignment.symbol}: {guid!r} is no GUID")
    return guid


def app_settings(site: Resource) -> dict[str, Any]:
    """``siteConfig.appSettings`` of a ``Microsoft.Web/sites`` resource as name -> value."""
    settings = site.get("properties", "siteConfig", "appSettings")
    if not isinstance(settings, list):
        raise UnresolvedExpression(f"{site.symbol}: appSettings must be a literal list")
    result: dict[str, Any] = {}
    for entry in settings:
        name = entry["name"]
        if name in result:
            raise ValueError(f"{site.symbol}: app setting {name} is set twice")
        result[name] = entry["value"]
    return result


def walk(node: Any) -> Iterator[Any]:
    """Every node of a parsed tree, depth first (dict keys are not yielded)."""
    yield node
    if isinstance(node, Mapping):
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)
