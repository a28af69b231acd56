"""A throw-away certificate authority made at start-up, issuing TLS certificates per host name.

Clients trust the CA through ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` pointing at
:attr:`LocalCA.ca_path`. Private keys never leave memory; only the CA *certificate* is written.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class LocalCA:
    """A root CA plus a cache of leaf certificates, one per host name.

    ``directory`` receives ``ca.pem`` (a new temporary directory when not given). Thread-safe:
    :meth:`server_context` may be called from many connection threads at once.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="emulators-ca-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"emulators local CA {now:%Y%m%d%H%M%S}")]
        )
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key()), critical=False
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca_path = self._dir / "ca.pem"
        self.ca_path.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))
        # One leaf key for every host: issuing stays fast; the key lives only in memory.
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key_pem = self._leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM form (what clients must trust)."""
        return self._ca_cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, host: str) -> x509.Certificate:
        """A new leaf certificate for ``host`` (subject CN and DNS SAN), signed by the CA."""
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self._ca_cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
            .sign(self._ca_key, hashes.SHA256())
        )

    def server_context(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for ``host`` (cached per host)."""
        host = host.lower()
        with self._lock:
            cached = self._contexts.get(host)
            if cached is not None:
                return cached
            cert = self.issue(host)
            chain = cert.public_bytes(serialization.Encoding.PEM) + self.ca_pem
            # load_cert_chain only reads files: write the chain (public) and pass the key by a
            # short-lived file readable only by us, removed at once.
            cert_file = self._dir / f"leaf-{len(self._contexts)}.pem"
            cert_file.write_bytes(chain)
            with tempfile.NamedTemporaryFile(dir=self._dir, suffix=".key") as key_file:
                key_file.write(self._leaf_key_pem)
                key_file.flush()
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(str(cert_file), key_file.name)
            cert_file.unlink()
            self._contexts[host] = context
            return context
