"""Fixtures for the emulator tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient

if TYPE_CHECKING:
    from emulators.pytest_plugin import VaultHandle

# azure_stack, azure_identity, key_vault and azurite come from emulators.pytest_plugin,
# enabled in tests/conftest.py.


@pytest.fixture
def secret_client(key_vault: VaultHandle) -> Iterator[SecretClient]:
    """A real SecretClient for ``key_vault``, authenticated as its Secrets Officer identity."""
    credential = ManagedIdentityCredential(client_id=key_vault.identity.client_id)
    client = SecretClient(key_vault.url, credential)
    with client:
        yield client
    credential.close()
