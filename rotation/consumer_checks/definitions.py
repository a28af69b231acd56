"""Consumer definitions: what each name in a secret's ``rotation-consumers`` tag means.

Definitions live in app settings, never in tags: ``ROTATION_CONSUMERS`` holds a JSON object,
or ``ROTATION_CONSUMERS_FILE`` names a JSON file with the same content::

    {
      "orders-api": {"kind": "http-probe", "url": "https://orders.example.com/healthz",
                     "json_path": "secrets.db.version"},
      "orders-web": {"kind": "app-service",
                     "resource_id": "/subscriptions/<sub>/resourceGroups/<rg>/providers/
                                     Microsoft.Web/sites/orders-web",   (one string)
                     "setting": "DB_SECRET", "restart": true},
      "orders-db-sessions": {"kind": "postgres-sessions"}
    }

They are parsed and validated once, when the app starts (:func:`load_definitions`); a
malformed definition is a :class:`~rotation.errors.ConfigurationError` naming the app setting
and the consumer. Definitions hold no secrets (no passwords, keys or tokens): checks use the
app's managed identity or the rotator's admin credential from the vault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rotation.consumers import NAME_PATTERN
from rotation.errors import ConfigurationError
from rotation.settings import CONSUMERS, CONSUMERS_FILE


@dataclass(frozen=True)
class ConsumerDefinition:
    """One consumer: its ``name``, check ``kind`` and the kind's options (JSON values).

    ``source`` names where it was defined (an app setting or a file), for error messages.
    """

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = CONSUMERS

    def error(self, message: str, option: str | None = None) -> ConfigurationError:
        """A ConfigurationError that names the source, the consumer and the option."""
        where = f"option '{option}' of " if option else ""
        return ConfigurationError(f"{self.source}: {where}consumer '{self.name}': {message}")

    def text(
        self, option: str, *, required: bool = False, default: str | None = None
    ) -> str | None:
        """A string option (stripped); ``required`` ones must be non-empty."""
        value = self.options.get(option)
        if value is None:
            if required:
                raise self.error("is required", option)
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error("must be a non-empty string", option)
        return value.strip()

    def flag(self, option: str, *, default: bool = False) -> bool:
        """A boolean option (JSON ``true``/``false``)."""
        value = self.options.get(option, default)
        if not isinstance(value, bool):
            raise self.error("must be true or false", option)
        return value

    def number(self, option: str, *, default: float, minimum: float, maximum: float) -> float:
        """A number option within ``[minimum, maximum]``."""
        value = self.options.get(option, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error("must be a number", option)
        if not minimum <= value <= maximum:
            raise self.error(f"must be between {minimum:g} and {maximum:g}", option)
        return float(value)

    def reject_unknown(self, known: frozenset[str]) -> None:
        """Refuse options the kind does not know (typos must not pass silently)."""
        unknown = sorted(set(self.options) - known)
        if unknown:
            raise self.error(
                f"unknown option(s) {', '.join(unknown)} for kind '{self.kind}' "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )


def parse_definitions(text: str, *, source: str = CONSUMERS) -> dict[str, ConsumerDefinition]:
    """Parse a JSON object of ``name -> {"kind": ..., options...}``.

    Checks the shape only (names, kinds present); the check kinds validate their options
    (:func:`rotation.consumer_checks.loader.build_checks`). Raises ConfigurationError.
    """
    try:
        raw = json.loads(text)
    except ValueError as error:
        raise ConfigurationError(
            f"{source} is not valid JSON (line {getattr(error, 'lineno', '?')})"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{source} must be a JSON object of consumer definitions")
    definitions: dict[str, ConsumerDefinition] = {}
    for name, body in raw.items():
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigurationError(
                f"{source}: consumer name '{name[:80]}' must be 1-63 letters, digits, "
                "'-', '_' or '.', starting with a letter or digit"
            )
        if not isinstance(body, dict):
            raise ConfigurationError(f"{source}: consumer '{name}' must be a JSON object")
        kind = body.get("kind")
        if not isinstance(kind, str) or not kind.strip():
            raise ConfigurationError(f"{source}: consumer '{name}' needs a 'kind'")
        options = {k: v for k, v in body.items() if k != "kind"}
        definitions[name] = ConsumerDefinition(name, kind.strip(), options, source)
    return definitions


def load_definitions(
    consumers_json: str | None, consumers_file: str | None
) -> dict[str, ConsumerDefinition]:
    """The definitions from ``ROTATION_CONSUMERS`` or ``ROTATION_CONSUMERS_FILE`` (not both).

    Neither set: no consumers are defined (a secret naming one is then a configuration error).
    """
    if consumers_json and consumers_file:
        raise ConfigurationError(f"set either {CONSUMERS} or {CONSUMERS_FILE}, not both")
    if consumers_json:
        return parse_definitions(consumers_json, source=CONSUMERS)
    if consumers_file:
        path = Path(consumers_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(
                f"{CONSUMERS_FILE}: cannot read '{path}': {error.strerror or type(error).__name__}"
            ) from None
        return parse_definitions(text, source=f"{CONSUMERS_FILE} ({path.name})")
    return {}
