"""Azurite started by the fixture: blob leases through azure-storage-blob."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

from emulators.azurite import Azurite


def test_blob_lease_acquire_and_conflict(azurite: Azurite) -> None:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"locks-{uuid.uuid4().hex[:12]}")
    try:
        blob = container.upload_blob("secret-lock", b"")
        lease = blob.acquire_lease(lease_duration=15)
        with pytest.raises(ResourceExistsError) as info:
            blob.acquire_lease(lease_duration=15)
        assert info.value.status_code == 409
        lease.release()
        blob.acquire_lease(lease_duration=15).release()
    finally:
        container.delete_container()
