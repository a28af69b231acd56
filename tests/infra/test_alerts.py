"""The alerts of issue 11: an action group, four scheduled query rules, a workbook, and the
same KQL in infra/alerts/*.kql, the Bicep and docs/operations.md."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.infra.templates import INFRA_DIR, REPO_ROOT, Template

RULE = "Microsoft.Insights/scheduledQueryRules"
#: Rule symbol -> the .kql file its query loads.
RULES = {
    "rotationFailed": "rotation-failed.kql",
    "consumersOverdue": "consumers-overdue.kql",
    "expiryNotRotated": "expiry-not-rotated.kql",
    "sweepMissing": "sweep-missing.kql",
}


def accessor(symbol: str, prop: str) -> dict[str, Any]:
    """pycep's tree for ``symbol.prop``."""
    return {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": symbol, "operand_2": prop},
        }
    }


def loaded_file(query: Any) -> tuple[str, dict[str, Any]]:
    """The file a rule's ``query`` loads, and the placeholders ``replace()`` fills in."""
    replaced: dict[str, Any] = {}
    while isinstance(query, Mapping) and query["function"]["type"] == "replace":
        params = query["function"]["parameters"]
        replaced[params["old_string"]] = params["new_string"]
        query = params["original_string"]
    assert isinstance(query, Mapping), query
    function = query["function"]
    assert function["type"] == "load_text_content", function
    return str(function["parameters"]["file_path"]), replaced


def test_the_alerts_module_declares_the_four_rules(templates: dict[str, Template]) -> None:
    alerts = templates["modules/alerts.bicep"]
    rules = {r.symbol: r for r in alerts.resources(RULE)}
    assert set(rules) == set(RULES)
    for symbol, kql in RULES.items():
        rule = rules[symbol]
        assert rule.get("kind") == "LogAlert"
        assert rule.get("properties", "scopes") == [accessor("appInsights", "id")]
        assert rule.get("properties", "actions", "actionGroups") == [accessor("actionGroup", "id")]
        (criterion,) = rule.get("properties", "criteria", "allOf")
        path, replaced = loaded_file(criterion["query"])
        assert path == f"../alerts/{kql}"
        text = (INFRA_DIR / "alerts" / kql).read_text(encoding="utf-8")
        for placeholder in replaced:
            assert placeholder in text, (kql, placeholder)
        assert "{{" not in text or replaced, kql
        assert criterion["operator"] == "GreaterThan" and criterion["threshold"] == 0


def test_the_action_group_mails_the_alert_email_parameter(
    templates: dict[str, Template],
) -> None:
    alerts = templates["modules/alerts.bicep"]
    (group,) = list(alerts.resources("Microsoft.Insights/actionGroups"))
    assert "emailAddress: alertEmail" in alerts.text
    assert group.get("location") == "global"
    main = templates["main.bicep"]
    assert "alertEmail" in main.section("parameters")
    assert "alerts" in main.section("modules")


def test_the_workbook_shows_the_rotation_history(templates: dict[str, Template]) -> None:
    alerts = templates["modules/alerts.bicep"]
    (workbook,) = list(alerts.resources("Microsoft.Insights/workbooks"))
    assert workbook.get("properties", "sourceId") == accessor("appInsights", "id")
    assert "loadTextContent('../alerts/rotation-history.kql')" in alerts.text
    assert "loadTextContent('../alerts/nearest-expiry.kql')" in alerts.text


def test_every_query_is_quoted_in_the_operations_guide() -> None:
    guide = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for path in sorted((INFRA_DIR / "alerts").glob("*.kql")):
        assert path.read_text(encoding="utf-8").strip() in guide, path.name
    for heading in (
        "Rotation failed",
        "Consumers overdue",
        "Secret near expiry, not rotated",
        "Sweep not running",
    ):
        assert f"### {heading}" in guide, heading


def test_rotation_traces_are_never_sampled_away() -> None:
    host = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    assert "Trace" in sampling["excludedTypes"].split(";")
