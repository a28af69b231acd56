"""Whole numbers from hostile text (tags, options, query parameters).

Python's ``int`` accepts more than an operator means by "a number": signs, underscores,
surrounding whitespace and digits of every script (``int("٣")`` is 3). Every tag or
parameter that holds a count goes through :func:`whole_number` instead.
"""

from __future__ import annotations

from rotation.errors import ConfigurationError


def whole_number(text: str, low: int, high: int) -> int | None:
    """``text`` (surrounding spaces ignored) as an int from ``low`` to ``high`` inclusive.

    None for anything else: empty text, signs, underscores, non-ASCII digits, more digits
    than ``high`` has, or a value out of range. Never raises.
    """
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        return None
    value = int(text)
    return value if low <= value <= high else None


def whole_number_tag(text: str, low: int, high: int, *, secret: str | None, tag: str) -> int:
    """:func:`whole_number` for a tag's value; ConfigurationError naming ``tag`` otherwise.

    The message gives the accepted range and does not echo the value.
    """
    value = whole_number(text, low, high)
    if value is None:
        raise ConfigurationError(
            f"must be a whole number from {low} to {high}", secret=secret, tag=tag
        )
    return value
