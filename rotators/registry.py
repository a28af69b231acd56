"""The registry of rotator classes, keyed by rotator kind.

Built-in rotators are listed in :data:`BUILTIN` and imported on first use (so a missing
driver for one target does not break the others). Third-party packages add rotators through
the ``keyvault_rotation.rotators`` entry-point group: each entry point names a ``Rotator``
subclass whose ``kind`` is unique.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from rotation.errors import ConfigurationError
from rotation.rotator import Rotator

ENTRY_POINT_GROUP = "keyvault_rotation.rotators"

#: kind -> "module:Class" of the rotators that ship with the app.
BUILTIN: dict[str, str] = {
    "azure-sql-admin": "rotators.azure_sql_admin:AzureSqlAdminRotator",
    "http-api-key": "rotators.http_api_key.rotator:HttpApiKeyRotator",
    "mysql": "rotators.mysql:MySQLRotator",
    "postgres": "rotators.postgres:PostgresRotator",
    "rabbitmq": "rotators.rabbitmq:RabbitMqRotator",
    "random": "rotators.random_secret:RandomSecretRotator",
    "redis-acl": "rotators.redis_acl:RedisAclRotator",
}


class DuplicateRotatorError(ValueError):
    """Two rotator classes claim the same kind."""


class RotatorRegistry:
    """Maps rotator kinds to classes; refuses a second class for a kind already taken."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Rotator]] = {}

    def register(self, cls: type[Rotator]) -> type[Rotator]:
        """Add ``cls`` under ``cls.kind``. Usable as a class decorator."""
        kind = getattr(cls, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"{cls.__qualname__} has no 'kind'")
        if not (isinstance(cls, type) and issubclass(cls, Rotator)):
            raise TypeError(f"{cls!r} is not a Rotator subclass")
        existing = self._classes.get(kind)
        if existing is not None and existing is not cls:
            raise DuplicateRotatorError(
                f"rotator kind '{kind}' is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        self._classes[kind] = cls
        return cls

    def get(self, kind: str, *, secret: str | None = None) -> type[Rotator]:
        """The class for ``kind``; ``ConfigurationError`` naming the known kinds otherwise."""
        try:
            return self._classes[kind]
        except KeyError:
            raise ConfigurationError(
                f"unknown rotator kind '{kind}' (known: {', '.join(self.kinds())})",
                secret=secret,
                tag="rotation-rotator",
            ) from None

    def kinds(self) -> list[str]:
        """Every registered kind, sorted."""
        return sorted(self._classes)


def load_class(spec: str) -> type[Rotator]:
    """Import ``"module:Class"`` and check that it is a ``Rotator`` subclass."""
    module_name, _, attr = spec.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Rotator)):
        raise TypeError(f"{spec} is not a Rotator subclass")
    return cls


def default_registry(*, include_plugins: bool = True) -> RotatorRegistry:
    """A registry with every built-in rotator and, unless disabled, every installed plugin."""
    registry = RotatorRegistry()
    for kind, spec in BUILTIN.items():
        cls = load_class(spec)
        if cls.kind != kind:
            raise DuplicateRotatorError(f"{spec} declares kind '{cls.kind}', listed as '{kind}'")
        registry.register(cls)
    if include_plugins:
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(entry_point.load())
    return registry
