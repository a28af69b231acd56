"""Azure's built-in Key Vault roles as data actions, and the action each operation needs."""

from __future__ import annotations

import fnmatch

SECRETS = "Microsoft.KeyVault/vaults/secrets"

#: Data actions per built-in role name (wildcards as in Azure's role definitions).
ROLES: dict[str, tuple[str, ...]] = {
    "Key Vault Administrator": ("Microsoft.KeyVault/vaults/*",),
    "Key Vault Secrets Officer": (f"{SECRETS}/*",),
    "Key Vault Secrets User": (f"{SECRETS}/getSecret/action", f"{SECRETS}/readMetadata/action"),
    "Key Vault Reader": ("Microsoft.KeyVault/vaults/*/read", f"{SECRETS}/readMetadata/action"),
}

#: The data action each emulated operation requires.
OPERATION_ACTIONS: dict[str, str] = {
    "get_secret": f"{SECRETS}/getSecret/action",
    "set_secret": f"{SECRETS}/setSecret/action",
    "update_secret": f"{SECRETS}/update/action",
    "list_secrets": f"{SECRETS}/readMetadata/action",
    "list_secret_versions": f"{SECRETS}/readMetadata/action",
    "delete_secret": f"{SECRETS}/delete",
    "get_deleted_secret": f"{SECRETS}/readMetadata/action",
    "list_deleted_secrets": f"{SECRETS}/readMetadata/action",
    "recover_deleted_secret": f"{SECRETS}/recover/action",
    "purge_deleted_secret": f"{SECRETS}/purge/action",
    "backup_secret": f"{SECRETS}/backup/action",
    "restore_secret": f"{SECRETS}/restore/action",
}


def role_allows(role: str, action: str) -> bool:
    """Whether ``role`` grants the data action ``action``."""
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in ROLES.get(role, ()))
