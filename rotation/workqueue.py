"""Fan-out messages: one Storage queue message per due secret, consumed by the queue worker."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, ResourceExistsError

from rotation import names
from rotation.errors import ConfigurationError, InvalidName, TargetUnavailable
from rotation.outcome import RotationRequest, Trigger
from rotation.sweep import DueSecret

#: Far more than any message this app writes (a URL, a name, a version and a reason).
MAX_MESSAGE_BYTES = 8 * 1024


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


def decode_message(body: str | bytes) -> RotationRequest:
    """The engine request in a queue message; ``ConfigurationError`` (and nothing else) if it
    is malformed: not UTF-8, longer than :data:`MAX_MESSAGE_BYTES` (bytes, or characters of
    text), not a JSON object, or its ``vault_url`` / ``secret_name`` / ``version`` are not
    what Key Vault issues (an ``https://<vault>.vault.azure.net`` URL, a secret name, a
    version id; see :mod:`rotation.names`). Whether the vault is configured is the caller's
    check."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise ConfigurationError(f"queue message is larger than {MAX_MESSAGE_BYTES} bytes")
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError("queue message is not UTF-8 text") from None
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        raise ConfigurationError("queue message is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigurationError("queue message is not a JSON object")
    vault_url, name, version = data.get("vault_url"), data.get("secret_name"), data.get("version")
    if not isinstance(vault_url, str) or not isinstance(name, str):
        raise ConfigurationError("queue message needs string 'vault_url' and 'secret_name'")
    if version is not None and not isinstance(version, str):
        raise ConfigurationError("queue message 'version' must be a string")
    try:
        request = RotationRequest(
            vault_url=names.vault_url(vault_url),
            secret_name=names.secret_name(name),
            trigger=Trigger.QUEUE,
            expected_version=None if version is None else names.version(version),
        )
    except InvalidName as error:
        raise ConfigurationError(f"queue message: {error}") from None
    return request


if TYPE_CHECKING:
    from azure.storage.queue import QueueClient


class QueueDispatcher:
    """Sends due secrets to the work queue. The client must base64-encode (as Functions reads)."""

    def __init__(self, client: QueueClient) -> None:
        self._client = client
        self._ready = False

    def send(self, item: DueSecret, *, delay_seconds: int = 0) -> None:
        """Enqueue ``item``, hidden for ``delay_seconds``; ``TargetUnavailable`` if the queue
        cannot be reached."""
        try:
            if not self._ready:
                try:
                    self._client.create_queue()
                except ResourceExistsError:
                    pass
                self._ready = True
            self._client.send_message(
                encode_message(item), visibility_timeout=max(0, delay_seconds) or None
            )
        except AzureError as error:
            raise TargetUnavailable(
                f"could not enqueue work for '{item.secret_name}' ({type(error).__name__})"
            ) from None
