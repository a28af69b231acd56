"""Password policy: how long a generated password is and which characters it uses.

A policy comes from the rotator's default, overridden field by field by the secret's
``rotation-password-policy`` tag, written as ``key=value`` pairs separated by ``;``::

    length=40;lower=1;upper=1;digits=1;symbols=2;symbol-set=-_.!#%;exclude=lIO0

``lower``, ``upper``, ``digits`` and ``symbols`` are the minimum count of each character class;
``0`` leaves the class out entirely. ``symbol-set`` replaces the default symbols, ``exclude``
removes characters from every class. Values cannot contain ``;``, and neither may contain
control characters or separators other than the plain space (Unicode categories C and Z:
NUL, for one, ends a password in libpq).
"""

from __future__ import annotations

import secrets
import string
import unicodedata
from dataclasses import dataclass, fields, replace

from rotation import tags as T
from rotation.errors import ConfigurationError

POLICY_TAG = T.PASSWORD_POLICY
MIN_LENGTH = 16
MAX_LENGTH = 1024


def never_storable(char: str) -> bool:
    """Whether ``char`` is refused in every password: control, format, surrogate,
    private-use and unassigned characters (Unicode categories C*) and every separator
    (Z*) but the plain space, which every built-in target stores and verifies."""
    category = unicodedata.category(char)[0]
    return category == "C" or (category == "Z" and char != " ")


@dataclass(frozen=True)
class PasswordPolicy:
    """Length and character-class requirements for generated passwords."""

    length: int = 32
    lower: int = 1
    upper: int = 1
    digits: int = 1
    symbols: int = 0
    symbol_set: str = "-_.~!#%*+="
    exclude: str = ""

    def alphabets(self) -> list[tuple[str, int]]:
        """The (characters, minimum count) of every enabled class, exclusions applied."""
        classes = [
            (string.ascii_lowercase, self.lower),
            (string.ascii_uppercase, self.upper),
            (string.digits, self.digits),
            (self.symbol_set, self.symbols),
        ]
        return [
            ("".join(c for c in chars if c not in self.exclude), minimum)
            for chars, minimum in classes
            if minimum > 0
        ]

    def validate(self, *, secret: str | None = None) -> None:
        """Raise :class:`ConfigurationError` if no password can satisfy this policy."""
        for attr in ("symbol_set", "exclude"):
            bad = sorted({c for c in getattr(self, attr) if never_storable(c)})
            if bad:
                raise ConfigurationError(
                    f"'{attr.replace('_', '-')}' contains control characters or separators "
                    f"({', '.join(f'U+{ord(c):04X}' for c in bad)}), which no target stores "
                    "reliably",
                    secret=secret,
                    tag=POLICY_TAG,
                )
        if not MIN_LENGTH <= self.length <= MAX_LENGTH:
            raise ConfigurationError(
                f"length must be between {MIN_LENGTH} and {MAX_LENGTH}, got {self.length}",
                secret=secret,
                tag=POLICY_TAG,
            )
        alphabets = self.alphabets()
        if not alphabets:
            raise ConfigurationError(
                "every character class is disabled", secret=secret, tag=POLICY_TAG
            )
        if any(not chars for chars, _ in alphabets):
            raise ConfigurationError(
                "'exclude' removes every character of an enabled class",
                secret=secret,
                tag=POLICY_TAG,
            )
        if sum(minimum for _, minimum in alphabets) > self.length:
            raise ConfigurationError(
                "the class minimums add up to more than the length", secret=secret, tag=POLICY_TAG
            )

    def generate(self) -> str:
        """A new random password that satisfies this policy (cryptographic randomness)."""
        self.validate()
        alphabets = self.alphabets()
        chars = [secrets.choice(pool) for pool, minimum in alphabets for _ in range(minimum)]
        everything = "".join(pool for pool, _ in alphabets)
        chars += [secrets.choice(everything) for _ in range(self.length - len(chars))]
        rng = secrets.SystemRandom()
        rng.shuffle(chars)
        return "".join(chars)

    def satisfied_by(self, password: str) -> bool:
        """Whether ``password`` has this policy's length, classes and exclusions."""
        if len(password) != self.length:
            return False
        alphabets = self.alphabets()
        allowed = set("".join(pool for pool, _ in alphabets))
        if any(c not in allowed for c in password):
            return False
        return all(sum(c in pool for c in password) >= minimum for pool, minimum in alphabets)

    def overridden_by(self, tag_value: str, *, secret: str | None = None) -> PasswordPolicy:
        """This policy with the fields given in a ``rotation-password-policy`` tag value."""
        names = {f.name.replace("_", "-"): f.name for f in fields(self)}
        changes: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in tag_value.split(";"))):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise ConfigurationError(
                    f"unknown policy setting '{key}' (known: {', '.join(sorted(names))})",
                    secret=secret,
                    tag=POLICY_TAG,
                )
            attr = names[key]
            if attr in ("symbol_set", "exclude"):
                changes[attr] = value
                continue
            try:
                number = int(value)
            except ValueError:
                raise ConfigurationError(
                    f"'{key}' must be a whole number, got '{value}'", secret=secret, tag=POLICY_TAG
                ) from None
            if number < 0:
                raise ConfigurationError(
                    f"'{key}' cannot be negative", secret=secret, tag=POLICY_TAG
                )
            changes[attr] = number
        policy = replace(self, **changes)  # type: ignore[arg-type]
        policy.validate(secret=secret)
        return policy
