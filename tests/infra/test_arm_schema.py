"""Every property the templates set, on every resource type they declare, exists in the ARM
schema of the API version they name.

tests/infra/test_web_schema.py does this for Microsoft.Web; this module does it for every
other type, with the azure-mgmt model packages (generated from the same REST specifications
ARM validates against). Two generations of models exist: the newer ones list their REST
fields in ``_attr_to_rest_field`` (as azure-mgmt-web does), the msrest ones flatten their
REST paths into ``_attribute_map`` keys (``properties.foo``) and name polymorphic subtypes
in ``_subtype_map``. Both are walked. Each template's API version must be the one the
model package was generated for, so the schema checked is the schema deployed.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from tests.infra.templates import Template
from tests.infra.test_web_schema import BICEP_KEYS, WEB_MODELS, unknown_keys
from tests.infra.test_web_schema import unknown_properties as sdk_unknown

#: Resource type -> (models module, model class, the API version those models describe).
MODELS: dict[str, tuple[str, str, str]] = {
    "Microsoft.Storage/storageAccounts": (
        "azure.mgmt.storage.models",
        "StorageAccount",
        "2026-09-01",
    ),
    "Microsoft.Storage/storageAccounts/blobServices": (
        "azure.mgmt.storage.models",
        "BlobServiceProperties",
        "2026-09-01",
    ),
    "Microsoft.Storage/storageAccounts/blobServices/containers": (
        "azure.mgmt.storage.models",
        "BlobContainer",
        "2026-09-01",
    ),
    "Microsoft.Storage/storageAccounts/queueServices": (
        "azure.mgmt.storage.models",
        "QueueServiceProperties",
        "2026-09-01",
    ),
    "Microsoft.Storage/storageAccounts/queueServices/queues": (
        "azure.mgmt.storage.models",
        "StorageQueue",
        "2026-09-01",
    ),
    "Microsoft.EventGrid/topics": ("azure.mgmt.eventgrid.models", "Topic", "2025-02-15"),
    "Microsoft.EventGrid/systemTopics": (
        "azure.mgmt.eventgrid.models",
        "SystemTopic",
        "2025-02-15",
    ),
    "Microsoft.EventGrid/systemTopics/eventSubscriptions": (
        "azure.mgmt.eventgrid.models",
        "EventSubscription",
        "2025-02-15",
    ),
    "Microsoft.ManagedIdentity/userAssignedIdentities": (
        "azure.mgmt.msi.v2024_11_30.models",
        "Identity",
        "2024-11-30",
    ),
    "Microsoft.OperationalInsights/workspaces": (
        "azure.mgmt.loganalytics.models",
        "Workspace",
        "2025-07-01",
    ),
    "Microsoft.Insights/components": (
        "azure.mgmt.applicationinsights.v2020_02_02.models",
        "ApplicationInsightsComponent",
        "2020-02-02",
    ),
    "Microsoft.Insights/workbooks": (
        "azure.mgmt.applicationinsights.v2023_06_01.models",
        "Workbook",
        "2023-06-01",
    ),
    "Microsoft.Insights/actionGroups": (
        "azure.mgmt.monitor.models",
        "ActionGroupResource",
        "2023-01-01",
    ),
    "Microsoft.Insights/scheduledQueryRules": (
        "azure.mgmt.monitor.models",
        "ScheduledQueryRuleResource",
        "2023-12-01",
    ),
    "Microsoft.Authorization/roleAssignments": (
        "azure.mgmt.authorization.v2022_04_01.models",
        "RoleAssignmentCreateParameters",
        "2022-04-01",
    ),
    "Microsoft.Resources/resourceGroups": (
        "azure.mgmt.resource.resources.models",
        "ResourceGroup",
        "2025-04-01",
    ),
}

#: The version each Microsoft.Web type must name (azure-mgmt-web's default).
WEB_API_VERSION = "2025-05-01"

_DECLARATION = re.compile(r"resource\s+(\w+)\s+'([^'@]+)@([^']+)'")


def model_class(resource_type: str) -> type[Any]:
    module, name, _ = MODELS[resource_type]
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- msrest models


def _split_key(key: str) -> list[str]:
    return [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", key)]


def msrest_tree(model: type[Any]) -> dict[str, Any]:
    """REST shape of an msrest model: nested dicts for flattened paths, leaves
    ``(type string, models module)``."""
    tree: dict[str, Any] = {}
    module = sys.modules[model.__module__]
    for spec in model._attribute_map.values():
        parts = _split_key(spec["key"])
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (spec["type"], module)
    return tree


def _subtype(model: type[Any], value: Mapping[str, Any]) -> type[Any]:
    """The polymorphic subclass a literal discriminator in ``value`` selects."""
    subtypes = getattr(model, "_subtype_map", None) or {}
    module = sys.modules[model.__module__]
    for attr, mapping in subtypes.items():
        rest_key = model._attribute_map[attr]["key"]
        chosen = value.get(rest_key)
        if isinstance(chosen, str) and chosen in mapping:
            sub = getattr(module, mapping[chosen])
            return model if sub is model else _subtype(sub, value)
    return model


def msrest_unknown(value: Any, spec: Any, path: str) -> list[str]:
    if isinstance(spec, dict):
        if not isinstance(value, Mapping):
            return []
        return unknown_keys(value, spec, path, msrest_unknown)
    type_name, module = spec
    if type_name.startswith("[") and isinstance(value, list):
        item = (type_name[1:-1], module)
        return [p for i, v in enumerate(value) for p in msrest_unknown(v, item, f"{path}[{i}]")]
    if type_name.startswith("{") and isinstance(value, Mapping):
        item = (type_name[1:-1], module)
        return [p for k, v in value.items() for p in msrest_unknown(v, item, f"{path}.{k}")]
    model = getattr(module, type_name, None)
    if isinstance(model, type) and hasattr(model, "_attribute_map") and isinstance(value, Mapping):
        return msrest_unknown(value, msrest_tree(_subtype(model, value)), path)
    return []


# ---------------------------------------------------------------------- newer models


def unknown_properties(body: Mapping[str, Any], model: type[Any], path: str) -> list[str]:
    arm_body = {k: v for k, v in body.items() if k not in BICEP_KEYS}
    if hasattr(model, "_attribute_map"):
        return msrest_unknown(arm_body, msrest_tree(_subtype(model, arm_body)), path)
    return sdk_unknown(arm_body, model, path)


# ---------------------------------------------------------------------- tests


def declared(templates: dict[str, Template]) -> list[tuple[Template, str, str, str]]:
    """(template, symbol, type, API version) of every resource declaration."""
    return [
        (template, symbol, type_, version)
        for template in templates.values()
        for symbol, type_, version in _DECLARATION.findall(template.text)
    ]


def test_every_declared_resource_type_has_a_schema(templates: dict[str, Template]) -> None:
    created = {r.type for t in templates.values() for r in t.resources() if not r.existing}
    assert created, "no resources parsed"
    missing = created - set(MODELS) - set(WEB_MODELS)
    assert not missing, f"resource types without a schema check: {sorted(missing)}"


def test_api_versions_are_the_ones_the_schemas_describe(templates: dict[str, Template]) -> None:
    wrong = []
    for template, symbol, type_, version in declared(templates):
        if type_ in MODELS:
            wanted = MODELS[type_][2]
        elif type_.startswith("Microsoft.Web/"):
            wanted = WEB_API_VERSION
        else:
            continue  # `existing` references of types this app never creates
        if version != wanted:
            wrong.append(f"{template.name}:{symbol} {type_}@{version} (schema {wanted})")
    assert not wrong, wrong


def test_every_property_exists_in_the_arm_schema(templates: dict[str, Template]) -> None:
    problems: list[str] = []
    checked = 0
    for template in templates.values():
        for res in template.resources():
            if res.existing or res.type not in MODELS:
                continue
            checked += 1
            model = model_class(res.type)
            problems += unknown_properties(res.body, model, f"{template.name}:{res.symbol}")
    assert checked >= 20
    assert not problems, problems


@pytest.mark.parametrize(
    ("resource_type", "body"),
    [
        ("Microsoft.Storage/storageAccounts", {"properties": {"allowSharedKeyAcess": False}}),
        ("Microsoft.EventGrid/topics", {"properties": {"disableLocalAuthentication": True}}),
        (
            "Microsoft.EventGrid/systemTopics/eventSubscriptions",
            {
                "properties": {
                    "destination": {
                        "endpointType": "AzureFunction",
                        "properties": {"resourceID": "x"},
                    }
                }
            },
        ),
        (
            "Microsoft.Insights/scheduledQueryRules",
            {"properties": {"criteria": {"allOf": [{"querry": "traces"}]}}},
        ),
        ("Microsoft.Insights/actionGroups", {"properties": {"emailReceiver": []}}),
        ("Microsoft.Insights/workbooks", {"properties": {"serialisedData": "{}"}}),
        ("Microsoft.OperationalInsights/workspaces", {"properties": {"retentionDays": 30}}),
        ("Microsoft.Authorization/roleAssignments", {"properties": {"principalID": "x"}}),
        ("Microsoft.ManagedIdentity/userAssignedIdentities", {"propertie": {}}),
        ("Microsoft.Resources/resourceGroups", {"locaton": "x"}),
    ],
)
def test_the_walk_reports_misspelt_properties(resource_type: str, body: dict[str, Any]) -> None:
    assert unknown_properties(body, model_class(resource_type), resource_type)
