"""Fan-out messages: one Storage queue message per due secret, consumed by the queue worker."""

from __future__ import annotations

import json
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import QueueClient

from rotation.errors import ConfigurationError, TargetUnavailable
from rotation.outcome import RotationRequest, Trigger
from rotation.sweep import DueSecret


def encode_message(item: DueSecret) -> str:
    """The JSON body of the queue message for ``item`` (names and versions only)."""
    return json.dumps(
        {
            "vault_url": item.vault_url,
            "secret_name": item.secret_name,
            "version": item.version,
            "reason": item.reason,
        },
        sort_keys=True,
    )


def decode_message(body: str) -> RotationRequest:
    """The engine request in a queue message; ``ConfigurationError`` if it is malformed."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise ConfigurationError("queue message is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError("queue message is not a JSON object")
    vault_url, name, version = data.get("vault_url"), data.get("secret_name"), data.get("version")
    if not isinstance(vault_url, str) or not isinstance(name, str):
        raise ConfigurationError("queue message needs string 'vault_url' and 'secret_name'")
    if version is not None and not isinstance(version, str):
        raise ConfigurationError("queue message 'version' must be a string")
    return RotationRequest(
        vault_url=vault_url, secret_name=name, trigger=Trigger.QUEUE, expected_version=version
    )


class QueueDispatcher:
    """Sends due secrets to the work queue. The client must base64-encode (as Functions reads)."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client
        self._ready = False

    def send(self, item: DueSecret) -> None:
        """Enqueue ``item``; ``TargetUnavailable`` if the queue cannot be reached."""
        try:
            if not self._ready:
                try:
                    self._client.create_queue()
                except ResourceExistsError:
                    pass
                self._ready = True
            self._client.send_message(encode_message(item))
        except AzureError as error:
            raise TargetUnavailable(
                f"could not enqueue work for '{item.secret_name}' ({type(error).__name__})"
            ) from None
