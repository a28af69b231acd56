"""Consumer checks: did the readers of a rotated secret move to the new version?

- :mod:`.definitions` parses ``ROTATION_CONSUMERS`` / ``ROTATION_CONSUMERS_FILE``;
- :mod:`.base` is the contract of a check kind, :mod:`.registry` the kinds by name;
- one module per kind: :mod:`.app_service`, :mod:`.http_probe`, :mod:`.postgres_sessions`;
- :mod:`.composite` is the confirmer the engine calls, built by :mod:`.loader`.

See docs/consumers.md.
"""

from rotation.consumer_checks.base import CheckEnvironment, CheckRequest, ConsumerCheck
from rotation.consumer_checks.composite import CompositeConfirmer
from rotation.consumer_checks.definitions import (
    ConsumerDefinition,
    load_definitions,
    parse_definitions,
)
from rotation.consumer_checks.loader import build_checks, build_confirmer
from rotation.consumer_checks.registry import CheckRegistry, default_check_registry

__all__ = [
    "CheckEnvironment",
    "CheckRegistry",
    "CheckRequest",
    "CompositeConfirmer",
    "ConsumerCheck",
    "ConsumerDefinition",
    "build_checks",
    "build_confirmer",
    "default_check_registry",
    "load_definitions",
    "parse_definitions",
]
