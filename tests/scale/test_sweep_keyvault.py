"""The sweep against the emulated Key Vault through the real SDK: list calls, value reads and
failing vaults, counted from the emulator's call record (counts, never timings)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

from emulators.faults import FaultRule
from emulators.identity import ManagedIdentity
from emulators.pytest_plugin import OFFICER
from emulators.stack import AzureStack
from rotation import tags as T
from rotation.sweep import sweep
from rotation.vault import KeyVaultStore, SecretListing, SecretStore

PAGE = 25


def is_due(expires_on: datetime | None) -> bool:
    return expires_on is None or expires_on - datetime.now(UTC) <= timedelta(days=30)


@pytest.fixture
def vaults(
    azure_stack: AzureStack, azure_identity: ManagedIdentity
) -> Iterator[list[KeyVaultStore]]:
    """Three fresh vaults and a store for each, as the app builds them (no SDK retries)."""
    credential = ManagedIdentityCredential(client_id=azure_identity.client_id)
    stores = []
    for _ in range(3):
        name = f"sw-{secrets.token_hex(6)}"
        url = azure_stack.keyvault.create_vault(name)
        azure_stack.keyvault.assign_role(name, azure_identity.principal_id, OFFICER)
        stores.append(KeyVaultStore(SecretClient(url, credential, retry_total=0)))
    yield stores
    azure_stack.faults.clear()
    credential.close()


def _vault_name(store: KeyVaultStore) -> str:
    return store.vault_url.removeprefix("https://").split(".")[0]


def _fill(stack: AzureStack, store: KeyVaultStore, count: int, due_every: int) -> set[str]:
    """``count`` managed secrets, every ``due_every``-th near expiry; returns the due names."""
    vault = _vault_name(store)
    due = set()
    for i in range(count):
        name = f"s{i:05d}"
        soon = i % due_every == 0
        expires = datetime.now(UTC) + timedelta(days=5 if soon else 200)
        stack.keyvault.store.set(vault, name, "value", expires=expires, tags={T.ROTATOR: "random"})
        if soon:
            due.add(name)
    return due


@pytest.mark.parametrize("count", [0, 25, 26, 130])
def test_a_sweep_makes_one_list_call_per_page_and_reads_no_value(
    azure_stack: AzureStack, vaults: list[KeyVaultStore], count: int
) -> None:
    store = vaults[0]
    due = _fill(azure_stack, store, count, due_every=9)
    with azure_stack.keyvault.recording() as calls:
        report = sweep([store], is_due)
    answered = [c for c in calls if not c.challenge]
    assert {d.secret_name for d in report.due} == due
    assert (report.listed, report.managed) == (count, count)
    pages = ["list_secrets"] * max(1, math.ceil(count / PAGE))
    # The recycle bin first: its open companions are judged by their owners' listings.
    assert [c.operation for c in answered] == ["list_deleted_secrets", *pages]
    assert all(c.status == 200 for c in answered)
    assert not [c for c in calls if c.operation == "get_secret"]


def test_a_failing_vault_does_not_hide_the_others(
    azure_stack: AzureStack, vaults: list[KeyVaultStore]
) -> None:
    expected = {}
    for number, store in enumerate(vaults):
        expected[store.vault_url] = _fill(azure_stack, store, 40 + number, due_every=7)
    failing = vaults[1]
    rule = azure_stack.faults.add(
        FaultRule(host=f"{_vault_name(failing)}.vault.azure.net", status=503, times=None)
    )

    report = sweep(iter(vaults), is_due)

    assert azure_stack.faults.fired(rule) >= 1
    assert list(report.failed_vaults) == [failing.vault_url]
    assert "503" in report.failed_vaults[failing.vault_url]
    found: dict[str, set[str]] = {}
    for item in report.due:
        found.setdefault(item.vault_url, set()).add(item.secret_name)
    assert found == {url: names for url, names in expected.items() if url != failing.vault_url}


def test_a_vault_failing_mid_listing_keeps_what_others_found(
    azure_stack: AzureStack, vaults: list[KeyVaultStore]
) -> None:
    healthy, flaky, _ = vaults
    wanted = _fill(azure_stack, healthy, 60, due_every=5)
    _fill(azure_stack, flaky, 60, due_every=5)
    listing = flaky.list()
    next(listing)  # the first page of the flaky vault is in; every later page fails
    azure_stack.faults.add(
        FaultRule(
            host=f"{_vault_name(flaky)}.vault.azure.net",
            operation="list_secrets",
            status=500,
            times=None,
        )
    )
    resumed = cast(SecretStore, _Resumed(flaky.vault_url, listing))
    report = sweep([healthy, resumed], is_due)
    assert {d.secret_name for d in report.due} == wanted
    assert {d.vault_url for d in report.due} == {healthy.vault_url}
    assert list(report.failed_vaults) == [flaky.vault_url]


class _Resumed:
    """A store whose listing continues one already started."""

    def __init__(self, vault_url: str, listing: Iterator[SecretListing]) -> None:
        self.vault_url = vault_url
        self._listing = listing

    def list(self) -> Iterator[SecretListing]:
        return self._listing
