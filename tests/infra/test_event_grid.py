"""Key Vault events reach the app's real Event Grid function, with retries and a dead letter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.functions_source import event_grid_functions, triggers
from tests.infra.templates import REPO_ROOT, Resource, Template

FUNCTION_APP = REPO_ROOT / "function_app.py"
FIXTURE = Path(__file__).parent / "fixtures" / "function_app_sample.py"
SUBSCRIPTION = "Microsoft.EventGrid/systemTopics/eventSubscriptions"


@pytest.fixture(scope="module")
def vault_events(templates: dict[str, Template]) -> Template:
    return templates["modules/vault-events.bicep"]


@pytest.fixture(scope="module")
def subscription(vault_events: Template) -> Resource:
    return vault_events.only(SUBSCRIPTION)


def subscribed_function(vault_events: Template, subscription: Resource) -> str:
    resource_id = subscription.get("properties", "destination", "properties", "resourceId")
    prefix = "${functionAppId}/functions/${"
    assert isinstance(resource_id, str) and resource_id.startswith(prefix), resource_id
    return vault_events.resolve_string(resource_id[len(prefix) : -1])


def test_subscription_names_an_event_grid_function_of_function_app(
    vault_events: Template, subscription: Resource
) -> None:
    assert FUNCTION_APP.is_file(), "function_app.py is missing at the repository root"
    names = event_grid_functions(FUNCTION_APP.read_text(encoding="utf-8"), root=REPO_ROOT)
    assert subscribed_function(vault_events, subscription) in names, names


def test_subscription_delivers_key_vault_expiry_events(subscription: Resource) -> None:
    props = subscription.get("properties")
    assert props["destination"]["endpointType"] == "AzureFunction"
    assert props["eventDeliverySchema"] == "EventGridSchema"
    assert sorted(props["filter"]["includedEventTypes"]) == [
        "Microsoft.KeyVault.SecretExpired",
        "Microsoft.KeyVault.SecretNearExpiry",
    ]
    assert set(props["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}


def test_dead_letter_uses_the_dead_letter_identity(
    vault_events: Template, subscription: Resource
) -> None:
    props = subscription.get("properties")
    assert "deadLetterDestination" not in props  # only the identity-based form
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {
        "type": "UserAssigned",
        "userAssignedIdentity": "deadLetterIdentityId",
    }
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    topic = vault_events.resource("systemTopic")
    assert topic.get("identity", "type") == "UserAssigned"
    assert list(topic.get("identity", "userAssignedIdentities")) == ["'${deadLetterIdentityId}'"]
    assert topic.get("properties", "topicType") == "Microsoft.KeyVault.vaults"


def test_subscription_waits_for_the_code(
    vault_events: Template, subscription: Resource, main_template: Template
) -> None:
    # Event Grid validates an AzureFunction endpoint at creation: the subscription is behind a
    # flag that azd's postdeploy hook turns on once the code is deployed.
    assert subscription.condition == "deployEventSubscription"
    flag = main_template.section("parameters")["deployEventSubscriptions"]
    assert flag["type"] == "bool" and flag["default"] is False


def test_outcome_topic_has_local_auth_disabled(templates: dict[str, Template]) -> None:
    topic = templates["modules/events-topic.bicep"].resource("topic")
    assert topic.get("properties", "disableLocalAuth") is True


def test_parser_on_fixture_finds_event_grid_functions_by_functions_name() -> None:
    source = FIXTURE.read_text(encoding="utf-8")
    assert event_grid_functions(source, root=FIXTURE.parent) == {"near_expiry", "plain_name"}
    kinds = {t.name: t.kind for t in triggers(source, root=FIXTURE.parent)}
    assert kinds == {
        "near_expiry": "event_grid_trigger",
        "plain_name": "event_grid_trigger",
        "worker": "queue_trigger",
        "api": "route",
    }


def test_parser_resolves_imported_constants(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "consts.py").write_text('QUEUE = "work-items"\nNAME = "grid_fn"\n')
    source = (
        "from pkg.consts import NAME, QUEUE\n"
        "@app.function_name(name=NAME)\n@app.event_grid_trigger(arg_name='e')\ndef f(e): ...\n"
        "@app.queue_trigger(arg_name='m', queue_name=QUEUE)\ndef g(m): ...\n"
    )
    found = {t.name: t.options for t in triggers(source, root=tmp_path)}
    assert set(found) == {"grid_fn", "g"}
    assert found["g"]["queue_name"] == "work-items"


def test_parser_ignores_undecorated_and_non_trigger_functions() -> None:
    source = "def helper(): ...\n@functools.cache\ndef cached(): ...\n"
    assert triggers(source, root=REPO_ROOT) == []
