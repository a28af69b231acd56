"""Event Grid emulator: Key Vault secret events to subscribers, and custom topics.

Public entry: :meth:`EventGridEmulator.attach` (``emulators.stack.AzureStack``).
"""

from emulators.eventgrid.delivery import DeadLetter, DeliveryRecord, Subscription
from emulators.eventgrid.emulator import NEAR_EXPIRY_WINDOW, EventGridEmulator
from emulators.eventgrid.schema import (
    CLOUD_EVENT_SCHEMA,
    EVENT_GRID_SCHEMA,
    SECRET_EVENT_TYPES,
    SECRET_EXPIRED,
    SECRET_NEAR_EXPIRY,
    SECRET_NEW_VERSION_CREATED,
)
from emulators.eventgrid.topics import EVENTGRID_AUDIENCE, Topic
from emulators.eventgrid.webhook import SubscriptionValidationError

__all__ = [
    "CLOUD_EVENT_SCHEMA",
    "EVENTGRID_AUDIENCE",
    "EVENT_GRID_SCHEMA",
    "NEAR_EXPIRY_WINDOW",
    "SECRET_EVENT_TYPES",
    "SECRET_EXPIRED",
    "SECRET_NEAR_EXPIRY",
    "SECRET_NEW_VERSION_CREATED",
    "DeadLetter",
    "DeliveryRecord",
    "EventGridEmulator",
    "Subscription",
    "SubscriptionValidationError",
    "Topic",
]
