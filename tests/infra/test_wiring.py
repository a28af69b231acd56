"""main.bicep, its modules, the azd files and function_app.py agree with each other."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra.functions_source import triggers
from tests.infra.templates import INFRA_DIR, REPO_ROOT, Template

AZURE_YAML = REPO_ROOT / "azure.yaml"
PARAMETERS = INFRA_DIR / "main.parameters.json"
CHECKOV_CONFIG = REPO_ROOT / ".checkov.yaml"


def modules(main: Template) -> dict[str, dict[str, Any]]:
    return dict(main.section("modules"))


def module_body(decl: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = decl["config"]
    while "config" in body and ("loop_type" in body or "condition" in body):
        body = body["config"]
    return body


def test_main_is_subscription_scoped_and_modules_exist(main_template: Template) -> None:
    assert main_template.target_scope == "subscription"
    for symbol, decl in modules(main_template).items():
        assert decl["type"] == "local", f"{symbol}: registry modules cannot be checked here"
        assert (INFRA_DIR / decl["detail"]["path"]).is_file(), symbol


def test_module_params_match_module_parameters(
    main_template: Template, templates: dict[str, Template]
) -> None:
    # What a compiler would catch: an unknown or a missing required parameter.
    for symbol, decl in modules(main_template).items():
        module = templates[decl["detail"]["path"]]
        declared = module.section("parameters")
        given = set(module_body(decl).get("params", {}))
        assert given <= set(declared), f"{symbol}: unknown params {given - set(declared)}"
        required = {name for name, p in declared.items() if p.get("default") is None}
        assert required <= given, f"{symbol}: missing params {required - given}"


def test_per_resource_modules_are_deployed_to_the_resources_group(
    main_template: Template,
) -> None:
    expected = {
        "vaultAccess": "vaults",
        "vaultEvents": "vaults",
        "sqlAccess": "sqlServers",
        "storageKeyAccess": "keyStorageAccounts",
        "cosmosKeyAccess": "keyCosmosAccounts",
        "webAppAccess": "consumerWebApps",
    }
    for symbol, array in expected.items():
        decl = modules(main_template)[symbol]
        assert decl["config"]["loop_type"]["detail"]["array_name"] == array, symbol
        scope = module_body(decl)["scope"]["function"]
        assert scope["type"] == "resource_group", symbol


def test_rotation_vaults_lists_the_vault_urls(main_template: Template) -> None:
    text = main_template.text
    assert re.search(
        r"var vaultUris = \[for vault in vaults: "
        r"'https://\$\{vault\.name\}\$\{environment\(\)\.suffixes\.keyvaultDns\}'\]",
        text,
    )
    assert "rotationVaults: join(vaultUris, ',')" in text


def test_parameters_file_matches_main(main_template: Template) -> None:
    parameters = json.loads(PARAMETERS.read_text(encoding="utf-8"))["parameters"]
    declared = main_template.section("parameters")
    assert set(parameters) <= set(declared), set(parameters) - set(declared)
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= set(parameters), required - set(parameters)
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["deployEventSubscriptions"]["value"] == (
        "${ROTATION_EVENT_SUBSCRIPTIONS=false}"
    )


def test_azure_yaml_deploys_this_function_app(templates: dict[str, Template]) -> None:
    config = yaml.safe_load(AZURE_YAML.read_text(encoding="utf-8"))
    assert config["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    services = config["services"]
    assert list(services) == ["rotation"]
    service = services["rotation"]
    assert service == {"project": ".", "language": "python", "host": "function"}
    # azd finds the app by its azd-service-name tag.
    function_app = templates["modules/function-app.bicep"]
    assert function_app.resolve_string("azdServiceName") == "rotation"
    for platform in ("posix", "windows"):
        hook = config["hooks"]["postdeploy"][platform]
        assert (REPO_ROOT / hook["run"]).is_file(), hook["run"]


def test_postdeploy_hook_turns_on_event_subscriptions() -> None:
    hook = (INFRA_DIR / "hooks" / "postdeploy.sh").read_text(encoding="utf-8")
    assert "azd env set ROTATION_EVENT_SUBSCRIPTIONS true" in hook
    assert "azd provision" in hook


def test_queue_trigger_listens_on_the_deployed_queue(templates: dict[str, Template]) -> None:
    source = (REPO_ROOT / "function_app.py").read_text(encoding="utf-8")
    queue_triggers = [t for t in triggers(source, root=REPO_ROOT) if t.kind == "queue_trigger"]
    assert queue_triggers, "function_app.py has no queue trigger"
    storage = templates["modules/storage.bicep"]
    for trigger in queue_triggers:
        assert trigger.options["queue_name"] == storage.resolve_string("workQueueName")
        # Identity-based AzureWebJobsStorage__* settings serve only this connection name.
        assert trigger.options.get("connection", "AzureWebJobsStorage") == "AzureWebJobsStorage"


def test_timer_schedule_comes_from_the_app_setting() -> None:
    source = (REPO_ROOT / "function_app.py").read_text(encoding="utf-8")
    timers = [t for t in triggers(source, root=REPO_ROOT) if t.kind == "timer_trigger"]
    assert [t.options["schedule"] for t in timers] == ["%ROTATION_SWEEP_SCHEDULE%"]


def test_every_checkov_skip_is_justified() -> None:
    skip = re.compile(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)")
    found = 0
    for path in sorted(INFRA_DIR.rglob("*.bicep")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = skip.search(line)
            if match:
                found += 1
                assert match.group(2) == ":" and len(match.group(3).strip()) >= 20, line
    assert found > 0
    config = yaml.safe_load(CHECKOV_CONFIG.read_text(encoding="utf-8"))
    text = CHECKOV_CONFIG.read_text(encoding="utf-8")
    for check in config.get("skip-check", []):
        # A config-file skip is explained in a comment that names it.
        comments = [ln for ln in text.splitlines() if ln.lstrip().startswith("#")]
        assert any(check in ln for ln in comments), check


def test_hook_scripts_are_executable() -> None:
    path = Path(INFRA_DIR / "hooks" / "postdeploy.sh")
    assert path.stat().st_mode & 0o111, "postdeploy.sh must be executable"
