"""pytest fixtures that start the local Azure stack in-process.

Enable with ``pytest_plugins = ["emulators.pytest_plugin"]`` in a conftest.py.

* ``azure_stack`` (session): a started :class:`~emulators.stack.AzureStack` whose
  environment is applied to ``os.environ`` for the whole session.
* ``azure_identity`` (function): a new user-assigned :class:`~emulators.identity.ManagedIdentity`.
* ``key_vault`` (function): a fresh, uniquely named vault on which ``azure_identity`` is
  Key Vault Secrets Officer (a :class:`VaultHandle`). Fault rules are cleared after each test.
* ``azurite`` (session): a running :class:`~emulators.azurite.Azurite`; fails with a clear
  message when ``node_modules/azurite`` is missing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from emulators.azurite import Azurite, installed
from emulators.identity import ManagedIdentity
from emulators.stack import AzureStack

OFFICER = "Key Vault Secrets Officer"


@dataclass(frozen=True)
class VaultHandle:
    """A vault made for one test: ``url`` is ``https://<name>.vault.azure.net``."""

    name: str
    url: str
    stack: AzureStack
    identity: ManagedIdentity


def new_vault(stack: AzureStack, identity: ManagedIdentity) -> VaultHandle:
    """Create a uniquely named vault on ``stack`` where ``identity`` is Secrets Officer."""
    name = f"kv-{secrets.token_hex(8)}"
    url = stack.keyvault.create_vault(name)
    stack.keyvault.assign_role(name, identity.principal_id, OFFICER)
    return VaultHandle(name=name, url=url, stack=stack, identity=identity)


@pytest.fixture(scope="session")
def azure_stack() -> Iterator[AzureStack]:
    """The started stack, its environment applied for the session."""
    with AzureStack() as stack, stack.applied_env():
        yield stack


@pytest.fixture
def azure_identity(azure_stack: AzureStack) -> ManagedIdentity:
    """A new user-assigned managed identity."""
    return azure_stack.identity.add_identity()


@pytest.fixture
def key_vault(azure_stack: AzureStack, azure_identity: ManagedIdentity) -> Iterator[VaultHandle]:
    """A fresh vault where ``azure_identity`` is Secrets Officer; clears faults afterwards."""
    yield new_vault(azure_stack, azure_identity)
    azure_stack.faults.clear()


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running Azurite for the session (fails if it is not installed)."""
    if not installed():
        pytest.fail(
            "Azurite is not installed: run `npm install azurite@3.37.0` in the project root",
            pytrace=False,
        )
    with Azurite() as running:
        yield running
