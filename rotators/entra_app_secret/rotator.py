"""The ``entra-app-secret`` rotator: client secrets of a Microsoft Entra ID application.

Tags::

    rotation-rotator          entra-app-secret
    rotation-target           <application object id>  |  appId=<application (client) id>
    rotation-strategy         multiple (the only one: two live secrets while consumers move)
    rotation-entra-secret-days  optional, lifetime of each new client secret (default 180)
    rotation-entra-cloud      optional: public (default), usgov, china

The secret's value is JSON ``{"tenant_id", "client_id", "password": <secret text>, "key_id",
"display_name"}``: ``key_id`` is what lets :meth:`retire` remove the old secret.

What it needs: the function app's managed identity (``AZURE_CLIENT_ID``) holds the Graph
application permission ``Application.ReadWrite.OwnedBy`` and is an owner of the application.
No admin secret.

Steps (Entra ID mints the secret text, so this follows the minted-key pattern):

- :meth:`generate` returns an intent: no secret, a fresh unique ``display_name``
  (``rotation-<secret>-<8 hex>``), no ``key_id``. The engine stages it before apply.
- :meth:`apply` reads the application, removes every client secret already carrying that
  display name (added by an earlier try whose answer or staging was lost: Graph never shows
  a secret text again, so such an orphan cannot be used, only removed), refuses when the
  application is at the cap, then ``addPassword`` and returns the minted credential, which
  the engine stages at once. A candidate that already carries a secret and a key id is
  returned unchanged.
- :meth:`verify` requests a client-credentials token with the secret.
- :meth:`retire` removes the old key id (absent already = done), never the new one.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from rotation import defaults
from rotation import tags as T
from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotation.rotator import UNPARSED, Rotator, RotatorContext, Strategy
from rotators.entra_app_secret.graph import GraphClient, app_credential
from rotators.entra_app_secret.login import client_secret_logs_in
from rotators.entra_app_secret.settings import (
    GUID,
    MARKER,
    TENANT,
    EntraSettings,
    parse_settings,
    value_field,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger(__name__)

#: Fields of the value that describe one client secret and are not carried to the next.
SECRET_FIELDS = ("key_id", "display_name")


class EntraAppSecretRotator(Rotator):
    """Adds and removes client secrets of an Entra ID application (see the module doc).

    ``credential`` (default: ``DefaultAzureCredential`` with ``AZURE_CLIENT_ID`` as the
    user-assigned identity, as the other Azure rotator) can be injected.
    """

    kind: ClassVar[str] = "entra-app-secret"
    strategies: ClassVar[tuple[Strategy, ...]] = (Strategy.MULTIPLE,)
    requires_target: ClassVar[bool] = True
    #: A client secret Graph just added may be refused for a while (4-18 s observed,
    #: microsoftgraph/microsoft-graph-docs#17966; no documented bound): wait up to two minutes.
    verify_patience_seconds: ClassVar[float] = 120.0

    def __init__(
        self,
        context: RotatorContext,
        settings: object = UNPARSED,
        *,
        credential: TokenCredential | None = None,
    ) -> None:
        super().__init__(context)
        self.settings = self.settings_for(context, settings)
        self._credential = credential
        self._graph: GraphClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.settings.app_path!r})"

    @classmethod
    def parse_settings(cls, context: RotatorContext) -> EntraSettings:
        """Target, cloud and lifetime (:mod:`.settings`); ``ConfigurationError`` naming the
        tag. No I/O."""
        super().parse_settings(context)
        return parse_settings(context)

    # -- the contract -----------------------------------------------------------------------

    def generate(self, current: Credential) -> Credential:
        """An intent: no secret, a fresh unique ``display_name``, no ``key_id``. No I/O."""
        extra = {k: v for k, v in current.extra.items() if k not in SECRET_FIELDS}
        stem = re.sub(r"[^A-Za-z0-9-]", "-", self.context.secret_name)[:80]
        extra["display_name"] = f"{T.PREFIX}{stem}-{uuid.uuid4().hex[:8]}"
        return Credential(password="", username=current.username, extra=extra)

    def apply(self, current: Credential, candidate: Credential) -> Credential:
        """Add a client secret named by ``candidate``; return it (password = secret text,
        extra with ``key_id``). Secrets with that name from a lost earlier try are removed
        first. A candidate with a secret and a ``key_id`` is returned as is."""
        if candidate.password and candidate.extra.get("key_id"):
            return candidate
        name = value_field(candidate, "display_name", MARKER, self.context.secret_name)
        graph = self._client(current)
        client_id = self._client_id(current)
        app = graph.application()
        if app.app_id.lower() != client_id.lower():
            raise ConfigurationError(
                f"{self.settings.app_path} is not the application '{client_id}' of the value",
                secret=self.context.secret_name,
                tag=T.TARGET,
            )
        current_id = str(current.extra.get("key_id") or "")
        orphans = [p for p in app.passwords if p.display_name == name and p.key_id != current_id]
        for orphan in orphans:
            log.warning(
                "secret %s: removing client secret %s named %s, added earlier without a "
                "recorded answer",
                self.context.secret_name,
                orphan.key_id,
                name,
            )
            graph.remove_password(orphan.key_id)
        if len(app.passwords) - len(orphans) >= defaults.ENTRA_MAX_SECRETS:
            raise ConfigurationError(
                f"{self.settings.app_path} already holds {len(app.passwords) - len(orphans)} "
                f"client secrets (this rotator adds none past {defaults.ENTRA_MAX_SECRETS}); "
                "remove unused ones in the app registration",
                secret=self.context.secret_name,
                tag=T.TARGET,
            )
        minted = graph.add_password(name, app.server_time + self.settings.lifetime)
        text, key_id = minted.get("secretText"), minted.get("keyId")
        if not isinstance(text, str) or not text or not isinstance(key_id, str):
            if isinstance(key_id, str):
                graph.remove_password(key_id)  # minted but unusable: do not leave it alive
            raise ConfigurationError(
                "Microsoft Graph answered addPassword without secretText and keyId",
                secret=self.context.secret_name,
            )
        log.info(
            "secret %s: added client secret %s named %s to %s",
            self.context.secret_name,
            key_id,
            name,
            self.settings.app_path,
        )
        extra: dict[str, Any] = {**candidate.extra, "key_id": key_id, "client_id": app.app_id}
        return Credential(password=text, username=candidate.username, extra=extra)

    def verify(self, credential: Credential) -> None:
        """A client-credentials token request with the secret (see :mod:`.login`)."""
        secret = self.context.secret_name
        client_secret_logs_in(
            authority=self.settings.login_host,
            tenant_id=value_field(credential, "tenant_id", TENANT, secret),
            client_id=self._client_id(credential),
            secret=credential.password,
            scope=f"{self.settings.graph_url}/.default",
        )

    def retire(self, old: Credential, new: Credential) -> None:
        """Remove ``old``'s client secret by ``key_id`` (already gone = done); never the one
        ``new`` holds. Without a key id, its rotation display name is used, if it has one."""
        old_id, new_id = old.extra.get("key_id"), new.extra.get("key_id")
        old_name = old.extra.get("display_name")
        graph = self._client(old, new)
        live = graph.application().passwords
        if old_id:
            doomed = [p.key_id for p in live if p.key_id == str(old_id)]
        elif isinstance(old_name, str) and MARKER.fullmatch(old_name):
            doomed = [p.key_id for p in live if p.display_name == old_name]
        else:
            log.warning(
                "secret %s: the old client secret has no key_id; remove it by hand in the app "
                "registration",
                self.context.secret_name,
            )
            return
        for key_id in doomed:
            if new_id is not None and key_id == str(new_id):
                log.warning(
                    "secret %s: old and new share key id %s; kept", self.context.secret_name, key_id
                )
                continue
            graph.remove_password(key_id)
            log.info("secret %s: removed client secret %s", self.context.secret_name, key_id)

    def close(self) -> None:
        """Close the Graph session."""
        if self._graph is not None:
            self._graph.close()
            self._graph = None

    # -- helpers ----------------------------------------------------------------------------

    def _client_id(self, credential: Credential) -> str:
        return value_field(credential, "client_id", GUID, self.context.secret_name)

    def _client(self, *known: Credential) -> GraphClient:
        if self._graph is None:
            self._graph = GraphClient(
                self._credential or app_credential(),
                graph_url=self.settings.graph_url,
                app_path=self.settings.app_path,
                secret_name=self.context.secret_name,
            )
        self._graph.hide(*(c.password for c in known))
        return self._graph
