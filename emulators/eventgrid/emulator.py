"""The Event Grid emulator: Key Vault system topics, subscriptions, expiry events, custom topics.

Wire it to a running stack with :meth:`EventGridEmulator.attach`. Then::

    sub = eventgrid.subscribe("myvault", event_types=[SECRET_NEAR_EXPIRY], handler=seen.append)
    stack.clock.advance(timedelta(days=60))
    eventgrid.check_expiry()
    eventgrid.flush()          # deliver now, in this thread, retries included

Delivery is deterministic by default: nothing reaches a subscriber until :meth:`flush` (or the
optional background thread from :meth:`start`) runs.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, Final, Protocol

from emulators.clock import Clock
from emulators.eventgrid.delivery import (
    EVENT_GRID_RETRY_SCHEDULE_S,
    DeadLetter,
    Handler,
    Subscription,
)
from emulators.eventgrid.dispatcher import DEFAULT_RETRY_SCALE, Dispatcher
from emulators.eventgrid.schema import (
    CLOUD_EVENT_SCHEMA,
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    EVENT_GRID_SCHEMA,
    KEYVAULT_EVENT_PREFIX,
    SCHEMAS,
    SECRET_EVENT_TYPES,
    SECRET_EXPIRED,
    SECRET_NEAR_EXPIRY,
    secret_event,
    vault_topic,
)
from emulators.eventgrid.topics import TokenValidator, Topic, TopicService
from emulators.eventgrid.webhook import (
    validate_cloud_event_endpoint,
    validate_event_grid_endpoint,
)
from emulators.events import SecretChange, SecretVersionInfo
from emulators.identity import IdentityService
from emulators.keyvault.service import KeyVaultService
from emulators.wire import Service


class StackParts(Protocol):
    """What :meth:`EventGridEmulator.attach` needs of ``emulators.stack.AzureStack`` (a
    protocol, so that this module does not import the stack that imports it)."""

    clock: Clock
    identity: IdentityService
    keyvault: KeyVaultService

    def register_host(self, host_or_pattern: str, service: Service) -> None: ...


log = logging.getLogger(__name__)

NEAR_EXPIRY_WINDOW: Final = timedelta(days=30)
"""Key Vault raises SecretNearExpiry this long before a version's expiry."""

VersionsSource = Callable[[], Iterable[SecretVersionInfo]]


class EventGridEmulator:
    """Event Grid for the local stack. Thread-safe.

    ``clock`` judges expiry and stamps event times. ``versions_source`` lists the current
    version of every secret (the vault's ``current_versions``) for :meth:`check_expiry`.
    ``retry_schedule`` (Event Grid's by default) is scaled by ``retry_scale`` so that retries
    take milliseconds in tests. ``token_validator`` checks bearer tokens sent to custom topics.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        versions_source: VersionsSource | None = None,
        token_validator: TokenValidator | None = None,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
        retry_schedule: Sequence[float] = EVENT_GRID_RETRY_SCHEDULE_S,
        retry_scale: float = DEFAULT_RETRY_SCALE,
        near_expiry_window: timedelta = NEAR_EXPIRY_WINDOW,
    ) -> None:
        self._dispatcher = Dispatcher(clock, retry_schedule=retry_schedule, retry_scale=retry_scale)
        self.clock = clock
        self._versions_source = versions_source
        self._near_expiry_window = near_expiry_window
        self.topics = TopicService(
            clock,
            token_validator=token_validator,
            subscription_id=subscription_id,
            resource_group=resource_group,
        )
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._unsubscribed: list[Subscription] = []  # their dead letters stay readable
        self._published: list[dict[str, Any]] = []
        self._near_expiry_raised: set[tuple[str, str, str]] = set()
        self._expired_raised: set[tuple[str, str, str]] = set()
        self._names = itertools.count(1)

    @classmethod
    def attach(cls, stack: StackParts, **options: Any) -> EventGridEmulator:
        """An emulator wired to ``stack``: vault events, expiry on ``stack.clock``, custom
        topics served through the proxy at ``*.eventgrid.azure.net``, bearer tokens checked by
        ``stack.identity``. ``options`` go to the constructor."""
        emulator = cls(
            stack.clock,
            versions_source=stack.keyvault.current_versions,
            token_validator=stack.identity.validate,
            **options,
        )
        stack.keyvault.add_listener(emulator.on_secret_change)
        stack.register_host("*.eventgrid.azure.net", emulator.topics)
        return emulator

    # -- system topics: raising events -------------------------------------------------------

    def on_secret_change(self, change: SecretChange) -> None:
        """Key Vault listener: raise ``Microsoft.KeyVault.<change.kind>`` for the version."""
        self.raise_secret_event(KEYVAULT_EVENT_PREFIX + change.kind, change.secret)

    def raise_secret_event(self, event_type: str, secret: SecretVersionInfo) -> dict[str, Any]:
        """Publish a Key Vault secret event on the vault's system topic; return it (Event Grid
        schema). It is queued for every subscription whose filter it passes at this moment."""
        event = secret_event(
            event_type,
            secret,
            now=self.clock.now(),
            subscription_id=self.topics.subscription_id,
            resource_group=self.topics.resource_group,
        )
        with self._lock:
            self._published.append(event)
            targets = [s for s in self._subscriptions if s.matches(event)]
        for sub in targets:
            self._dispatcher.enqueue(sub, sub.render(event))
        log.debug("raised %s for %s/%s", event_type, secret.vault, secret.name)
        return event

    def check_expiry(self) -> list[dict[str, Any]]:
        """Raise SecretNearExpiry / SecretExpired for current versions, judged on the clock.

        Once per version each, as Key Vault does: NearExpiry when ``EXP - now`` is within the
        window (30 days), Expired when ``EXP <= now``. A version first seen already expired
        gets NearExpiry then Expired, as Key Vault would have raised both by then. Disabled
        versions and versions without an expiry raise nothing. Returns the raised events.
        """
        if self._versions_source is None:
            raise RuntimeError("no versions source: build with attach() or versions_source=")
        now = self.clock.now()
        raised: list[dict[str, Any]] = []
        for version in self._versions_source():
            if not version.enabled or version.expires is None:
                continue
            key = (version.vault, version.name, version.version)
            due: list[str] = []
            with self._lock:
                if version.expires - now <= self._near_expiry_window and (
                    key not in self._near_expiry_raised
                ):
                    self._near_expiry_raised.add(key)
                    due.append(SECRET_NEAR_EXPIRY)
                if version.expires <= now and key not in self._expired_raised:
                    self._expired_raised.add(key)
                    due.append(SECRET_EXPIRED)
            raised.extend(self.raise_secret_event(t, version) for t in due)
        return raised

    def published(self, vault: str | None = None) -> list[dict[str, Any]]:
        """Every system event raised so far (Event Grid schema), for one vault or all."""
        with self._lock:
            return [e for e in self._published if vault is None or e["data"]["VaultName"] == vault]

    def vault_topic(self, vault: str) -> str:
        """The system topic id (``topic``/``source``) of ``vault``'s events."""
        return vault_topic(
            vault,
            subscription_id=self.topics.subscription_id,
            resource_group=self.topics.resource_group,
        )

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(
        self,
        vault: str | None = None,
        *,
        event_types: Sequence[str] = SECRET_EVENT_TYPES,
        schema: str = EVENT_GRID_SCHEMA,
        handler: Handler | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 30,
        duplicate_every: int | None = None,
        max_events_per_batch: int = 1,
        timeout_s: float = 5.0,
        name: str | None = None,
    ) -> Subscription:
        """Subscribe to Key Vault secret events of ``vault`` (``None``: every vault).

        Exactly one of ``handler`` (called in-process with the event dict, or a list when
        ``max_events_per_batch`` > 1) and ``endpoint_url`` (a webhook). A webhook must pass
        the handshake of its schema first (Event Grid schema: SubscriptionValidationEvent
        answered with its code; CloudEvents: OPTIONS answered with WebHook-Allowed-Origin),
        else :class:`~emulators.eventgrid.webhook.SubscriptionValidationError` is raised and
        nothing is subscribed. Only events raised after this call are delivered.
        """
        if schema not in SCHEMAS:
            raise ValueError(f"unknown schema {schema!r}; known: {list(SCHEMAS)}")
        sub = Subscription(
            name=name or f"eventgrid-sub-{next(self._names)}",
            vault=vault,
            event_types=tuple(event_types),
            schema=schema,
            handler=handler,
            endpoint_url=endpoint_url,
            max_attempts=max_attempts,
            duplicate_every=duplicate_every,
            max_events_per_batch=max_events_per_batch,
            timeout_s=timeout_s,
        )
        if endpoint_url is not None:
            if schema == CLOUD_EVENT_SCHEMA:
                validate_cloud_event_endpoint(endpoint_url, timeout_s=timeout_s)
            else:
                validate_event_grid_endpoint(
                    endpoint_url,
                    subscription_name=sub.name,
                    topic=self.vault_topic(vault or "*"),
                    now=self.clock.now(),
                    timeout_s=timeout_s,
                )
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop matching new events for ``subscription`` (queued deliveries still happen)."""
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
                self._unsubscribed.append(subscription)

    # -- delivery -----------------------------------------------------------------------------

    def flush(self, *, wait_for_retries: bool = True) -> int:
        """Deliver everything pending in this thread, retries included; return the attempts.

        See :meth:`Dispatcher.deliver_pending`.
        """
        return self._dispatcher.deliver_pending(wait_for_retries=wait_for_retries)

    deliver_pending = flush

    def pending_count(self) -> int:
        """Deliveries waiting (first attempts and scheduled retries)."""
        return self._dispatcher.pending_count()

    def deliver_duplicate(self, event_id: str) -> int:
        """Queue ``event_id`` again for every subscription that already received it.

        Returns how many subscriptions it was queued for (0 if none had received it).
        """
        with self._lock:
            subscriptions = list(self._subscriptions)
        count = 0
        for sub in subscriptions:
            event = sub.delivered_event(event_id)
            if event is not None:
                self._dispatcher.enqueue(sub, event, duplicate=True)
                count += 1
        return count

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """Dead-lettered events of every subscription, unsubscribed ones included."""
        with self._lock:
            subscriptions = [*self._unsubscribed, *self._subscriptions]
        return [letter for sub in subscriptions for letter in sub.dead_letters]

    def start(self, *, interval_s: float = 0.05, watch_expiry: bool = True) -> None:
        """Deliver (and, with ``watch_expiry``, check expiry) in a background thread."""
        tick = self._safe_check_expiry if watch_expiry and self._versions_source else None
        self._dispatcher.start(interval_s=interval_s, tick=tick)

    def stop(self) -> None:
        """Stop the background thread started by :meth:`start`."""
        self._dispatcher.stop()

    def _safe_check_expiry(self) -> None:
        try:
            self.check_expiry()
        except Exception:  # keep the ticker alive; the failure is logged
            log.exception("expiry check failed")

    # -- custom topics ----------------------------------------------------------------------

    def create_topic(
        self, name: str, *, region: str = "westus2", input_schema: str = CLOUD_EVENT_SCHEMA
    ) -> Topic:
        """A custom topic at ``https://<name>.<region>-1.eventgrid.azure.net/api/events``."""
        return self.topics.create_topic(name, region=region, input_schema=input_schema)

    def received(self, topic_name: str) -> list[dict[str, Any]]:
        """The events the custom topic ``topic_name`` accepted, in arrival order."""
        return self.topics.topic(topic_name).received()
