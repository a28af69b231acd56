"""Test code's own data-plane checks of account keys, independent of the rotators: a real
SharedKey-signed blob call and a real ``azure-cosmos`` client, through the stack's proxy."""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError
from azure.cosmos import CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError
from azure.storage.blob import BlobServiceClient


def blob_accepts(account: str, key: str) -> bool:
    """``Get Blob Service Properties`` with ``key``: True if served, False on 403."""
    service = BlobServiceClient(
        f"https://{account}.blob.core.windows.net",
        credential={"account_name": account, "account_key": key},
        retry_total=0,
    )
    try:
        service.get_service_properties()
    except HttpResponseError as error:
        if error.status_code == 403:
            return False
        raise
    finally:
        service.close()
    return True


def cosmos_accepts(account: str, key: str) -> bool:
    """``CosmosClient`` with ``key`` and one database listing: True if served, False on 401."""
    try:
        endpoint = f"https://{account}.documents.azure.com:443/"
        with CosmosClient(endpoint, credential=key, retry_total=0) as client:
            list(client.list_databases())
    except CosmosHttpResponseError as error:
        if error.status_code == 401:
            return False
        raise
    return True
