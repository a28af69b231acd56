"""``Microsoft.Web/sites``: web and function apps, their app settings and Key Vault references.

The operations ``azure-mgmt-web`` 11.x calls for consumer checks: ``web_apps.get``,
``list_application_settings`` (POST ``config/appsettings/list``; Key Vault references come
back unresolved, as ``@Microsoft.KeyVault(...)``), ``get_app_settings_key_vault_references`` /
``get_app_setting_key_vault_reference`` (``ApiKVReference``: ``secretVersion`` is the version
pinned in the reference, empty when it follows the latest; ``activeVersion`` the version the
app resolved and uses now) and ``restart``.

A test makes a consumer "move" with :meth:`WebApps.set_key_vault_reference`; a restart can be
hooked (:meth:`WebApps.on_restart`) to do the same, as a real restart re-resolves references.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.arm.errors import ArmError
from emulators.arm.routing import RESOURCE_GROUP, Call, ResourceIndex, Route, resource_id
from emulators.wire import Response

RESOURCE_TYPE = "Microsoft.Web/sites"
API_VERSIONS = frozenset({"2025-05-01", "2024-11-01", "2024-04-01", "2023-12-01", "2022-09-01"})
SITE_PATH = RESOURCE_GROUP + r"/providers/Microsoft\.Web/sites/(?P<name>[^/]+)"


#: The ARM resource id of a web app: ``site_id(subscription, resource_group, name)``.
site_id = functools.partial(resource_id, RESOURCE_TYPE)


@dataclass
class KeyVaultReference:
    """How one app setting's Key Vault reference resolved."""

    vault: str
    secret: str
    #: Version pinned in the reference (``None``: follows the latest version).
    pinned_version: str | None
    #: The version the app resolved and uses now (``None`` before the first resolution).
    active_version: str | None
    status: str = "Resolved"

    @property
    def reference(self) -> str:
        """The app setting value: ``@Microsoft.KeyVault(SecretUri=...)``."""
        uri = f"https://{self.vault}.vault.azure.net/secrets/{self.secret}/"
        if self.pinned_version:
            uri += self.pinned_version
        return f"@Microsoft.KeyVault(SecretUri={uri})"


@dataclass
class WebApp:
    """One web or function app."""

    subscription: str
    resource_group: str
    name: str
    location: str
    kind: str
    app_settings: dict[str, str] = field(default_factory=dict, repr=False)
    references: dict[str, KeyVaultReference] = field(default_factory=dict)
    restarts: int = 0

    @property
    def id(self) -> str:
        """The ARM resource id."""
        return site_id(self.subscription, self.resource_group, self.name)

    def to_json(self) -> dict[str, Any]:
        """The site as ``GET`` returns it (the fields consumer checks read)."""
        host = f"{self.name}.azurewebsites.net"
        return {
            "id": self.id,
            "name": self.name,
            "type": RESOURCE_TYPE,
            "kind": self.kind,
            "location": self.location,
            "tags": {},
            "properties": {
                "state": "Running",
                "enabled": True,
                "hostNames": [host],
                "enabledHostNames": [host, f"{self.name}.scm.azurewebsites.net"],
                "defaultHostName": host,
                "resourceGroup": self.resource_group,
                "keyVaultReferenceIdentity": "SystemAssigned",
                "httpsOnly": True,
            },
        }


class WebApps:
    """The emulated ``Microsoft.Web`` provider (sites only). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._apps = ResourceIndex[WebApp](self._lock, RESOURCE_TYPE, site_id)
        self._restart_hooks: dict[str, list[Callable[[], None]]] = {}

    # -- state, for the emulator's test helpers -------------------------------------------

    def create(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        *,
        location: str = "West Europe",
        kind: str = "app",
        app_settings: dict[str, str] | None = None,
    ) -> WebApp:
        """Create (or replace) an app at once, outside ARM."""
        app = WebApp(subscription, resource_group, name, location, kind, dict(app_settings or {}))
        return self._apps.put(app)

    def find(self, resource_id: str) -> WebApp | None:
        """The app with this resource id (case-insensitive), or ``None``."""
        return self._apps.get(resource_id)

    def _require(self, resource_id: str) -> WebApp:
        app = self.find(resource_id)
        if app is None:
            raise KeyError(f"no web app '{resource_id}'")
        return app

    def set_key_vault_reference(
        self,
        app_id: str,
        setting: str,
        vault: str,
        secret: str,
        resolved_version: str | None,
        *,
        pinned_version: str | None = None,
        status: str = "Resolved",
    ) -> None:
        """Make ``setting`` a Key Vault reference that resolved to ``resolved_version``."""
        with self._lock:
            app = self._require(app_id)
            ref = KeyVaultReference(vault, secret, pinned_version, resolved_version, status)
            app.references[setting] = ref
            app.app_settings[setting] = ref.reference

    def on_restart(self, app_id: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` each time the app restarts (after the restart is counted)."""
        with self._lock:
            self._require(app_id)
            self._restart_hooks.setdefault(app_id.lower(), []).append(hook)

    def resource_groups(self) -> set[tuple[str, str]]:
        """(subscription, resource group) pairs that hold an app, lower-cased."""
        return self._apps.resource_groups()

    # -- routes ---------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The ARM routes this provider serves."""
        v = API_VERSIONS
        refs = SITE_PATH + "/config/configreferences/appsettings"
        return [
            Route("GET", SITE_PATH, "web_apps_get", self._apps.get_response,
                  "Microsoft.Web/sites/read", v),
            Route("POST", SITE_PATH + "/config/appsettings/list",
                  "web_apps_list_application_settings", self._list_settings,
                  "Microsoft.Web/sites/config/list/action", v),
            Route("GET", refs, "web_apps_get_app_settings_key_vault_references",
                  self._references, "Microsoft.Web/sites/config/read", v),
            Route("GET", refs + "/(?P<setting>[^/]+)",
                  "web_apps_get_app_setting_key_vault_reference", self._reference,
                  "Microsoft.Web/sites/config/read", v),
            Route("POST", SITE_PATH + "/restart", "web_apps_restart", self._restart,
                  "Microsoft.Web/sites/restart/action", v),
        ]  # fmt: skip

    def _list_settings(self, call: Call) -> Response:
        app = self._apps.named(call)
        with self._lock:
            settings = dict(app.app_settings)
        return Response.json(
            200,
            {
                "id": f"{app.id}/config/appsettings",
                "name": "appsettings",
                "type": "Microsoft.Web/sites/config",
                "location": app.location,
                "properties": settings,
            },
        )

    @staticmethod
    def _reference_json(app: WebApp, setting: str, ref: KeyVaultReference) -> dict[str, Any]:
        return {
            "id": f"{app.id}/config/configreferences/appsettings/{setting}",
            "name": setting,
            "type": "Microsoft.Web/sites/config/configreferences",
            "location": app.location,
            "properties": {
                "reference": ref.reference,
                "status": ref.status,
                "vaultName": ref.vault,
                "secretName": ref.secret,
                "secretVersion": ref.pinned_version or "",
                "identityType": {"type": "SystemAssigned"},
                "source": "KeyVault",
                "activeVersion": ref.active_version,
            },
        }

    def _references(self, call: Call) -> Response:
        app = self._apps.named(call)
        with self._lock:
            items = [self._reference_json(app, s, r) for s, r in sorted(app.references.items())]
        return Response.json(200, {"value": items})

    def _reference(self, call: Call) -> Response:
        app = self._apps.named(call)
        setting = call.params["setting"]
        with self._lock:
            ref = app.references.get(setting)
            if ref is None:
                raise ArmError(
                    404,
                    "NotFound",
                    f"App setting '{setting}' of site '{app.name}' is not a Key Vault reference.",
                )
            return Response.json(200, self._reference_json(app, setting, ref))

    def _restart(self, call: Call) -> Response:
        app = self._apps.named(call)
        with self._lock:
            app.restarts += 1
            hooks = list(self._restart_hooks.get(app.id.lower(), []))
        for hook in hooks:
            hook()
        return Response(200)
