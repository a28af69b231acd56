"""A registry of plugin classes keyed by their ``kind``, refusing a second class per kind.

:class:`rotation.registry.RotatorRegistry` (rotators) and
:class:`rotation.consumer_checks.registry.CheckRegistry` (consumer checks) are two of these.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

C = TypeVar("C", bound=type)


class KindRegistry(Generic[C]):
    """Maps kinds to classes (subclasses of :attr:`base`); refuses a second class for a kind."""

    #: The class every registered class must subclass.
    base: ClassVar[type]
    #: Raised for a second class claiming a kind (a ``ValueError`` subclass).
    duplicate_error: ClassVar[type[ValueError]]
    #: What the kinds are, for messages ("rotator", "consumer check").
    label: ClassVar[str]

    def __init__(self) -> None:
        self._classes: dict[str, C] = {}

    def register(self, cls: C) -> C:
        """Add ``cls`` under ``cls.kind``. Usable as a class decorator."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"{cls!r} is not a {self.base.__name__} subclass")
        kind = getattr(cls, "kind", None)
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"{cls.__qualname__} has no 'kind'")
        existing = self._classes.get(kind)
        if existing is not None and existing is not cls:
            raise self.duplicate_error(
                f"{self.label} kind '{kind}' is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        self._classes[kind] = cls
        return cls

    def find(self, kind: str) -> C | None:
        """The class for ``kind``, or None."""
        return self._classes.get(kind)

    def kinds(self) -> list[str]:
        """Every registered kind, sorted."""
        return sorted(self._classes)
