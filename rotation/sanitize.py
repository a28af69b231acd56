"""Keep secret values out of error messages, as Vault's database middleware does."""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "[REDACTED]"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty value of ``secrets`` replaced by ``[REDACTED]``.

    Longer values are replaced first so that a secret containing another is fully hidden.
    """
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def sanitize_error(error: BaseException, secrets: Iterable[str | None]) -> str:
    """A one-line description of ``error`` (type and message) with ``secrets`` redacted."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {redact(message, secrets)}"
