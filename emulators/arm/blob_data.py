"""The blob data plane of the emulated storage accounts: ``https://<account>.blob.core.windows.net``
served by a real Azurite that holds every account with its current ARM keys.

Azurite reads its accounts (``AZURITE_ACCOUNTS=name:key1:key2;...``) from its own process
environment, every minute (``AccountDataStore.refresh`` in Azurite 3.37): nothing outside the
process can change them. So when ARM creates an account or regenerates a key, the data plane
is marked stale and the next request restarts Azurite with the new keys, on the same port,
with ``--location`` so containers and blobs survive the restart. The proxy hands requests
here by host name; they are relayed unchanged (the ``Host`` header names the account:
Azurite reads the account from the first label of a production-style host), so Azurite checks
the client's real SharedKey signature.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Protocol, Self

from emulators.arm.storage import KEY_NAMES, StorageAccount, StorageAccounts
from emulators.azurite import AzuriteUnavailable, _answers, _free_port, installed, kill_group
from emulators.lifecycle import Lifecycle, remove_tree
from emulators.wire import Request, Response, Service

BLOB_BIN = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite-blob"
HOST_PATTERN = "*.blob.core.windows.net"
START_TIMEOUT = 60.0
RELAY_TIMEOUT = 60.0
#: Headers that belong to one hop and are not relayed.
_HOP_HEADERS = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding"})


class _Registry(Protocol):
    def register_host(self, host_or_pattern: str, service: Service) -> object: ...


class BlobDataPlane(Lifecycle):
    """One ``azurite-blob`` process for every emulated account; restarted on key changes."""

    def __init__(self) -> None:
        self._accounts: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._stale = True
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None
        self.port = 0
        #: How many times Azurite was (re)started, for tests.
        self.starts = 0

    @classmethod
    def attach(cls, stack: _Registry, storage: StorageAccounts) -> BlobDataPlane:
        """A data plane for ``storage``'s accounts, served through ``stack``'s proxy."""
        plane = cls()
        storage.on_keys_changed(plane.keys_changed)
        stack.register_host(HOST_PATTERN, plane)
        return plane

    def keys_changed(self, account: StorageAccount) -> None:
        """Take ``account``'s current keys (applied before the next request)."""
        keys = tuple(account.keys.value(n) for n in KEY_NAMES)
        with self._lock:
            self._accounts[account.name.lower()] = (keys[0], keys[1])
            self._stale = True

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Nothing to do up front: Azurite starts with the first request."""
        return self

    def stop(self) -> None:
        """Kill Azurite (it ignores SIGTERM) and remove its files."""
        with self._lock:
            self._kill()
            remove_tree(self._workdir)
            self._workdir = None
            self._stale = True

    def _kill(self) -> None:
        kill_group(self._process)
        self._process = None

    def _restart(self) -> None:
        """(Re)start Azurite with the current accounts; called with the lock held."""
        if not installed() or not BLOB_BIN.exists():
            raise AzuriteUnavailable(f"Azurite is not installed ({BLOB_BIN} is missing)")
        self._kill()
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="azurite-accounts-")
            self.port = _free_port()
        accounts = ";".join(f"{n}:{k1}:{k2}" for n, (k1, k2) in sorted(self._accounts.items()))
        env = {**os.environ, "AZURITE_ACCOUNTS": accounts}
        with open(os.path.join(self._workdir, "stderr.log"), "ab") as stderr:
            self._process = subprocess.Popen(
                [
                    str(BLOB_BIN),
                    *("--skipApiVersionCheck", "--silent", "--blobHost", "127.0.0.1"),
                    *("--blobPort", str(self.port), "--location", self._workdir),
                ],
                cwd=self._workdir,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self._kill()
                raise AzuriteUnavailable("azurite-blob did not start for the storage accounts")
            time.sleep(0.05)
        self._stale = False
        self.starts += 1

    # -- Service ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Relay ``request`` to Azurite (restarted first if keys changed) and its answer back."""
        with self._lock:
            if self._stale or self._process is None or self._process.poll() is not None:
                self._restart()
            port = self.port
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=RELAY_TIMEOUT)
        try:
            headers = {k: v for k, v in request.headers.items() if k not in _HOP_HEADERS}
            connection.request(request.method, request.target, request.body, headers)
            answer = connection.getresponse()
            body = answer.read()
            relayed = {
                k: v
                for k, v in answer.getheaders()
                if k.lower() not in _HOP_HEADERS and k.lower() != "content-length"
            }
            return Response(answer.status, body, relayed)
        finally:
            connection.close()
