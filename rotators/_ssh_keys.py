"""SSH key material for the ``ssh`` rotator: private keys as Key Vault stores them, their
public halves, and host-key pins. No I/O here.

A managed secret's ``password`` is an OpenSSH private key (``ssh-keygen``'s format) written
on one line: the engine refuses control characters, newlines included, in every stored
value, so the PEM armour's line breaks become single spaces and the base64 body is one
unbroken run::

    -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZX... -----END OPENSSH PRIVATE KEY-----

:func:`private_key_pem` turns it back into the file ``ssh -i`` reads (a value whose body is
wrapped over several space-separated runs, as ``tr '\\n' ' ' < id_ed25519`` writes it, is
read the same). Passphrase-protected keys are refused: nobody could type the passphrase.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import struct
import textwrap
from dataclasses import dataclass
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

HEADER = "-----BEGIN OPENSSH PRIVATE KEY-----"
FOOTER = "-----END OPENSSH PRIVATE KEY-----"
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
#: Host key types a pin may name, and the host key algorithms that present each one.
HOST_KEY_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


class BadKey(ValueError):
    """A value that is not a usable OpenSSH private key or public key (message is safe)."""


def private_key_pem(value: str) -> str:
    """The OpenSSH PEM file for a stored one-line ``value``; ``BadKey`` if it is not one.

    The message never repeats the value.
    """
    text = value.strip()
    if not (text.startswith(HEADER) and text.endswith(FOOTER)) or len(text) <= len(HEADER):
        raise BadKey(f"the value is not an OpenSSH private key ('{HEADER} ...')")
    body = "".join(text[len(HEADER) : -len(FOOTER)].split())
    if not body or not _BASE64.match(body):
        raise BadKey("the OpenSSH private key's body is not base64")
    return "\n".join([HEADER, *textwrap.wrap(body, 70), FOOTER]) + "\n"


def one_line(pem: str) -> str:
    """The stored form of an OpenSSH PEM private key (see the module docstring)."""
    body = "".join(pem.strip()[len(HEADER) : -len(FOOTER)].split())
    return f"{HEADER} {body} {FOOTER}"


def generate_private_key() -> str:
    """A fresh Ed25519 private key in the stored one-line form (pure: no I/O)."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return one_line(pem.decode("ascii"))


def load_private_key(value: str) -> Any:
    """The paramiko key (``paramiko.PKey``) of a stored private key, else ``BadKey``."""
    pem = private_key_pem(value)
    try:
        loaded = serialization.load_ssh_private_key(pem.encode("ascii"), password=None)
    except TypeError:
        raise BadKey("the OpenSSH private key is passphrase-protected") from None
    except (ValueError, binascii.Error, struct.error, IndexError):
        raise BadKey("the OpenSSH private key cannot be read") from None
    # paramiko's own OpenSSH parser fails on some ECDSA keys ("Invalid key curve
    # identifier", seen with paramiko 5.1): ECDSA and RSA keys are built from the loaded key.
    try:
        if isinstance(loaded, ed25519.Ed25519PrivateKey):
            return paramiko.Ed25519Key(file_obj=io.StringIO(pem))
        if isinstance(loaded, ec.EllipticCurvePrivateKey):
            return paramiko.ECDSAKey(vals=(loaded, loaded.public_key()))
        if isinstance(loaded, rsa.RSAPrivateKey):
            return paramiko.RSAKey(key=loaded)
    except (paramiko.SSHException, ValueError):
        raise BadKey("the OpenSSH private key cannot be read") from None
    raise BadKey("the private key's type is not Ed25519, ECDSA or RSA")


def public_key(value: str) -> tuple[str, bytes]:
    """``(type, blob)`` of the public half of a stored private key, else ``BadKey``."""
    key = load_private_key(value)
    blob: bytes = key.asbytes()
    return _blob_type(blob), blob


def public_line(public: tuple[str, bytes], comment: str) -> str:
    """An ``authorized_keys`` line: ``type base64 comment``."""
    return f"{public[0]} {base64.b64encode(public[1]).decode('ascii')} {comment}"


def fingerprint(blob: bytes) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a public key blob."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def decode_public(key_type: str, text: str) -> bytes:
    """The blob of a public key written ``type base64``, else ``BadKey``."""
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadKey("the public key is not base64") from None
    if _blob_type(blob) != key_type:
        raise BadKey(f"the public key's body is not a '{key_type}' key")
    return blob


def _blob_type(blob: bytes) -> str:
    """The key type a public key blob starts with (an SSH string), or ``""``."""
    if len(blob) < 4:
        return ""
    (length,) = struct.unpack(">I", blob[:4])
    return blob[4 : 4 + length].decode("ascii", "replace") if length <= len(blob) - 4 else ""


@dataclass(frozen=True)
class HostKeyPins:
    """The host keys a target may present: full public keys and/or SHA256 fingerprints."""

    keys: frozenset[bytes]
    fingerprints: frozenset[str]
    #: Host key algorithms to offer when every pin is a full key (empty: paramiko's default).
    algorithms: tuple[str, ...]

    def accepts(self, blob: bytes) -> bool:
        """Whether the host key ``blob`` matches a pin."""
        return blob in self.keys or fingerprint(blob) in self.fingerprints


def parse_pins(text: str) -> HostKeyPins:
    """Parse comma-separated pins, each ``type base64 [comment]`` (a ``known_hosts`` or
    ``.pub`` line without host names) or ``SHA256:<base64>`` (``ssh-keygen -l``'s form).

    Raises ``BadKey`` (safe to show) for anything else or an empty list.
    """
    keys: set[bytes] = set()
    fingerprints: set[str] = set()
    algorithms: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.startswith("SHA256:"):
            digest = item.removeprefix("SHA256:")
            if len(digest) != 43 or not _BASE64.match(digest + "="):
                raise BadKey("a SHA256 fingerprint is 43 base64 characters after 'SHA256:'")
            fingerprints.add(item)
            continue
        words = item.split()
        if len(words) < 2 or words[0] not in HOST_KEY_ALGORITHMS:
            raise BadKey(
                "each pin is 'SHA256:<fingerprint>' or '<type> <base64>' with a type of "
                + ", ".join(HOST_KEY_ALGORITHMS)
            )
        keys.add(decode_public(words[0], words[1]))
        algorithms.extend(a for a in HOST_KEY_ALGORITHMS[words[0]] if a not in algorithms)
    if not keys and not fingerprints:
        raise BadKey("no host key pin is given")
    return HostKeyPins(
        frozenset(keys), frozenset(fingerprints), () if fingerprints else tuple(algorithms)
    )
