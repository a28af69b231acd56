"""The registry of consumer check kinds (like :mod:`rotation.registry` for rotators)."""

from __future__ import annotations

from rotation.consumer_checks.app_service import AppServiceCheck
from rotation.consumer_checks.base import ConsumerCheck
from rotation.consumer_checks.http_probe import HttpProbeCheck
from rotation.consumer_checks.postgres_sessions import PostgresSessionsCheck
from rotation.errors import DuplicateCheckError


class CheckRegistry:
    """Maps check kinds to classes; refuses a second class for a kind already taken."""

    def __init__(self) -> None:
        self._classes: dict[str, type[ConsumerCheck]] = {}

    def register(self, cls: type[ConsumerCheck]) -> type[ConsumerCheck]:
        """Add ``cls`` under ``cls.kind``. Usable as a class decorator."""
        if not (isinstance(cls, type) and issubclass(cls, ConsumerCheck)):
            raise TypeError(f"{cls!r} is not a ConsumerCheck subclass")
        kind = getattr(cls, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"{cls.__qualname__} has no 'kind'")
        existing = self._classes.get(kind)
        if existing is not None and existing is not cls:
            raise DuplicateCheckError(
                f"consumer check kind '{kind}' is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        self._classes[kind] = cls
        return cls

    def get(self, kind: str) -> type[ConsumerCheck] | None:
        """The class for ``kind``, or None."""
        return self._classes.get(kind)

    def kinds(self) -> list[str]:
        """Every registered kind, sorted."""
        return sorted(self._classes)


def default_check_registry() -> CheckRegistry:
    """A registry holding the check kinds that ship with the app."""
    registry = CheckRegistry()
    for cls in (AppServiceCheck, HttpProbeCheck, PostgresSessionsCheck):
        registry.register(cls)
    return registry
