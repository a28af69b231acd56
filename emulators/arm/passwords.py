"""Write-only passwords: the emulator keeps a salted scrypt hash, never the value."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class PasswordHash:
    """A salted scrypt hash of one password. ``repr()`` shows neither salt nor digest."""

    salt: bytes = field(repr=False)
    digest: bytes = field(repr=False)

    @classmethod
    def of(cls, password: str) -> PasswordHash:
        """Hash ``password`` with a fresh random salt."""
        salt = os.urandom(16)
        return cls(salt, _scrypt(password, salt))

    def matches(self, password: str) -> bool:
        """Whether ``password`` is the hashed one (constant-time comparison)."""
        return hmac.compare_digest(self.digest, _scrypt(password, self.salt))


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)


def sql_password_problem(password: str, login: str) -> str | None:
    """Why Azure SQL would refuse ``password`` for admin ``login``, or ``None`` if it accepts it.

    Azure SQL's rules: 8 to 128 characters, characters from at least three of upper case,
    lower case, digits and symbols, and not containing the login name. The answer never
    quotes the password.
    """
    if not 8 <= len(password) <= 128:
        return "the password must be 8 to 128 characters long"
    classes = [
        re.search(r"[A-Z]", password),
        re.search(r"[a-z]", password),
        re.search(r"[0-9]", password),
        re.search(r"[^A-Za-z0-9]", password),
    ]
    if sum(c is not None for c in classes) < 3:
        return (
            "the password must contain characters from three of: upper case, lower case, "
            "digits, symbols"
        )
    if login and login.lower() in password.lower():
        return "the password must not contain the login name"
    return None
