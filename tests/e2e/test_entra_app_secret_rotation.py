"""``entra-app-secret`` end to end through function_app.py: a ``SecretNearExpiry`` event
delivered by the emulated Event Grid -> a new client secret added through the emulated Graph
and committed as a new Key Vault version -> the new secret gets tokens -> the old one is
removed only after the consumer (an App Service app's Key Vault reference) moved.

Test code checks logins with its own client-credentials token requests to the emulated
``login.microsoftonline.com`` (through the proxy, with ``requests``), independent of the
rotator under test.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from emulators.graph import READ_WRITE_OWNED_BY, Application, GraphEmulator
from emulators.stack import AzureStack
from rotation import tags as T
from tests.e2e.catalogue_support import LeakWatch, assert_rotated, deliver_near_expiry, put_secret
from tests.e2e.conftest import AppUnderTest
from tests.e2e.consumer_support import (
    call_api,
    current_secret,
    define_consumers,
    sweep,
    unique,
    web_app_consumer,
)

LOGIN = "https://login.microsoftonline.com"


@pytest.fixture
def graph(app: AppUnderTest) -> GraphEmulator:
    return app.vault.stack.graph


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture) -> Any:
    watch = LeakWatch(caplog)
    yield watch
    watch.check()


def gets_token(graph: GraphEmulator, app_id: str, secret: str) -> bool:
    """A client-credentials token request by test code: True if issued, False if refused."""
    response = requests.post(
        f"{LOGIN}/{graph.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=10,
    )
    if response.status_code == 200:
        return bool(response.json()["access_token"])
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    return False


def store_client_secret(
    app: AppUnderTest,
    graph: GraphEmulator,
    name: str,
    registration: Application,
    **tags: str,
) -> tuple[str, str]:
    """A managed secret holding a portal-made client secret of ``registration``; returns
    (first version, secret text)."""
    text, key_id = graph.add_secret(registration, "consumers")
    value = {
        "tenant_id": graph.tenant_id,
        "client_id": registration.app_id,
        "password": text,
        "key_id": key_id,
    }
    base = {T.ROTATOR: "entra-app-secret", T.TARGET: registration.object_id}
    return put_secret(app, name, value, tags={**base, **tags}), text


def owned_registration(app: AppUnderTest, graph: GraphEmulator) -> Application:
    """An app registration the function app's identity owns, with OwnedBy granted."""
    owner = app.vault.identity.principal_id
    graph.grant(owner, READ_WRITE_OWNED_BY)
    return graph.create_application(unique("orders-api"), owners=(owner,))


def test_event_rotates_and_the_old_secret_goes_after_the_consumer_moves(
    app: AppUnderTest,
    azure_stack: AzureStack,
    graph: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
    leaks: LeakWatch,
) -> None:
    name = unique("orders-client-secret")
    registration = owned_registration(app, graph)
    web = web_app_consumer(azure_stack, app, name)
    define_consumers(monkeypatch, {"orders-web": web.definition(restart=False)})
    first, old = store_client_secret(app, graph, name, registration, **{T.CONSUMERS: "orders-web"})
    web.resolve(first)

    deliver_near_expiry(app)

    value, props = current_secret(app, name)
    new = value["password"]
    leaks.watch(old, new)
    assert props.version != first and props.tags[T.STATE] == "awaiting-consumers"
    assert value["client_id"] == registration.app_id and value["tenant_id"] == graph.tenant_id
    assert value["key_id"] != "" and value["display_name"].startswith(f"rotation-{name}-")
    assert gets_token(graph, registration.app_id, new), "the new secret must work"
    assert gets_token(graph, registration.app_id, old), "kept while the consumer reads it"

    web.resolve(props.version)  # the web app picked up the new version
    sweep(app)

    status, body = call_api(app, "GET", name)
    assert status == 200 and body["state"] == "completed", body
    assert not gets_token(graph, registration.app_id, old), "the old secret must be removed"
    assert gets_token(graph, registration.app_id, new)
    assert graph.password_names(registration) == [value["display_name"]]
    assert_rotated(app, name, first)


def test_a_lost_add_answer_converges_to_one_new_secret(
    app: AppUnderTest, graph: GraphEmulator, leaks: LeakWatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Graph added the secret but its answer never arrived: the rotation fails retryably, and
    the next try removes the orphan (its text is unknowable) before adding another."""
    name = unique("billing-client-secret")
    registration = owned_registration(app, graph)
    first, old = store_client_secret(app, graph, name, registration)
    graph.graph.lose_next_response("add_password")

    deliver_near_expiry(app)  # Event Grid redelivers after the retryable failure
    if app.client.get_secret(name).properties.version == first:
        sweep(app)

    committed = assert_rotated(app, name, first)
    new = committed.value["password"]
    leaks.watch(old, new)
    assert graph.password_names(registration) == [committed.value["display_name"]]
    assert "added earlier without a recorded answer" in caplog.text, "no orphan was removed"
    assert gets_token(graph, registration.app_id, new)
    assert not gets_token(graph, registration.app_id, old)


def test_without_ownership_nothing_changes(app: AppUnderTest, graph: GraphEmulator) -> None:
    graph.grant(app.vault.identity.principal_id, READ_WRITE_OWNED_BY)
    registration = graph.create_application(unique("not-ours"))  # owned by someone else
    name = unique("foreign-client-secret")
    first, old = store_client_secret(app, graph, name, registration)

    assert len(deliver_near_expiry(app)) == 1  # acknowledged: retrying cannot help

    assert app.client.get_secret(name).properties.version == first
    assert graph.password_names(registration) == ["consumers"]
    assert gets_token(graph, registration.app_id, old)
