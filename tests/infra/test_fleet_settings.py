"""The infra exposes the fan-out knobs: instance cap, queue batch size, per-target limit."""

from __future__ import annotations

import json
from pathlib import Path

from rotation import settings as app
from tests.infra.templates import Template, app_settings

ROOT = Path(__file__).resolve().parents[2]


def test_instance_cap_batch_size_and_limit_are_parameters_wired_to_the_app(
    templates: dict[str, Template], main_template: Template
) -> None:
    main_params = main_template.section("parameters")
    for name in ("maximumInstanceCount", "queueBatchSize", "maxRotationsPerTarget"):
        assert name in main_params, name
    module = templates["modules/function-app.bicep"]
    site = next(s for s in module.resources("Microsoft.Web/sites") if not s.existing)
    settings = app_settings(site)
    assert app.MAX_PER_TARGET in settings
    assert app.SWEEP_SPREAD_SECONDS in settings
    assert "AzureFunctionsJobHost__extensions__queues__batchSize" in settings
    scale = site.get("properties", "functionAppConfig", "scaleAndConcurrency")
    assert "maximumInstanceCount" in str(scale["maximumInstanceCount"])
    parameters = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    assert {"maximumInstanceCount", "queueBatchSize", "maxRotationsPerTarget"} <= set(parameters)
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["queues"]["batchSize"] == 4
