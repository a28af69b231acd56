"""``app-service``: an App Service or Functions app that reads the secret via a Key Vault reference.

Definition::

    {"kind": "app-service",
     "resource_id": "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<app>",
     "setting": "DB_SECRET",       # the app setting holding @Microsoft.KeyVault(SecretUri=...)
     "restart": false}             # optional nudge: restart the app once after commit

The check asks Azure Resource Manager (``azure-mgmt-web``
``web_apps.get_app_setting_key_vault_reference``) how the setting's reference resolved, with
the app's managed identity (which needs "Website Contributor" on the consumer app, or a role
with ``Microsoft.Web/sites/config/read`` and, for ``restart``,
``Microsoft.Web/sites/restart/action``).

- The version the app uses is the reference's ``activeVersion``; a reference pinned to a
  version (``secretVersion``) uses that version.
- A reference that is not ``Resolved`` counts as not moved (``None``).
- A reference to another secret or another vault is a configuration error.

Nothing here reads a setting's value: the reference status carries only names and versions.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar
from urllib.parse import urlsplit

from azure.mgmt.web import WebSiteManagementClient

from rotation.azure_errors import FailureKind, classify, rotation_error
from rotation.consumer_checks.base import (
    CheckEnvironment,
    CheckRequest,
    ConsumerCheck,
    refuse_another_secret,
)
from rotation.consumer_checks.definitions import ConsumerDefinition
from rotation.errors import RotationError

log = logging.getLogger(__name__)

_SITE_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/Microsoft\.Web/sites/(?P<site>[^/]+)/?$",
    re.IGNORECASE,
)
RESOLVED = "resolved"
OPTIONS = frozenset({"resource_id", "setting", "restart"})


class AppServiceCheck(ConsumerCheck):
    """Reads the active version of an app setting's Key Vault reference through ARM."""

    kind: ClassVar[str] = "app-service"

    def __init__(self, definition: ConsumerDefinition, environment: CheckEnvironment) -> None:
        super().__init__(definition, environment)
        definition.reject_unknown(OPTIONS)
        resource_id = definition.text("resource_id", required=True) or ""
        match = _SITE_ID.match(resource_id)
        if match is None:
            raise definition.error(
                "must be a web app resource id "
                "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<name>)",
                "resource_id",
            )
        self.resource_id = resource_id
        self.subscription = match["subscription"]
        self.resource_group = match["group"]
        self.site = match["site"]
        self.setting = definition.text("setting", required=True) or ""
        self.restart = definition.flag("restart")
        if environment.credential is None:
            raise definition.error("needs the app's managed identity (AZURE_CLIENT_ID)")
        self._client: WebSiteManagementClient | None = None

    def __repr__(self) -> str:
        return f"AppServiceCheck({self.name!r}, site={self.site!r}, setting={self.setting!r})"

    def client(self) -> WebSiteManagementClient:
        """The ARM client, made on first use."""
        if self._client is None:
            assert self.environment.credential is not None
            self._client = WebSiteManagementClient(
                self.environment.credential, self.subscription, **self.environment.sdk_options
            )
        return self._client

    def observe(self, request: CheckRequest) -> str | None:
        """The reference's active (or pinned) version; None while it is not resolved."""
        try:
            reference = self.client().web_apps.get_app_setting_key_vault_reference(
                self.resource_group, self.site, self.setting
            )
        except Exception as error:  # noqa: BLE001 - every SDK error is translated
            raise self._translate(error, "read the Key Vault reference of") from None
        props = reference.properties
        if props is None:
            return None
        self._check_points_at_secret(request, props.vault_name, props.secret_name)
        # ResolveStatus is a str Enum: str() of it is "ResolveStatus.RESOLVED" on 3.11.
        status = str(getattr(props.status, "value", props.status) or "")
        if status.lower() != RESOLVED:
            log.info(
                "consumer '%s': reference %s of %s is %s, not resolved",
                self.name,
                self.setting,
                self.site,
                status or "in an unknown state",
            )
            return None
        return str(props.secret_version or props.active_version or "") or None

    def can_nudge(self) -> bool:
        return self.restart

    def nudge(self, request: CheckRequest) -> None:
        """Restart the app, so that it resolves its Key Vault references again."""
        if not self.restart:
            return
        try:
            self.client().web_apps.restart(self.resource_group, self.site)
        except Exception as error:  # noqa: BLE001
            raise self._translate(error, "restart") from None
        log.info("consumer '%s': restarted %s to pick up the new version", self.name, self.site)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ helpers

    def _check_points_at_secret(
        self, request: CheckRequest, vault_name: str | None, secret_name: str | None
    ) -> None:
        vault = (urlsplit(request.facts.vault_url).hostname or "").split(".")[0].lower()
        where = f"consumer '{self.name}': app setting {self.setting} of {self.site}"
        refuse_another_secret(request, where, vault_name, secret_name, vault)

    def _translate(self, error: Exception, action: str) -> RotationError:
        return rotation_error(
            classify(error),
            f"consumer '{self.name}': could not {action} {self.site}",
            {
                FailureKind.DENIED: (
                    "the app identity needs 'Website Contributor' on the consumer app"
                ),
                FailureKind.NOT_FOUND: (
                    f"check resource_id and that {self.setting} is a Key Vault reference"
                ),
            },
        )
