"""An emulated Azure Key Vault secrets data plane (see :class:`KeyVaultService`)."""

from emulators.keyvault.errors import KeyVaultError
from emulators.keyvault.rbac import ROLES
from emulators.keyvault.service import KeyVaultService
from emulators.keyvault.store import SecretVersion, VaultStore

__all__ = ["ROLES", "KeyVaultError", "KeyVaultService", "SecretVersion", "VaultStore"]
