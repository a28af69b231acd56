"""Password policy: how long a generated password is and which characters it uses.

A policy comes from the rotator's default, overridden field by field by the secret's
``rotation-password-policy`` tag, written as ``key=value`` pairs separated by ``;``::

    length=40;lower=1;upper=1;digits=1;symbols=2;symbol-set=-_.!#%;exclude=lIO0

``lower``, ``upper``, ``digits`` and ``symbols`` are the minimum count of each character class;
``0`` leaves the class out entirely. ``symbol-set`` replaces the default symbols, ``exclude``
removes characters from every class. Values cannot contain ``;``, and neither may contain
control characters or separators other than the plain space (Unicode categories C and Z:
NUL, for one, ends a password in libpq); ``symbol-set`` may not contain characters that
Unicode normalization changes (see :func:`never_storable`).
"""

from __future__ import annotations

import functools
import secrets
import string
import sys
import unicodedata
from dataclasses import dataclass, fields, replace

from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.names import shown
from rotation.numbers import whole_number

POLICY_TAG = T.PASSWORD_POLICY
MIN_LENGTH = 16
MAX_LENGTH = 1024


def never_storable(char: str) -> bool:
    """Whether ``char`` is refused in every password.

    Refused: control, format, surrogate, private-use and unassigned characters (Unicode
    categories C*), every separator (Z*) but the plain space, which every built-in target
    stores and verifies, and every character that Unicode normalization would change, drop or
    compose with its neighbour (see :func:`normalization_stable`)."""
    return _unsafe_category(char) or not normalization_stable(char)


def normalization_stable(char: str) -> bool:
    """Whether every password made of such characters is its own SASLprep (RFC 4013) and
    NFKC form, so that clients that prepare passwords and clients that send the raw UTF-8
    agree on the bytes (PostgreSQL's SCRAM and ldap3 prepare; libldap and most drivers do not).

    False for combining marks (they compose with the character before them), compatibility
    characters (``²``, ``\\uff21``, ``ﬁ``), the characters SASLprep maps to nothing or prohibits,
    right-to-left letters (SASLprep's bidi rule refuses them beside Latin letters), and the
    second half of every canonical composition (Hangul vowel and final jamo, for one).
    ASCII is always stable.
    """
    if char.isascii():
        return True
    return (
        unicodedata.category(char)[0] != "M"
        and unicodedata.normalize("NFKC", char) == char
        and char not in _SASLPREP_REFUSED
        and unicodedata.bidirectional(char) not in ("R", "AL")
        and char not in _composition_seconds()
    )


#: RFC 3454 tables B.1 (mapped to nothing) and C.6-C.8 that are not already of category C or
#: M (those are refused by category): the Mongolian todo soft hyphen, the object and
#: replacement characters and the ideographic description characters.
_SASLPREP_REFUSED = frozenset("\u1806\ufffc\ufffd" + "".join(map(chr, range(0x2FF0, 0x2FFC))))


@functools.cache
def _composition_seconds() -> frozenset[str]:
    """Every character that follows the first in some canonical decomposition: one that NFC
    and NFKC may merge with the character before it."""
    # Hangul syllables compose algorithmically (no decomposition entry): vowel and final jamo.
    seconds = set(map(chr, [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]))
    for code in range(0x80, sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            seconds.update(chr(int(part, 16)) for part in decomposition.split()[1:])
    return frozenset(seconds)


def _unsafe_category(char: str) -> bool:
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
        for attr, refused in (("symbol_set", never_storable), ("exclude", _unsafe_category)):
            bad = sorted({c for c in getattr(self, attr) if refused(c)})
            if bad:
                raise ConfigurationError(
                    f"'{attr.replace('_', '-')}' contains characters that no target stores "
                    f"reliably ({', '.join(f'U+{ord(c):04X}' for c in bad)}): control "
                    "characters or separators, or characters that Unicode normalization "
                    "(SASLprep, NFKC) changes, drops or composes",
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
            # Ranges are validate()'s to check; this bound only keeps the digits sane.
            number = whole_number(value, 0, 999_999)
            if number is None and value.strip().startswith("-"):
                raise ConfigurationError(
                    f"'{key}' cannot be negative", secret=secret, tag=POLICY_TAG
                )
            if number is None:
                raise ConfigurationError(
                    f"'{key}' must be a whole number, got '{shown(value)}'",
                    secret=secret,
                    tag=POLICY_TAG,
                )
            changes[attr] = number
        policy = replace(self, **changes)  # type: ignore[arg-type]
        policy.validate(secret=secret)
        return policy
