"""Issue 11: the Event Grid trigger accepts what the Functions worker hands it for either
delivery schema (``func.EventGridEvent`` and ``func.CloudEvent``), fed as the JSON text the
host sends through the azure-functions binding converter, and a rotation follows.

The payloads are Microsoft's documented Key Vault event samples ("Azure Key Vault as Event
Grid source"), stray spaces included (``"ObjectName "``, ``" ee05…"``), with the sample's vault,
secret and version swapped for this test's and the event type set to SecretNearExpiry (the
page's sample is SecretNewVersionCreated; the fields are the same for every secret event).
"""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from rotation import tags as T
from rotators.random_secret import RandomSecretRotator
from tests.e2e.catalogue_support import put_secret
from tests.e2e.conftest import AppUnderTest
from tests.support.functions_host import event_grid_input
from tests.support.keyvault_event_samples import MS_SAMPLE_CLOUD_EVENT, MS_SAMPLE_EVENT_GRID

SAMPLE_VERSION = "ee059b2bb5bc48398a53b168c6cdcb10"


def host_payload(sample: str, app: AppUnderTest, name: str, version: str) -> str:
    """The JSON of the sample's one array element, pointed at ``name``/``version`` in the
    test's vault, as the host passes it to the worker (whitespace quirks kept)."""
    text = (
        sample.replace("sample-kv", app.vault.name)
        .replace("newsecret", name)
        .replace(SAMPLE_VERSION, version)
        .replace("SecretNewVersionCreated", "SecretNearExpiry")
    )
    (element,) = json.loads(text)
    data = element["data"]
    assert "ObjectName " in data and data["Version"] == f" {version}", "quirks kept"
    return json.dumps(element)


@pytest.mark.parametrize(
    ("sample", "expected_type"),
    [(MS_SAMPLE_EVENT_GRID, func.EventGridEvent), (MS_SAMPLE_CLOUD_EVENT, func.CloudEvent)],
    ids=["event-grid-schema", "cloudevents-schema"],
)
def test_documented_sample_through_the_converter_rotates(
    app: AppUnderTest, sample: str, expected_type: type
) -> None:
    first = put_secret(
        app,
        "signing-key",
        RandomSecretRotator.default_policy.generate(),
        tags={T.ROTATOR: "random"},
        expires_in_days=20,
    )
    payload = host_payload(sample, app, "signing-key", first)
    assert isinstance(event_grid_input(payload), expected_type)

    app.deliver_to_function(payload)

    current = app.client.get_secret("signing-key").properties
    assert current.version != first, "a version with stray spaces must not count as stale"
    assert (current.tags or {})[T.PREVIOUS_VERSION] == first
    app.deliver_to_function(payload)  # the redelivered event is now stale: nothing more
    assert len(app.versions("signing-key")) == 2
