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
from rotation.rotator import Rotator

ENTRY_POINT_GROUP = "keyvault_rotation.rotators"


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
                tag=T.ROTATOR,
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
