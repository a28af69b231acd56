"""Every property the templates set on App Service resources exists in the real ARM schema.

Without a Bicep compiler a misspelt property (``keyVaultRefrenceIdentity``) would deploy as an
ignored field. The ``azure-mgmt-web`` SDK the app already depends on is generated from the same
REST specification ARM validates against, so its models name every property a ``Microsoft.Web``
resource accepts; the tests walk each template body through them.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from azure.mgmt.web import models as web_models

from tests.infra.templates import Template

#: Template resource type -> the SDK model of its ARM body.
WEB_MODELS: dict[str, type[Any]] = {
    "Microsoft.Web/sites": web_models.Site,
    "Microsoft.Web/serverfarms": web_models.AppServicePlan,
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": (
        web_models.CsmPublishingCredentialsPoliciesEntity
    ),
}

#: Keys of a Bicep resource body that are Bicep syntax, not ARM properties.
BICEP_KEYS = frozenset({"name", "parent", "scope", "dependsOn"})


def rest_fields(model: type[Any]) -> dict[str, Any]:
    """REST property name -> the annotated Python type, for one SDK model class (of any
    azure-mgmt package: its own models module resolves the annotations)."""
    model()  # the generated models fill their field table on first instantiation
    package = importlib.import_module(model.__module__.rsplit(".", 1)[0])
    hints = typing.get_type_hints(model, localns={"_models": package})
    table: Mapping[str, Any] = model._attr_to_rest_field
    return {field._rest_name_input: hints[attr] for attr, field in table.items()}


def is_sdk_model(hint: Any) -> bool:
    """Whether ``hint`` is a generated azure-mgmt model class (whatever package it is of)."""
    return isinstance(hint, type) and any(
        base.__name__ == "Model" and base.__module__.endswith("model_base") for base in hint.__mro__
    )


def unwrap(hint: Any) -> Any:
    """``Optional[X]`` -> ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def unknown_keys(
    value: Mapping[str, Any],
    known: Mapping[str, Any],
    path: str,
    walk: Callable[[Any, Any, str], list[str]],
) -> list[str]:
    """Paths of ``value``'s keys that ``known`` lacks, plus what ``walk(child, known[key],
    child_path)`` finds below each key it has (one step of a schema walk)."""
    problems = []
    for key, child in value.items():
        if key in known:
            problems += walk(child, known[key], f"{path}.{key}")
        else:
            problems.append(f"{path}.{key}")
    return problems


def unknown_properties(value: Any, hint: Any, path: str) -> list[str]:
    """Paths in ``value`` that ``hint`` (an SDK type) does not define."""
    hint = unwrap(hint)
    origin = typing.get_origin(hint)
    if is_sdk_model(hint):
        if not isinstance(value, Mapping):
            return []  # an expression; its shape is ARM's to check
        return unknown_keys(value, rest_fields(hint), path, unknown_properties)
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(hint)
        return [p for i, v in enumerate(value) for p in unknown_properties(v, item, f"{path}[{i}]")]
    if origin is dict and isinstance(value, Mapping):
        _, item = typing.get_args(hint)
        return [p for k, v in value.items() for p in unknown_properties(v, item, f"{path}.{k}")]
    return []


def web_resources(templates: dict[str, Template]) -> list[tuple[str, str, Any, Mapping[str, Any]]]:
    return [
        (template.name, res.symbol, WEB_MODELS[res.type], res.body)
        for template in templates.values()
        for res in template.resources()
        if res.type in WEB_MODELS and not res.existing
    ]


def test_web_resources_are_checked(templates: dict[str, Template]) -> None:
    assert len(web_resources(templates)) == 4  # plan, site, two credential policies


def test_web_resource_properties_exist_in_the_arm_schema(
    templates: dict[str, Template],
) -> None:
    problems = []
    for name, symbol, model, body in web_resources(templates):
        arm_body = {k: v for k, v in body.items() if k not in BICEP_KEYS}
        problems += unknown_properties(arm_body, model, f"{name}:{symbol}")
    assert not problems, problems


@pytest.mark.parametrize(
    "body",
    [
        {"properties": {"keyVaultRefrenceIdentity": "x"}},
        {"properties": {"siteConfig": {"appSettings": [{"name": "a", "valu": "b"}]}}},
        {"properties": {"functionAppConfig": {"runtime": {"nam": "python"}}}},
    ],
)
def test_schema_walk_reports_misspelt_properties(body: dict[str, Any]) -> None:
    assert unknown_properties(body, web_models.Site, "site")
