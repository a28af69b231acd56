"""Builds the composite confirmer from app settings, validating every definition at start-up."""

from __future__ import annotations

from azure.core.credentials import TokenCredential

from rotation.consumer_checks.base import CheckEnvironment, ConsumerCheck
from rotation.consumer_checks.composite import CompositeConfirmer
from rotation.consumer_checks.definitions import ConsumerDefinition, load_definitions
from rotation.consumer_checks.registry import CheckRegistry, default_check_registry
from rotation.settings import AppSettings


def build_checks(
    definitions: dict[str, ConsumerDefinition],
    environment: CheckEnvironment,
    registry: CheckRegistry | None = None,
) -> dict[str, ConsumerCheck]:
    """One check per definition; ConfigurationError for an unknown kind or a bad option."""
    registry = registry or default_check_registry()
    checks: dict[str, ConsumerCheck] = {}
    for name, definition in definitions.items():
        cls = registry.get(definition.kind)
        if cls is None:
            raise definition.error(
                f"unknown kind '{definition.kind}' (known: {', '.join(registry.kinds())})",
                "kind",
            )
        checks[name] = cls(definition, environment)
    return checks


def build_confirmer(
    settings: AppSettings,
    credential: TokenCredential | None,
    registry: CheckRegistry | None = None,
) -> CompositeConfirmer:
    """The confirmer for the app: definitions from ``ROTATION_CONSUMERS(_FILE)``."""
    definitions = load_definitions(settings.consumers_json, settings.consumers_file)
    return CompositeConfirmer(
        build_checks(definitions, CheckEnvironment(credential=credential), registry)
    )
