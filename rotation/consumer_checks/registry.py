"""The registry of consumer check kinds (like :mod:`rotation.registry` for rotators)."""

from __future__ import annotations

from rotation.consumer_checks.app_service import AppServiceCheck
from rotation.consumer_checks.base import ConsumerCheck
from rotation.consumer_checks.http_probe import HttpProbeCheck
from rotation.consumer_checks.postgres_sessions import PostgresSessionsCheck
from rotation.errors import DuplicateCheckError
from rotation.kinds import KindRegistry


class CheckRegistry(KindRegistry[type[ConsumerCheck]]):
    """Maps check kinds to classes; refuses a second class for a kind already taken."""

    base = ConsumerCheck
    duplicate_error = DuplicateCheckError
    label = "consumer check"

    def get(self, kind: str) -> type[ConsumerCheck] | None:
        """The class for ``kind``, or None."""
        return self.find(kind)


def default_check_registry() -> CheckRegistry:
    """A registry holding the check kinds that ship with the app."""
    registry = CheckRegistry()
    for cls in (AppServiceCheck, HttpProbeCheck, PostgresSessionsCheck):
        registry.register(cls)
    return registry
