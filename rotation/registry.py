"""The registry of rotator classes, keyed by rotator kind: part of the plugin interface.

The engine looks rotators up here and knows none of them; the composition root
(:mod:`composition`) fills a registry with the built-in rotators (:mod:`rotators.catalogue`)
and with third-party ones from the ``keyvault_rotation.rotators`` entry-point group, each
entry point naming a ``Rotator`` subclass whose ``kind`` is unique.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points

from rotation import tags as T
from rotation.errors import ConfigurationError, DuplicateRotatorError
from rotation.kinds import KindRegistry
from rotation.rotator import Rotator

ENTRY_POINT_GROUP = "keyvault_rotation.rotators"


class RotatorRegistry(KindRegistry[type[Rotator]]):
    """Maps rotator kinds to classes; refuses a second class for a kind already taken."""

    base = Rotator
    duplicate_error = DuplicateRotatorError
    label = "rotator"

    def get(self, kind: str, *, secret: str | None = None) -> type[Rotator]:
        """The class for ``kind``; ``ConfigurationError`` naming the known kinds otherwise."""
        found = self.find(kind)
        if found is None:
            raise ConfigurationError(
                f"unknown rotator kind '{kind}' (known: {', '.join(self.kinds())})",
                secret=secret,
                tag=T.ROTATOR,
            )
        return found


def load_class(spec: str) -> type[Rotator]:
    """Import ``"module:Class"`` and check that it is a ``Rotator`` subclass."""
    module_name, _, attr = spec.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Rotator)):
        raise TypeError(f"{spec} is not a Rotator subclass")
    return cls


def build_registry(builtin: Mapping[str, str], *, include_plugins: bool = True) -> RotatorRegistry:
    """A registry with the rotators of ``builtin`` (kind -> ``"module:Class"``) and, unless
    disabled, every installed plugin. A class whose kind is not the one it is listed under,
    or two classes for one kind, raise :class:`DuplicateRotatorError`."""
    registry = RotatorRegistry()
    for kind, spec in builtin.items():
        cls = load_class(spec)
        if cls.kind != kind:
            raise DuplicateRotatorError(f"{spec} declares kind '{cls.kind}', listed as '{kind}'")
        registry.register(cls)
    if include_plugins:
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(entry_point.load())
    return registry
