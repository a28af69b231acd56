"""The credential value type shared by the engine and rotators."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rotation.errors import ConfigurationError


@dataclass(frozen=True)
class Credential:
    """A login for a target: a user name (absent for bare API keys / shared secrets) and a secret.

    ``extra`` holds every other field of the stored JSON (for example ``key_id`` of an API key)
    and is carried over unchanged unless a rotator replaces it. ``repr()`` never shows the
    password, so a credential is safe to log by accident.
    """

    password: str = field(repr=False)
    username: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def with_password(self, password: str) -> Credential:
        """Return a copy with another password."""
        return replace(self, password=password)

    def to_value(self, *, json_format: bool) -> str:
        """Serialize for Key Vault: JSON when ``json_format``, else the bare password."""
        if not json_format:
            return self.password
        body: dict[str, Any] = dict(self.extra)
        if self.username is not None:
            body["username"] = self.username
        body["password"] = self.password
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_value(cls, value: str, *, json_format: bool, secret: str | None = None) -> Credential:
        """Parse a Key Vault value. JSON values need a string ``password`` field.

        Raises :class:`ConfigurationError` (naming the secret, never the value) when the value
        is not what ``json_format`` says.
        """
        if not json_format:
            return cls(password=value)
        try:
            body = json.loads(value)
        except ValueError:
            raise ConfigurationError(
                "value is not JSON although its content type is application/json", secret=secret
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("password"), str):
            raise ConfigurationError("JSON value needs a string 'password' field", secret=secret)
        username = body.pop("username", None)
        if username is not None and not isinstance(username, str):
            raise ConfigurationError("JSON field 'username' must be a string", secret=secret)
        password = body.pop("password")
        return cls(password=password, username=username, extra=body)
