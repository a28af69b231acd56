"""The local Azure stack: one object that starts and owns every emulated piece.

>>> with AzureStack() as stack, stack.applied_env():
...     identity = stack.identity.add_identity()
...     stack.keyvault.create_vault("demo-vault")
...     stack.keyvault.assign_role("demo-vault", identity.principal_id, "Key Vault Secrets Officer")
...     # SecretClient("https://demo-vault.vault.azure.net",
...     #              ManagedIdentityCredential(client_id=identity.client_id)) now works.

Other emulators plug in with :meth:`AzureStack.register_host`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from emulators.ca import LocalCA
from emulators.clock import Clock
from emulators.environ import overridden_environ
from emulators.faults import FaultInjector
from emulators.identity import APP_SERVICE_PATH, IdentityService
from emulators.keyvault.service import HOST_PATTERN, KeyVaultService
from emulators.lifecycle import Lifecycle, remove_tree
from emulators.proxy import HostRegistry, PlainListener, ProxyServer
from emulators.wire import Service

#: The environment variable azure-identity reads for a non-default IMDS host.
IMDS_ENV = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
NO_PROXY = "127.0.0.1,localhost"


class AzureStack(Lifecycle):
    """Clock, CA, fault injector, proxy, identity endpoint, Key Vault, Event Grid, ARM, an
    emulated Datadog API and Entra ID (Graph and login), started together.

    The services (``clock``, ``faults``, ``identity``, ``keyvault``, ``hosts``) exist from
    construction, so they can be configured before :meth:`start`; the listeners (``ca``,
    ``proxy``, ``identity_listener``) exist between :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self, *, proxy_port: int = 0, identity_port: int = 0, tenant_id: str | None = None
    ) -> None:
        self.clock = Clock()
        self.faults = FaultInjector()
        self.hosts = HostRegistry()
        self.identity = IdentityService(tenant_id)
        self.keyvault = KeyVaultService(self.clock, self.identity)
        self.hosts.register(HOST_PATTERN, self.keyvault)
        # Imported here: these modules import this one for type hints.
        from emulators.arm import ArmEmulator
        from emulators.datadog import DatadogEmulator
        from emulators.eventgrid import EventGridEmulator
        from emulators.graph import GraphEmulator

        #: Key Vault events (system topics) and custom topics at *.eventgrid.azure.net.
        self.eventgrid = EventGridEmulator.attach(self)
        #: Azure Resource Manager (SQL servers, web apps) at management.azure.com.
        self.arm = ArmEmulator.attach(self)
        from emulators.arm.blob_data import BlobDataPlane

        #: The blob endpoints of ARM's storage accounts (*.blob.core.windows.net, Azurite).
        self.blob_accounts = BlobDataPlane.attach(self, self.arm.storage)
        from emulators.arm.cosmos_data import CosmosDataPlane

        #: The data plane of ARM's Cosmos DB accounts (*.documents.azure.com, key checks).
        self.cosmos_accounts = CosmosDataPlane.attach(self, self.arm.cosmos)
        #: A third-party API with key endpoints, at api.datadoghq.com.
        self.datadog = DatadogEmulator.attach(self)
        #: Entra ID: Graph applications at graph.microsoft.com, tokens at
        #: login.microsoftonline.com.
        self.graph = GraphEmulator.attach(self)
        self._proxy_port = proxy_port
        self._identity_port = identity_port
        self._workdir: Path | None = None
        self._ca: LocalCA | None = None
        self._proxy: ProxyServer | None = None
        self._identity_listener: PlainListener | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Make the CA and start listening (idempotent)."""
        if self._proxy is not None:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="emulators-"))
        self._ca = LocalCA(self._workdir)
        self._proxy = ProxyServer(self._ca, self.faults, self.hosts, self._proxy_port)
        self._identity_listener = PlainListener(
            self.identity, self.faults, "127.0.0.1", self._identity_port
        )
        return self

    def stop(self) -> None:
        """Stop listening and remove the CA files (idempotent)."""
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._identity_listener is not None:
            self._identity_listener.stop()
            self._identity_listener = None
        self.blob_accounts.stop()
        remove_tree(self._workdir)
        self._workdir = None
        self._ca = None

    # -- wiring -----------------------------------------------------------------------------

    def register_host(self, host_or_pattern: str, service: Service) -> None:
        """Serve ``host_or_pattern`` (exact or ``*.suffix``) with ``service`` over the proxy."""
        self.hosts.register(host_or_pattern, service)

    @property
    def ca(self) -> LocalCA:
        """The local CA (only while started)."""
        if self._ca is None:
            raise RuntimeError("the stack is not started")
        return self._ca

    @property
    def proxy(self) -> ProxyServer:
        """The forward proxy (only while started)."""
        if self._proxy is None:
            raise RuntimeError("the stack is not started")
        return self._proxy

    @property
    def identity_listener(self) -> PlainListener:
        """The plain-HTTP listener of the identity endpoint (only while started)."""
        if self._identity_listener is None:
            raise RuntimeError("the stack is not started")
        return self._identity_listener

    def env(self) -> dict[str, str]:
        """The environment a client process needs to reach the stack (stack must be started).

        Contains ``HTTPS_PROXY``/``https_proxy``, ``NO_PROXY``/``no_proxy``,
        ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``IDENTITY_ENDPOINT``, ``IDENTITY_HEADER``
        and ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` (the IMDS host).
        """
        ca_path = str(self.ca.ca_path)
        return {
            "HTTPS_PROXY": self.proxy.url,
            "https_proxy": self.proxy.url,
            "NO_PROXY": NO_PROXY,
            "no_proxy": NO_PROXY,
            "REQUESTS_CA_BUNDLE": ca_path,
            "SSL_CERT_FILE": ca_path,
            "IDENTITY_ENDPOINT": self.identity_listener.url + APP_SERVICE_PATH,
            "IDENTITY_HEADER": self.identity.identity_header,
            IMDS_ENV: self.identity_listener.url,
        }

    @contextmanager
    def applied_env(self) -> Iterator[dict[str, str]]:
        """Set :meth:`env` in ``os.environ`` for the duration; restore the old values after."""
        values = self.env()
        with overridden_environ(values):
            yield values
