"""The managed identity token endpoint, in its App Service/Functions and IMDS dialects.

* App Service / Functions: ``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=...
  [&client_id=...]`` with header ``X-IDENTITY-HEADER: {IDENTITY_HEADER}``. Served at
  ``/msi/token``.
* IMDS: ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...
  [&client_id=...]`` with ``Metadata: true``. azure-identity sends it to
  ``$AZURE_POD_IDENTITY_AUTHORITY_HOST`` instead of 169.254.169.254 when that is set.

Tokens are RS256 JWTs signed by a key made at start-up, with ``aud`` = the normalised resource,
``oid``/``sub`` = the principal id, ``appid``/``azp`` = the client id, ``tid`` and
``iat``/``nbf``/``exp``. Emulated services check them with :meth:`IdentityService.validate`.
Token lifetimes use real time (not the movable clock): the SDK caches tokens by real time.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.wire import Request, Response

APP_SERVICE_PATH = "/msi/token"
IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_API_VERSIONS = frozenset({"2019-08-01"})
IMDS_API_VERSIONS = frozenset({"2018-02-01", "2019-08-01"})
DEFAULT_LIFETIME = timedelta(hours=24)
KEY_ID = "emulators-identity-1"


class InvalidToken(Exception):
    """A bearer token that must be refused; ``reason`` says why (never contains the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ManagedIdentity:
    """A user-assigned managed identity: the client (application) id and its principal id."""

    client_id: str
    principal_id: str


def normalise_resource(resource: str) -> str:
    """``https://vault.azure.net/`` and ``https://vault.azure.net/.default`` -> ``https://vault.azure.net``."""
    value = resource.strip()
    if value.endswith("/.default"):
        value = value[: -len("/.default")]
    return value.rstrip("/")


class IdentityService:
    """Issues and validates managed identity tokens. Thread-safe."""

    def __init__(self, tenant_id: str | None = None) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.issuer = f"https://sts.windows.net/{self.tenant_id}/"
        #: The value clients must send as ``X-IDENTITY-HEADER`` (``IDENTITY_HEADER``).
        self.identity_header = secrets.token_urlsafe(24)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._lock = threading.Lock()
        self._identities: dict[str, ManagedIdentity] = {}

    # -- identities -------------------------------------------------------------------------

    def add_identity(self, client_id: str | None = None) -> ManagedIdentity:
        """Create a user-assigned identity (``client_id`` generated when not given)."""
        identity = ManagedIdentity(
            client_id=(client_id or str(uuid.uuid4())).lower(), principal_id=str(uuid.uuid4())
        )
        with self._lock:
            if identity.client_id in self._identities:
                raise ValueError(f"identity {identity.client_id} already exists")
            self._identities[identity.client_id] = identity
        return identity

    def identity(self, client_id: str) -> ManagedIdentity | None:
        """The identity with ``client_id``, or ``None``."""
        with self._lock:
            return self._identities.get(client_id.lower())

    # -- tokens -----------------------------------------------------------------------------

    def issue_token(
        self, identity: ManagedIdentity, resource: str, issued_at: float | None = None
    ) -> tuple[str, int]:
        """A signed access token for ``identity`` and ``resource``, and its expiry (epoch s).

        Tokens live :data:`DEFAULT_LIFETIME`; ``issued_at`` (epoch seconds) lets tests mint
        tokens that are already expired.
        """
        now = int(time.time() if issued_at is None else issued_at)
        expires = now + int(DEFAULT_LIFETIME.total_seconds())
        claims = {
            "aud": normalise_resource(resource),
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "oid": identity.principal_id,
            "sub": identity.principal_id,
            "appid": identity.client_id,
            "azp": identity.client_id,
            "tid": self.tenant_id,
            "idtyp": "app",
            "ver": "1.0",
        }
        token = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KEY_ID})
        return token, expires

    def validate(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of ``token`` if it is ours, unexpired and for ``audience``.

        Raises :class:`InvalidToken` for a bad signature, wrong audience or issuer, expiry,
        a token not yet valid, or anything that is not a JWT.
        """
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=normalise_resource(audience),
                issuer=self.issuer,
                options={"require": ["exp", "iat", "nbf", "aud", "iss", "oid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token is expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("the token audience is not valid for this resource") from exc
        except jwt.InvalidIssuerError as exc:
            raise InvalidToken("the token issuer is not valid") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token signature is not valid") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the claim {exc.claim!r}") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is malformed") from exc
        return claims

    # -- HTTP -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer a token request in the App Service or the IMDS dialect."""
        if request.method != "GET":
            return Response.json(405, {"error": "invalid_request", "error_description": "GET only"})
        if request.path == APP_SERVICE_PATH:
            return self._app_service(request)
        if request.path == IMDS_PATH:
            return self._imds(request)
        return Response.json(404, {"error": "not_found", "error_description": "unknown path"})

    def _app_service(self, request: Request) -> Response:
        def error(status: int, message: str) -> Response:
            return Response.json(
                status,
                {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())},
            )

        sent = request.headers.get("x-identity-header")
        if sent is None:
            return error(400, "X-IDENTITY-HEADER header is missing.")
        if not hmac.compare_digest(sent.encode(), self.identity_header.encode()):
            return error(401, "X-IDENTITY-HEADER header is not valid.")
        query = request.query
        if query.get("api-version") not in APP_SERVICE_API_VERSIONS:
            return error(400, "The api-version is missing or not supported.")
        resource = query.get("resource")
        if not resource:
            return error(400, "The resource parameter is missing.")
        identity = self._select(query)
        if identity is None:
            return error(400, "Unable to load the proper Managed Identity.")
        token, expires = self.issue_token(identity, resource)
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_on": str(expires),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            },
        )

    def _imds(self, request: Request) -> Response:
        def error(message: str, status: int = 400) -> Response:
            return Response.json(status, {"error": "invalid_request", "error_description": message})

        if request.headers.get("metadata", "").lower() != "true":
            return error("Required metadata header not specified")
        query = request.query
        if query.get("api-version") not in IMDS_API_VERSIONS:
            return error("Invalid version specified or the version is not supported")
        resource = query.get("resource")
        if not resource:
            return error("Required audience parameter not specified")
        identity = self._select(query)
        if identity is None:
            return error("Identity not found")
        token, expires = self.issue_token(identity, resource)
        now = int(time.time())
        return Response.json(
            200,
            {
                "access_token": token,
                "refresh_token": "",
                "expires_in": str(expires - now),
                "expires_on": str(expires),
                "ext_expires_in": str(expires - now),
                "not_before": str(now),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": identity.client_id,
            },
        )

    def _select(self, query: dict[str, str]) -> ManagedIdentity | None:
        client_id = query.get("client_id")
        if client_id:
            return self.identity(client_id)
        object_id = query.get("object_id") or query.get("principal_id")
        if object_id:
            with self._lock:
                for identity in self._identities.values():
                    if identity.principal_id == object_id.lower():
                        return identity
            return None
        # No id given: Azure uses the system-assigned identity; there is one only if exactly
        # one identity exists here (a single-identity app), otherwise the request is ambiguous.
        with self._lock:
            if len(self._identities) == 1:
                return next(iter(self._identities.values()))
        return None
