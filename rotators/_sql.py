"""Helpers shared by the SQL rotators: target parsing and user-name checks. No I/O here."""

from __future__ import annotations

import unicodedata

from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext, Strategy, alternate_username
from rotation.targets import Endpoint as Endpoint
from rotation.targets import parse_endpoint as parse_endpoint

TARGET_TAG = T.TARGET
ADMIN_TAG = T.ADMIN_SECRET


def require_admin_for_alternating(context: RotatorContext, clone_kind: str) -> None:
    """Raise ``ConfigurationError`` if the alternating strategy has no admin credential
    (creating and resetting the clone ``clone_kind`` needs one)."""
    if context.strategy is Strategy.ALTERNATING and context.admin is None:
        raise ConfigurationError(
            f"the alternating strategy needs an admin credential to create the clone {clone_kind}",
            secret=context.secret_name,
            tag=ADMIN_TAG,
        )


def check_username(username: str | None, *, max_bytes: int, context: RotatorContext) -> str:
    """The user name, refused with ``ConfigurationError`` when the target cannot hold it
    (control characters, lone surrogates, longer than ``max_bytes`` in UTF-8).

    Names are never interpolated into SQL (they are quoted as identifiers or bound as
    literals); this only refuses what the server would silently truncate or cannot store.
    Under the alternating strategy the clone's name must fit too.
    """
    if not username:
        raise ConfigurationError(
            "the credential has no 'username' field", secret=context.secret_name
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in username):
        raise ConfigurationError(
            "the user name contains a control character (NUL, newline, ...) or a lone "
            "surrogate, which the target cannot store as given",
            secret=context.secret_name,
        )
    longest = username
    if context.strategy is Strategy.ALTERNATING:
        longest = max(username, alternate_username(username), key=len)
    size = len(longest.encode())
    if size > max_bytes:
        shown = longest if len(longest) <= 80 else longest[:40] + "..."
        raise ConfigurationError(
            f"user name '{shown}' ({size} bytes) is longer than the target's limit of "
            f"{max_bytes} bytes",
            secret=context.secret_name,
        )
    return username
