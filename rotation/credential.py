"""The credential value type shared by the engine and rotators."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rotation.errors import ConfigurationError

#: Key Vault refuses secret values larger than 25 KiB.
MAX_VALUE_BYTES = 25 * 1024
#: Credentials are flat objects; a little room for structured extra fields.
MAX_JSON_DEPTH = 32
#: Longer than any database, broker or API user name (PostgreSQL 63, MySQL 32, Azure SQL 128).
MAX_USERNAME = 256
#: Longer than any password a target takes (the policy parser allows at most 1,024).
MAX_PASSWORD = 4096

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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

        Raises :class:`ConfigurationError` (naming the secret, never showing the value) when the
        value is not what ``json_format`` says or is hostile, and nothing else whatever the
        value is: larger than Key Vault's :data:`MAX_VALUE_BYTES`; JSON nested deeper than
        :data:`MAX_JSON_DEPTH`; any string in it with a lone surrogate (which no driver can
        encode); a ``username`` longer than :data:`MAX_USERNAME` or with a control character;
        a password longer than :data:`MAX_PASSWORD` or with a control character (NUL
        included: C drivers would cut the password there).
        """
        if not isinstance(value, str):
            raise ConfigurationError("value is not text", secret=secret)
        if len(value) > MAX_VALUE_BYTES or _utf8_size(value) > MAX_VALUE_BYTES:
            raise ConfigurationError(
                f"value is larger than Key Vault's {MAX_VALUE_BYTES} bytes", secret=secret
            )
        if not json_format:
            _check_text(value, "the value", MAX_PASSWORD, secret)
            return cls(password=value)
        try:
            body = json.loads(value)
        except (ValueError, RecursionError):
            raise ConfigurationError(
                "value is not JSON although its content type is application/json "
                f"(or is nested deeper than {MAX_JSON_DEPTH} levels)",
                secret=secret,
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("password"), str):
            raise ConfigurationError("JSON value needs a string 'password' field", secret=secret)
        _check_structure(body, secret)
        username = body.pop("username", None)
        if username is not None and not isinstance(username, str):
            raise ConfigurationError("JSON field 'username' must be a string", secret=secret)
        if username is not None:
            _check_text(username, "JSON field 'username'", MAX_USERNAME, secret)
        password = body.pop("password")
        _check_text(password, "JSON field 'password'", MAX_PASSWORD, secret)
        return cls(password=password, username=username, extra=body)


def _utf8_size(value: str) -> int:
    """UTF-8 size of ``value`` (a lone surrogate counts as the 3 bytes it would take)."""
    return len(value.encode("utf-8", "surrogatepass"))


def _has_lone_surrogate(text: str) -> bool:
    # Python strings hold code points; any surrogate code point in one is unpaired.
    return _SURROGATE.search(text) is not None


def _check_text(text: str, what: str, limit: int, secret: str | None) -> None:
    """Refuse an oversized ``text`` or one with control characters or lone surrogates."""
    if len(text) > limit:
        raise ConfigurationError(f"{what} is longer than {limit} characters", secret=secret)
    if _CONTROL.search(text):
        raise ConfigurationError(
            f"{what} contains a control character (NUL, newline, ...)", secret=secret
        )
    if _has_lone_surrogate(text):
        raise ConfigurationError(f"{what} is not valid Unicode (lone surrogate)", secret=secret)


def _check_structure(body: Any, secret: str | None) -> None:
    """Walk the parsed JSON without recursion: refuse nesting deeper than MAX_JSON_DEPTH and
    any key or string with a lone surrogate."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ConfigurationError(
                f"JSON value is nested deeper than {MAX_JSON_DEPTH} levels", secret=secret
            )
        if isinstance(item, dict):
            for key, child in item.items():
                if _has_lone_surrogate(key):
                    raise ConfigurationError(
                        "JSON value has a key that is not valid Unicode", secret=secret
                    )
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and _has_lone_surrogate(item):
            raise ConfigurationError(
                "JSON value has a string that is not valid Unicode (lone surrogate)",
                secret=secret,
            )


def connection_string_fields(text: str) -> list[tuple[str, str]]:
    """The ``name=value`` fields of a ``;``-separated connection string, in order: names
    stripped and lower-cased, values as written up to the next ``;`` (parts without ``=`` are
    left out). No check that ``text`` is a connection string at all."""
    fields: list[tuple[str, str]] = []
    for part in text.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.append((name.strip().lower(), value))
    return fields
