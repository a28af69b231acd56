"""A minimal Cosmos DB data plane, ``https://<account>.documents.azure.com``, that checks
master-key signatures as Cosmos DB does, against the emulated accounts' current keys.

What the real ``azure-cosmos`` SDK does first is served: ``GET /`` (read the database
account, which ``CosmosClient(url, credential=key)`` does when it is made) and ``GET /dbs``
(list databases, always empty here). Every request must carry ``x-ms-date`` and
``authorization: type=master&ver=1.0&sig=<base64>`` (URL-encoded), where ``sig`` is the
HMAC-SHA256, keyed with the base64-decoded account key, of
``"{verb}\\n{resource type}\\n{resource link}\\n{x-ms-date}\\n{date}\\n"`` (verb, type and
dates lower-cased). Reads accept any of the four keys, writes only the read-write two.
Refusals answer 401 ``Unauthorized`` as Cosmos DB does; an unknown account 404.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Protocol
from urllib.parse import unquote

from emulators.arm.cosmos import KEY_FIELDS, READ_WRITE, CosmosAccount, CosmosAccounts
from emulators.wire import Request, Response, Service

HOST_PATTERN = "*.documents.azure.com"
#: Path -> (resource type, resource link) as the SDK signs them.
_RESOURCES = {"/": ("", ""), "/dbs": ("dbs", "")}


class _Registry(Protocol):
    def register_host(self, host_or_pattern: str, service: Service) -> object: ...


def signature(key: str, verb: str, resource_type: str, link: str, date: str) -> str:
    """The master-key signature of one request (see the module docstring)."""
    text = f"{verb.lower()}\n{resource_type.lower()}\n{link}\n{date.lower()}\n\n"
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class CosmosDataPlane:
    """Answers the account read and database list of the accounts in ``accounts``."""

    def __init__(self, accounts: CosmosAccounts) -> None:
        self._accounts = accounts

    @classmethod
    def attach(cls, stack: _Registry, accounts: CosmosAccounts) -> CosmosDataPlane:
        """A data plane for ``accounts``, served through ``stack``'s proxy."""
        plane = cls(accounts)
        stack.register_host(HOST_PATTERN, plane)
        return plane

    def handle(self, request: Request) -> Response:
        """Check the signature, then answer the account read or the database list."""
        account = self._accounts.named(request.host.split(".", 1)[0])
        if account is None:
            return _error(404, "NotFound", "The account does not exist.")
        resource = _RESOURCES.get(request.path.rstrip("/") or "/")
        if resource is None or request.method.upper() != "GET":
            return _error(404, "NotFound", "Only the account read and the database list exist.")
        if not self._authorized(request, account, *resource):
            return _error(
                401,
                "Unauthorized",
                "The input authorization token can't serve the request. Please check that the "
                "expected payload is built as per the protocol, and check the key being used.",
            )
        if resource[0] == "dbs":
            return _json({"_rid": "", "Databases": [], "_count": 0})
        location = {"name": "West Europe", "databaseAccountEndpoint": account.endpoint}
        return _json(
            {
                "_self": "",
                "id": account.name,
                "_rid": f"{account.name}.documents.azure.com",
                "_dbs": "//dbs/",
                "writableLocations": [location],
                "readableLocations": [location],
                "enableMultipleWriteLocations": False,
                "userConsistencyPolicy": {"defaultConsistencyLevel": "Session"},
                "userReplicationPolicy": {"minReplicaSetSize": 3, "maxReplicasetSize": 4},
                "systemReplicationPolicy": {"minReplicaSetSize": 3, "maxReplicasetSize": 4},
                "readPolicy": {"primaryReadCoefficient": 1, "secondaryReadCoefficient": 1},
                "queryEngineConfiguration": "{}",
            }
        )

    def _authorized(
        self, request: Request, account: CosmosAccount, resource_type: str, link: str
    ) -> bool:
        # Split by hand: the signature is base64, whose '+' a query parser would turn into ' '.
        parts = unquote(request.headers.get("authorization", "")).split("&")
        fields = dict(p.partition("=")[::2] for p in parts)
        date = request.headers.get("x-ms-date", "")
        if fields.get("type") != "master" or not date or not fields.get("sig"):
            return False
        sent = fields["sig"]
        kinds = KEY_FIELDS if request.method.upper() == "GET" else READ_WRITE
        for kind in kinds:
            try:
                expected = signature(
                    account.keys.value(kind), request.method, resource_type, link, date
                )
            except binascii.Error:
                continue
            if hmac.compare_digest(expected, sent):
                return True
        return False


def _json(body: object) -> Response:
    return Response(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"code": code, "message": message}).encode()
    return Response(status, body, {"Content-Type": "application/json"})
