"""What a candidate password may contain: checked before any target sees it.

Every target refuses or silently mangles some characters (libpq ends a password at NUL, so
a NUL-bearing candidate would leave a role whose password no stored value matches). The
engine therefore refuses, for every target, control, format, surrogate, private-use and
unassigned characters and every separator but the plain space, and each rotator adds what
its own target cannot store (:attr:`rotation.rotator.Rotator.unsafe_password_characters`)
and its longest password (:attr:`~rotation.rotator.Rotator.max_password_length`, and
:attr:`~rotation.rotator.Rotator.max_password_bytes` where the target counts bytes). The same
rule checks a policy tag at parse time and every candidate before ``apply``, under every
strategy.
"""

from __future__ import annotations

import unicodedata

from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.policy import never_storable
from rotation.rotator import Rotator


def describe(char: str) -> str:
    """A printable description of ``char`` for error messages (``U+0000``)."""
    return f"U+{ord(char):04X}"


def unstorable(text: str, rotator_class: type[Rotator]) -> list[str]:
    """The distinct characters of ``text`` that ``rotator_class``'s target cannot store."""
    unsafe = rotator_class.unsafe_password_characters
    return sorted({c for c in text if never_storable(c) or c in unsafe})


def check_candidate(candidate: Credential, rotator_class: type[Rotator], *, secret: str) -> None:
    """Raise :class:`ConfigurationError` (tag ``rotation-password-policy``) if the target
    could not store ``candidate`` exactly: a bad character or a too long password, or a
    control character in the user name (spaces and quotes are fine there: names are always
    quoted). Never echoes the password. An empty password is an intent for a target that
    mints the secret itself (API keys) and passes.
    """
    password = candidate.password
    bad = unstorable(password, rotator_class)
    if bad:
        raise ConfigurationError(
            f"the new password would contain {', '.join(describe(c) for c in bad)}, which "
            f"the {rotator_class.kind} target cannot store; nothing was changed",
            secret=secret,
            tag=T.PASSWORD_POLICY,
        )
    if len(password) > rotator_class.max_password_length:
        raise ConfigurationError(
            f"the new password has {len(password)} characters; the {rotator_class.kind} "
            f"target stores at most {rotator_class.max_password_length}; nothing was changed",
            secret=secret,
            tag=T.PASSWORD_POLICY,
        )
    max_bytes = rotator_class.max_password_bytes
    if max_bytes is not None and len(password.encode("utf-8")) > max_bytes:
        raise ConfigurationError(
            f"the new password has more than the {max_bytes} bytes (UTF-8) the "
            f"{rotator_class.kind} target stores; nothing was changed",
            secret=secret,
            tag=T.PASSWORD_POLICY,
        )
    username = candidate.username or ""
    if any(unicodedata.category(c)[0] == "C" for c in username):
        raise ConfigurationError(
            "the user name contains control characters; nothing was changed", secret=secret
        )
