"""Edits of an OpenSSH ``authorized_keys`` file's text, in memory. No I/O here.

Lines and fields are split as sshd(8) splits them: lines at ``\\n``, fields at spaces and tabs.

Every line this module does not add or remove comes back byte for byte: other keys, their
options (``from="...",command="..." ssh-ed25519 ...``), comments, blank lines and the line
endings. A key is identified by its blob (the base64 part decoded), never by its comment, so
a key is found whatever options or comment its line carries.
"""

from __future__ import annotations

import base64
import binascii
import re

#: Key types an authorized_keys line may start with (after its options), as sshd(8) lists.
_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-sha2-")


def _skip_options(line: str) -> str:
    """``line`` without its leading options field (up to the first unquoted whitespace)."""
    quoted = False
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\" and quoted:
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char in " \t" and not quoted:
            return line[index:].lstrip(" \t")
        index += 1
    return ""


def lines(text: str) -> list[str]:
    """The lines of ``text`` as sshd reads them, line endings kept: split at ``\\n`` only
    (``str.splitlines`` also splits at form feeds and Unicode separators, which sshd leaves
    inside a line, in a comment for one)."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


def key_blob(line: str) -> bytes | None:
    """The public key blob a line authorizes, or ``None`` (blank line, comment, garbage)."""
    text = line.strip(" \t\r\n")
    if not text or text.startswith("#"):
        return None
    if not text.startswith(_KEY_TYPE_PREFIXES):
        text = _skip_options(text)
    words = [word for word in re.split(r"[ \t]+", text) if word]
    if len(words) < 2 or not words[0].startswith(_KEY_TYPE_PREFIXES):
        return None
    try:
        return base64.b64decode(words[1], validate=True)
    except (binascii.Error, ValueError):
        return None


def has_key(text: str, blob: bytes) -> bool:
    """Whether some line of ``text`` authorizes the key ``blob``."""
    return any(key_blob(line) == blob for line in lines(text))


def with_key(text: str, blob: bytes, line: str) -> str:
    """``text`` with ``line`` (authorizing ``blob``) appended, unless ``blob`` is present."""
    if has_key(text, blob):
        return text
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    return text + line + newline


def without_key(text: str, blob: bytes) -> str:
    """``text`` without the lines that authorize ``blob`` (unchanged if there are none)."""
    kept = [line for line in lines(text) if key_blob(line) != blob]
    return "".join(kept)
