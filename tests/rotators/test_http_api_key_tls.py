"""The ``http-api-key`` rotator verifies the API's certificate against ``rotation-tls-ca``.

The emulated Datadog API sits behind the local stack's TLS proxy, whose certificates come from
the stack's local CA (trusted process-wide through ``REQUESTS_CA_BUNDLE``). With the tag, the
tag's CA is what counts, even against that process-wide setting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.datadog import DatadogEmulator
from emulators.stack import AzureStack
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext, Strategy
from rotation.testing import unique_name
from rotators.http_api_key.rotator import HttpApiKeyRotator


def _context(options: dict[str, str], org: tuple[str, str]) -> RotatorContext:
    return RotatorContext(
        secret_name="api-tls",
        target=None,
        strategy=Strategy.MULTIPLE,
        policy=HttpApiKeyRotator.default_policy,
        admin=Credential(password=org[0], extra={"application_key": org[1]}),
        options={"profile": "datadog", **options},
    )


@pytest.fixture
def org(azure_stack: AzureStack) -> tuple[str, str]:
    datadog: DatadogEmulator = azure_stack.datadog
    return datadog.create_org(unique_name("org"))


def test_the_tags_ca_verifies_the_api(azure_stack: AzureStack, org: tuple[str, str]) -> None:
    key, key_id = azure_stack.datadog.add_api_key(org[0], unique_name("k"))
    rotator = HttpApiKeyRotator(_context({"tls-ca": str(azure_stack.ca.ca_path)}, org))
    try:
        rotator.verify(Credential(password=key, extra={"key_id": key_id}))
    finally:
        rotator.close()


def test_a_wrong_ca_is_a_configuration_error(
    azure_stack: AzureStack, org: tuple[str, str], wrong_ca: Path
) -> None:
    key, key_id = azure_stack.datadog.add_api_key(org[0], unique_name("k"))
    rotator = HttpApiKeyRotator(_context({"tls-ca": str(wrong_ca)}, org))
    try:
        with pytest.raises(ConfigurationError) as raised:
            rotator.verify(Credential(password=key, extra={"key_id": key_id}))
    finally:
        rotator.close()
    assert raised.value.tag == "rotation-tls-ca"
    assert key not in str(raised.value) and org[1] not in str(raised.value)
