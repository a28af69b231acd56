"""The rotators that ship with the app, by kind.

Listed as ``"module:Class"`` and imported when a registry is built (so a missing driver for
one target is reported for that kind only). Plugins add kinds through entry points
(:data:`rotation.registry.ENTRY_POINT_GROUP`); see rotators/README.md.
"""

from __future__ import annotations

from rotation.registry import RotatorRegistry, build_registry

#: kind -> "module:Class" of the rotators that ship with the app.
BUILTIN: dict[str, str] = {
    "azure-sql-admin": "rotators.azure_sql_admin:AzureSqlAdminRotator",
    "cosmos-db-key": "rotators.cosmos_db_key:CosmosDbKeyRotator",
    "entra-app-secret": "rotators.entra_app_secret.rotator:EntraAppSecretRotator",
    "http-api-key": "rotators.http_api_key.rotator:HttpApiKeyRotator",
    "ldap": "rotators.ldap:LdapRotator",
    "mysql": "rotators.mysql:MySQLRotator",
    "postgres": "rotators.postgres:PostgresRotator",
    "rabbitmq": "rotators.rabbitmq:RabbitMqRotator",
    "random": "rotators.random_secret:RandomSecretRotator",
    "redis-acl": "rotators.redis_acl:RedisAclRotator",
    "ssh": "rotators.ssh:SshKeyRotator",
    "ssh-password": "rotators.ssh_password:SshPasswordRotator",
    "storage-account-key": "rotators.storage_account_key:StorageAccountKeyRotator",
}


def default_registry(*, include_plugins: bool = True) -> RotatorRegistry:
    """A registry with every built-in rotator and, unless disabled, every installed plugin."""
    return build_registry(BUILTIN, include_plugins=include_plugins)
