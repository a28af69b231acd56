"""Scripted faults seen by the real SDK: throttling, server errors, latency, dropped connections."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from emulators.faults import FaultInjector, FaultRule, Operation
from emulators.pytest_plugin import VaultHandle

VAULTS = "*.vault.azure.net"


def _client(key_vault: VaultHandle, **kwargs: object) -> SecretClient:
    credential = ManagedIdentityCredential(client_id=key_vault.identity.client_id)
    return SecretClient(key_vault.url, credential, **kwargs)


def test_429_with_retry_after_is_retried_through(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    secret_client.set_secret("busy", "v")
    faults = key_vault.stack.faults
    rule = faults.add(
        FaultRule(host=VAULTS, operation="get_secret", secret="busy", status=429, retry_after=1)
    )
    started = time.monotonic()
    assert secret_client.get_secret("busy").value == "v"
    assert time.monotonic() - started >= 0.9
    assert faults.fired(rule) == 1


def test_5xx_surfaces_when_retries_are_exhausted(key_vault: VaultHandle) -> None:
    client = _client(key_vault, retry_total=0)
    client.set_secret("flaky", "v")
    rule = key_vault.stack.faults.add(
        FaultRule(host=VAULTS, operation="set_secret", status=503, times=None)
    )
    with pytest.raises(HttpResponseError) as info:
        client.set_secret("flaky", "v2")
    assert info.value.status_code == 503
    assert key_vault.stack.faults.fired(rule) == 1
    key_vault.stack.faults.clear()
    assert client.set_secret("flaky", "v3").value == "v3"
    assert len(key_vault.stack.keyvault.versions(key_vault.name, "flaky")) == 2


def test_500_once_is_retried_by_the_sdk(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    rule = key_vault.stack.faults.add(FaultRule(host=VAULTS, operation="set_secret", status=500))
    assert secret_client.set_secret("retry", "v").value == "v"
    assert key_vault.stack.faults.fired(rule) == 1


def test_dropped_connection(key_vault: VaultHandle) -> None:
    client = _client(key_vault, retry_total=0)
    client.set_secret("dropme", "v")
    key_vault.stack.faults.add(FaultRule(host=VAULTS, operation="get_secret", drop=True))
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        client.get_secret("dropme")
    assert client.get_secret("dropme").value == "v"  # the proxy carries on


def test_latency(secret_client: SecretClient, key_vault: VaultHandle) -> None:
    secret_client.set_secret("slow", "v")
    key_vault.stack.faults.add(FaultRule(host=VAULTS, operation="get_secret", latency=0.3))
    started = time.monotonic()
    assert secret_client.get_secret("slow").value == "v"
    assert time.monotonic() - started >= 0.3


def test_rule_matching_and_counting() -> None:
    faults = FaultInjector()
    by_secret = faults.add(FaultRule(operation="get_secret", secret="a", status=500, times=2))
    forever = faults.add(FaultRule(host="*.vault.azure.net", method="PUT", status=503, times=None))
    get_a = Operation("get_secret", "a")
    assert faults.take("v.vault.azure.net", "GET", Operation("get_secret", "b")) is None
    assert faults.take("v.vault.azure.net", "GET", get_a) is by_secret
    assert faults.take("v.vault.azure.net", "GET", get_a) is by_secret
    assert faults.take("v.vault.azure.net", "GET", get_a) is None
    assert faults.take("management.azure.com", "PUT", None) is None
    for _ in range(5):
        assert faults.take("x.vault.azure.net", "put", None) is forever
    assert (faults.fired(by_secret), faults.fired(forever)) == (2, 5)
    faults.clear()
    assert faults.take("x.vault.azure.net", "PUT", None) is None
    assert faults.fired(forever) == 5
