"""Verified TLS to targets: which certificate authorities a rotator trusts, and how it says so.

Every rotator that talks to a server verifies the server's certificate and host name against
one trust anchor, a PEM file of CA certificates, chosen per secret:

1. the ``rotation-tls-ca`` tag (``options["tls-ca"]``), else
2. the ``ROTATION_TLS_CA_FILE`` app setting, else
3. the system trust store (the file OpenSSL uses by default; ``SSL_CERT_FILE`` moves it).

A tag or setting holds an absolute path to a PEM file readable by the app, or ``system``. A
PEM itself does not fit: Key Vault tag values hold at most 256 characters, and a CA
certificate is longer. The file must hold at least one certificate; anything else is a
:class:`ConfigurationError` naming the tag (or the setting) at configuration time, before
any connection. The file's content is never put into a message.

Whether a rotator uses TLS at all is its own decision (see ``docs/rotators.md``); this module
only says whom to trust, builds client contexts, and recognises verification failures.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rotation.errors import ConfigurationError
from rotation.rotator import RotatorContext
from rotation.targets import is_loopback

CA_OPTION = "tls-ca"
CA_TAG = "rotation-tls-ca"
CA_SETTING = "ROTATION_TLS_CA_FILE"
SYSTEM = "system"
#: A CA bundle larger than this is refused (the system bundle is about 200 KiB).
MAX_CA_FILE_BYTES = 1 << 20
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class TrustAnchor:
    """The CA file a verified TLS connection trusts, and where that choice came from."""

    #: Path of a PEM file of CA certificates (already checked to load).
    cafile: str
    #: For messages: the tag, the app setting, or the system trust store.
    origin: str
    #: Whether a tag or an app setting chose it (``False``: the system trust store).
    configured: bool
    #: Whether the secret's own ``rotation-tls-ca`` tag chose it.
    from_tag: bool = False


def trust_anchor(context: RotatorContext, environ: Mapping[str, str] | None = None) -> TrustAnchor:
    """The trust anchor of ``context``'s secret (tag, then app setting, then system store).

    Raises :class:`ConfigurationError` naming ``rotation-tls-ca`` (or the app setting) when
    the value is not ``system`` or an absolute path to a readable PEM file of certificates.
    No network I/O; reads the file once to check it.
    """
    env = os.environ if environ is None else environ
    tagged = context.options.get(CA_OPTION)
    if tagged is not None:
        return _anchor(tagged, f"tag '{CA_TAG}'", context.secret_name, tag=CA_TAG, from_tag=True)
    setting = env.get(CA_SETTING)
    if setting is not None and setting.strip():
        return _anchor(setting, f"app setting {CA_SETTING}", context.secret_name, tag=None)
    return TrustAnchor(_system_cafile(context.secret_name), "the system trust store", False)


def _anchor(
    value: str, origin: str, secret: str, *, tag: str | None, from_tag: bool = False
) -> TrustAnchor:
    def bad(reason: str) -> ConfigurationError:
        where = "" if tag else f"app setting {CA_SETTING}: "
        return ConfigurationError(f"{where}{reason}", secret=secret, tag=tag)

    text = value.strip()
    if text.lower() == SYSTEM:
        return TrustAnchor(_system_cafile(secret), origin, configured=True, from_tag=from_tag)
    if text.startswith("-----BEGIN"):
        raise bad(
            "must be the path of a PEM file, not the PEM itself (a Key Vault tag holds at "
            "most 256 characters): deploy the CA file with the app and give its path"
        )
    if len(text) > 4096 or any(not c.isprintable() for c in text):
        raise bad("is not a usable file path (too long or has control characters)")
    if not text or not os.path.isabs(text):
        raise bad("must be 'system' or an absolute path to a PEM file of CA certificates")
    _check_ca_file(Path(text), bad)
    return TrustAnchor(text, origin, configured=True, from_tag=from_tag)


def _check_ca_file(path: Path, fail: Callable[[str], ConfigurationError]) -> None:
    """Raise ``fail(reason)`` unless ``path`` is a small readable PEM file of certificates."""
    try:
        if not path.is_file():
            raise fail(f"'{path}' is not a file")
        if path.stat().st_size > MAX_CA_FILE_BYTES:
            raise fail(f"'{path}' is larger than {MAX_CA_FILE_BYTES} bytes")
        data = path.read_bytes()
    except OSError as error:
        raise fail(f"'{path}' cannot be read ({type(error).__name__})") from None
    if _PEM_CERTIFICATE not in data:
        raise fail(f"'{path}' holds no PEM certificate ('{_PEM_CERTIFICATE.decode()}')")
    try:
        loaded = ssl.create_default_context(cadata=data.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError):
        raise fail(f"'{path}' is not a valid PEM bundle of CA certificates") from None
    if not loaded.get_ca_certs():
        raise fail(f"'{path}' holds no CA certificate")


def _system_cafile(secret: str) -> str:
    """The file OpenSSL trusts by default (``SSL_CERT_FILE`` overrides), as a path."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and os.path.isfile(candidate):
            return candidate
    raise ConfigurationError(
        "no system trust store file found for verified TLS; give the CA file's path",
        secret=secret,
        tag=CA_TAG,
    )


def client_context(anchor: TrustAnchor, *, secret: str) -> ssl.SSLContext:
    """A client context that trusts only ``anchor``, checks host names, and needs TLS 1.2+.

    Raises :class:`ConfigurationError` naming ``rotation-tls-ca`` if the CA file became
    unreadable since it was checked (never a raw ``OSError``/``SSLError``).
    """
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=anchor.cafile)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise ConfigurationError(
            f"the CA file from {anchor.origin} cannot be loaded any more ({type(error).__name__})",
            secret=secret,
            tag=CA_TAG,
        ) from None
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


#: Fragments of driver messages (OpenSSL, libpq, Python's ssl) meaning "not verified".
_VERIFY_FAILURES = (
    "certificate verify failed",
    "does not match host name",
    "hostname mismatch",
    "doesn't match",
    "not valid for",
    "ip address mismatch",
    "self-signed certificate",
    "unable to get local issuer certificate",
    "self signed certificate",
)


def verification_failure(error: BaseException) -> bool:
    """Whether ``error`` (or an exception in its chain) is a failed certificate check."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        text = str(current).lower()
        if any(fragment in text for fragment in _VERIFY_FAILURES):
            return True
        current = current.__cause__ or current.__context__
    return False


def tls_refused(
    what: str, anchor: TrustAnchor, *, secret: str, detail: str = ""
) -> ConfigurationError:
    """The error for a server whose certificate or host name did not verify.

    Permanent: retrying cannot make an untrusted certificate trusted; an operator fixes the
    CA (``rotation-tls-ca``) or the host name in ``rotation-target`` (it must be a name the
    certificate carries).
    """
    suffix = f": {detail}" if detail else ""
    return ConfigurationError(
        f"{what}: the server's TLS certificate did not verify against {anchor.origin} "
        f"(check the CA, and that the target's host name is in the certificate){suffix}",
        secret=secret,
        tag=CA_TAG,
    )


#: libpq sslmodes, and those that verify the server's certificate.
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
VERIFIED_SSLMODES = ("verify-ca", "verify-full")
SSLMODE_OPTION = "sslmode"
SSLMODE_TAG = "rotation-sslmode"
#: libpq ``require_auth``: the only password exchange a PostgreSQL client here agrees to.
#: A server asking for cleartext, MD5 or none never gets (or needs) the password.
REQUIRE_AUTH = "scram-sha-256"


def libpq_tls(context: RotatorContext, host: str) -> tuple[str, TrustAnchor | None]:
    """The libpq ``sslmode`` and, for the verifying modes, the trust anchor, for every
    PostgreSQL connection the app makes (the rotator and the ``postgres-sessions`` check).

    Default ``verify-full``, except ``prefer`` for a loopback ``host`` with no CA configured
    (its traffic never leaves the machine). An explicit ``rotation-tls-ca`` with a weaker
    explicit ``rotation-sslmode`` is a contradiction, refused.
    """
    explicit = context.options.get(SSLMODE_OPTION)
    if explicit is not None and explicit.strip() not in SSLMODES:
        shown = explicit if len(explicit) <= 40 and explicit.isprintable() else "..."
        raise ConfigurationError(
            f"unknown sslmode '{shown}' (known: {', '.join(SSLMODES)})",
            secret=context.secret_name,
            tag=SSLMODE_TAG,
        )
    configured = CA_OPTION in context.options or bool(os.environ.get(CA_SETTING, "").strip())
    if explicit is not None:
        sslmode = explicit.strip()
    elif configured or not is_loopback(host):
        sslmode = "verify-full"
    else:
        sslmode = "prefer"
    if sslmode not in VERIFIED_SSLMODES:
        if CA_OPTION in context.options:
            raise ConfigurationError(
                f"sslmode '{sslmode}' does not verify certificates, so the CA in "
                f"'{CA_TAG}' would be ignored: use verify-full (or drop one of the tags)",
                secret=context.secret_name,
                tag=SSLMODE_TAG,
            )
        return sslmode, None
    return sslmode, trust_anchor(context)
