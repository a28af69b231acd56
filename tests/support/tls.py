"""A local certificate authority whose server certificates real servers can load from files.

:class:`emulators.ca.LocalCA` keeps leaf keys in memory (its TLS servers are Python). The
PostgreSQL, MariaDB and Redis servers the TLS tests start read a certificate and a key from
files, so :meth:`ServerCA.write_server_files` writes them (the key readable by its owner
only). Certificates name ``localhost`` only (no IP address), so connecting to 127.0.0.1
is the "wrong host name" case.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from emulators.ca import LocalCA

#: The host name in every server certificate, and the address it does not carry.
CERT_HOST = "localhost"
WRONG_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServerFiles:
    """A server certificate, its key and the CA certificate, on disk."""

    cert: Path
    key: Path
    ca: Path


class ServerCA(LocalCA):
    """A :class:`LocalCA` that also writes server certificate and key files."""

    def write_server_files(
        self, directory: Path, host: str = CERT_HOST, *, owner: str | None = None
    ) -> ServerFiles:
        """Write ``server.crt`` (leaf for ``host``), ``server.key`` (mode 0600) and ``ca.crt``
        into ``directory``; ``owner`` (an OS user) gets them when the tests run as root."""
        directory.mkdir(parents=True, exist_ok=True)
        cert = self.issue(host).public_bytes(serialization.Encoding.PEM)
        cert_path, key_path = directory / "server.crt", directory / "server.key"
        cert_path.write_bytes(cert)
        ca_path = directory / "ca.crt"
        ca_path.write_bytes(self.ca_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._leaf_key_pem)
        if owner and os.geteuid() == 0:
            for path in (directory, cert_path, key_path, ca_path):
                shutil.chown(path, owner, owner)
        return ServerFiles(cert=cert_path, key=key_path, ca=ca_path)
