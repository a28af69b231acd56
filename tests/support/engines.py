"""Real engines over an in-memory vault for tests that drive whole runs (no Azure stack)."""

from __future__ import annotations

from rotation.engine import EngineSettings, RotationEngine
from rotation.lock import InProcessLocks
from rotation.registry import RotatorRegistry
from rotation.rotator import Rotator
from rotation.vault import SecretStore


def quick_engine(store: SecretStore, *rotator_classes: type[Rotator]) -> RotationEngine:
    """An engine on ``store`` that knows ``rotator_classes``, verifies once and never sleeps."""
    registry = RotatorRegistry()
    for rotator_class in rotator_classes:
        registry.register(rotator_class)
    return RotationEngine(
        lambda url: store,
        registry,
        InProcessLocks(),
        settings=EngineSettings(verify_attempts=1, verify_backoff_seconds=0),
        sleep=lambda s: None,
    )
