"""Key Vault listing pages in O(page): sorted indexes, Key Vault's ``$skiptoken`` continuation.

Costs are counted, never timed: ``VaultStore.items_touched`` counts the index entries a page
reads, and the wire formatter is wrapped to count the items rendered.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from azure.keyvault.secrets import SecretClient

from emulators.keyvault import service as kv_service
from emulators.keyvault import wire_format
from emulators.keyvault.errors import KeyVaultError
from emulators.pytest_plugin import VaultHandle
from tests.support.aging_vault import store_with_deleted_secret


def _fill(key_vault: VaultHandle, count: int, prefix: str = "s") -> list[str]:
    store = key_vault.stack.keyvault.store
    names = [f"{prefix}{i:06d}" for i in range(count)]
    for name in names:
        store.set(key_vault.name, name, "x", tags={"n": name})
    return names


def _page_costs(
    secret_client: SecretClient, key_vault: VaultHandle, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[int], list[int], int]:
    """Index entries touched and items rendered by each page of a full SDK listing."""
    store = key_vault.stack.keyvault.store
    rendered = [0]
    original = wire_format.item

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        rendered[0] += 1
        return dict(original(*args, **kwargs))

    monkeypatch.setattr(wire_format, "item", counting)
    touched: list[int] = []
    renders: list[int] = []
    listed = 0
    pages: Iterator[Iterator[Any]] = secret_client.list_properties_of_secrets().by_page()
    while True:
        before, rendered_before = store.items_touched, rendered[0]
        try:
            page = list(next(pages))
        except StopIteration:
            break
        touched.append(store.items_touched - before)
        renders.append(rendered[0] - rendered_before)
        listed += len(page)
    monkeypatch.setattr(wire_format, "item", original)
    return touched, renders, listed


def test_a_page_costs_the_same_at_any_vault_size(
    secret_client: SecretClient,
    key_vault: VaultHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fill(key_vault, 60)
    small_touched, small_rendered, small_listed = _page_costs(secret_client, key_vault, monkeypatch)
    _fill(key_vault, 3000 - 60, prefix="t")
    big_touched, big_rendered, big_listed = _page_costs(secret_client, key_vault, monkeypatch)

    assert (small_listed, big_listed) == (60, 3000)
    assert len(small_touched) == math.ceil(60 / 25) and len(big_touched) == 3000 // 25
    # Every full page reads its 25 items plus the first of the next page, at either size.
    assert max(small_touched) == max(big_touched) == 26
    assert max(small_rendered) == max(big_rendered) == 25
    assert sum(big_touched) == 3000 + len(big_touched) - 1


def test_next_link_carries_a_key_vault_style_skiptoken(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    _fill(key_vault, 30)
    pages = secret_client.list_properties_of_secrets().by_page()
    first = list(next(pages))
    link = pages.continuation_token  # type: ignore[attr-defined]
    assert len(first) == 25 and isinstance(link, str)
    query = parse_qs(urlparse(link).query)
    assert query["maxresults"] == ["25"] and "api-version" in query
    token = query["$skiptoken"][0]
    marker = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert marker == {"NextMarker": "s000025", "TargetLocation": 0}
    assert [p.name for p in next(pages)] == [f"s{i:06d}" for i in range(25, 30)]


def test_continuation_is_stable_while_the_vault_changes(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    names = _fill(key_vault, 60)
    store = key_vault.stack.keyvault.store
    seen: list[str] = []
    for number, page in enumerate(secret_client.list_properties_of_secrets().by_page()):
        seen.extend(p.name or "" for p in page)
        if number == 0:
            store.delete(key_vault.name, names[40])  # not yet listed: skipped
            store.delete(key_vault.name, names[3])  # already listed
            store.set(key_vault.name, "a-before-everything", "x")  # sorts before the marker
            store.set(key_vault.name, "s000050b", "x")  # sorts after it: listed
    assert len(seen) == len(set(seen)), "nothing is listed twice"
    expected = [n for n in names if n != names[40]]
    expected.insert(expected.index("s000050") + 1, "s000050b")
    assert seen == expected


def test_versions_and_deleted_secrets_page_from_the_index(
    secret_client: SecretClient, key_vault: VaultHandle
) -> None:
    store = key_vault.stack.keyvault.store
    made = [store.set(key_vault.name, "many", str(i)).version for i in range(30)]
    pages = list(secret_client.list_properties_of_secret_versions("many").by_page())
    assert [len(list(p)) for p in pages] == [25, 5]
    listed = [p.version for p in secret_client.list_properties_of_secret_versions("many")]
    assert listed == made

    for i in range(27):
        store.set(key_vault.name, f"gone{i:02d}", "x")
        store.delete(key_vault.name, f"gone{i:02d}")
    store.recover(key_vault.name, "gone05")
    store.purge(key_vault.name, "gone06")
    deleted = [d.name for d in secret_client.list_deleted_secrets()]
    assert deleted == [f"gone{i:02d}" for i in range(27) if i not in (5, 6)]


@pytest.mark.parametrize("token", ["e30", "eyJOZXh0TWFya2VyIjoxfQ", "bm90IGpzb24"])
def test_malformed_skiptokens_are_refused(key_vault: VaultHandle, token: str) -> None:
    # {} / {"NextMarker": 1} / "not json"
    with pytest.raises(KeyVaultError) as info:
        kv_service.decode_skiptoken(token)
    assert info.value.status == 400


def test_purge_schedule_survives_recover_and_delete_again() -> None:
    clock, store = store_with_deleted_secret()
    clock.advance(timedelta(days=50))
    store.recover("aging", "old")
    store.delete("aging", "old")  # a new 90 days from here
    clock.advance(timedelta(days=45))  # the first deletion's purge date has passed
    assert [d.latest.name for d in store.deleted_page("aging", None, 25).items] == ["old"]
    clock.advance(timedelta(days=45))
    assert store.deleted_page("aging", None, 25).items == []
    assert store.set("aging", "old", "new").value == "new"
