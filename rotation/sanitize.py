"""Keep secret values out of error messages, as Vault's database middleware does."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from rotation.credential import connection_string_fields

REDACTED = "[REDACTED]"
#: Longest message kept from a driver error (after redaction).
MAX_MESSAGE_CHARS = 500


def _forms(value: str) -> set[str]:
    """``value`` as it may appear in text: as is, URL-encoded, JSON-escaped, as Python shows
    it and its UTF-8 and UTF-16LE bytes, and base64-encoded on its own."""
    # surrogatepass: a lone surrogate (hostile input) must not make redaction itself fail.
    forms = {
        value,
        quote(value, safe="", errors="surrogatepass"),
        quote_plus(value, safe="", errors="surrogatepass"),
    }
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(repr(value)[1:-1])
    encoded = value.encode("utf-8", "surrogatepass")
    # As a driver shows the bytes it sent: b'p\xc3\xa9', AD's UTF-16LE unicodePwd, base64.
    forms.add(repr(encoded)[2:-1])
    forms.add(repr(value.encode("utf-16-le", "surrogatepass"))[2:-1])
    forms.add(base64.b64encode(encoded).decode("ascii").rstrip("="))
    forms.add(base64.urlsafe_b64encode(encoded).decode("ascii").rstrip("="))
    for part in _connection_string_secrets(value):
        forms |= _forms(part)
    return {f for f in forms if f}


#: Shorter connection-string fields are not redacted on their own.
MIN_FIELD_CHARS = 8
#: Connection-string fields that hold a secret of their own (Azure Storage and Cosmos DB
#: ``AccountKey``, Service Bus ``SharedAccessKey``, ADO.NET ``Password``/``Pwd``).
_SECRET_FIELDS = ("accountkey", "sharedaccesskey", "password", "pwd")


def _connection_string_secrets(value: str) -> list[str]:
    """The secret fields' values of ``value`` when it is a ``name=value;...`` connection
    string (a driver may quote such a field alone)."""
    if ";" not in value:
        return []
    found = [
        field.strip()
        for name, field in connection_string_fields(value)
        if name in _SECRET_FIELDS and field.strip() != value
    ]
    # Short fields are left to the whole value: hiding every "ab" would garble messages.
    return [f for f in found if len(f) >= MIN_FIELD_CHARS]


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty value of ``secrets`` replaced by ``[REDACTED]``.

    Each value is matched exactly as it is, URL-encoded, JSON-escaped, as Python's repr
    shows it and its bytes (UTF-8, UTF-16LE), and base64-encoded on its own (padding aside; not
    inside a larger encoded text). Longer
    forms are replaced first so that a secret containing another is fully hidden.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= _forms(secret)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    return text


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` on one line (whitespace runs become one space), at most ``limit`` chars."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def sanitize_error(error: BaseException, secrets: Iterable[str | None]) -> str:
    """A one-line description of ``error`` (type and message) with ``secrets`` redacted.

    Redaction runs on the message exactly as the driver wrote it, before whitespace is
    folded, so a secret containing spaces or newlines is still found.
    """
    return f"{type(error).__name__}: {one_line(redact(str(error), secrets))}"
