"""Azurite (Azure Storage emulator from npm) started on free ports, for blobs and queues.

Installed at the project root with ``npm install azurite@3.37.0``. Started with
``--skipApiVersionCheck`` (azure-storage-blob sends a newer API version than Azurite knows) and
``--inMemoryPersistence``. Azurite ignores SIGTERM, so :meth:`Azurite.stop` sends SIGKILL to the
process group it was started in (its own; nothing else is in it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from emulators.lifecycle import Lifecycle, remove_tree

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
# The documented, public development-storage key every Azurite and Storage Emulator accepts.
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT = 30.0


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed, or did not start."""


def installed() -> bool:
    """Whether ``node_modules/.bin/azurite`` exists at the project root."""
    return AZURITE_BIN.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def kill_group(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the process group ``process`` leads (Azurite ignores SIGTERM) and reap it."""
    if process is None:
        return
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


class Azurite(Lifecycle):
    """One Azurite process with blob, queue and table services on free 127.0.0.1 ports."""

    def __init__(self) -> None:
        self.blob_port = 0
        self.queue_port = 0
        self.table_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None

    def start(self) -> Self:
        """Start Azurite and wait until every service accepts connections."""
        if not installed():
            raise AzuriteUnavailable(
                f"Azurite is not installed ({AZURITE_BIN} is missing): run "
                "`npm install azurite@3.37.0` in the project root"
            )
        self.blob_port, self.queue_port, self.table_port = (_free_port() for _ in range(3))
        self._workdir = tempfile.mkdtemp(prefix="azurite-")
        # The child writes to its own copy of the descriptor; the parent's closes at once.
        with open(os.path.join(self._workdir, "stderr.log"), "wb") as stderr:
            self._process = subprocess.Popen(
                [
                    str(AZURITE_BIN),
                    "--skipApiVersionCheck",
                    "--inMemoryPersistence",
                    "--silent",
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    str(self.blob_port),
                    "--queueHost",
                    "127.0.0.1",
                    "--queuePort",
                    str(self.queue_port),
                    "--tableHost",
                    "127.0.0.1",
                    "--tablePort",
                    str(self.table_port),
                ],
                cwd=self._workdir,  # whatever Azurite writes lands here and is removed at stop
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        ports = (self.blob_port, self.queue_port, self.table_port)
        while not all(_answers(p) for p in ports):
            if self._process.poll() is not None:
                err = Path(self._workdir, "stderr.log").read_text(errors="replace")
                self.stop()
                raise AzuriteUnavailable(f"Azurite exited at start-up: {err.strip()[:500]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AzuriteUnavailable(f"Azurite did not answer within {START_TIMEOUT:.0f} s")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        """SIGKILL Azurite's process group (it ignores SIGTERM) and remove its files."""
        kill_group(self._process)
        self._process = None
        remove_tree(self._workdir)
        self._workdir = None

    @property
    def connection_string(self) -> str:
        """A Storage connection string for the well-known development account."""
        base = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint={base}:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint={base}:{self.table_port}/{ACCOUNT};"
        )
