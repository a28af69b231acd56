"""The emulated Microsoft identity platform, ``https://login.microsoftonline.com``: what
``azure.identity.ClientSecretCredential`` (MSAL) calls for a client-credentials token.

- ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the tenant's metadata (MSAL's
  tenant discovery); an unknown tenant -> ``400 invalid_tenant`` (``AADSTS90002``);
- ``GET /common/discovery/instance``: instance metadata (MSAL asks it for hosts it does not
  know; answered for completeness);
- ``POST /{tenant}/oauth2/v2.0/token`` (form: ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``, ``scope``): an access token signed by the identity
  service for the application, if the secret is one of the application's live (not removed,
  not expired) client secrets. Else ``401 invalid_client`` (``AADSTS7000215`` invalid
  secret, ``AADSTS7000222`` expired secret) or ``400 unauthorized_client`` (``AADSTS700016``
  unknown application). Error descriptions never echo the secret.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from emulators.faults import Operation
from emulators.graph.directory import Directory, SecretCheck
from emulators.identity import IdentityService, ManagedIdentity
from emulators.wire import Request, Response

HOST = "login.microsoftonline.com"
_BASE = f"https://{HOST}"
_TENANT_PATH = re.compile(
    r"^/(?P<tenant>[^/]+)/(?:v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/token)$"
)
TOKEN_LIFETIME_S = 3599
_OPENID = "v2.0/.well-known/openid-configuration"

_REFUSALS: dict[SecretCheck, tuple[int, str, int, str]] = {
    SecretCheck.INVALID: (
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        "client secret value, not the client secret ID.",
    ),
    SecretCheck.EXPIRED: (
        401,
        "invalid_client",
        7000222,
        "The provided client secret keys for app '{app}' are expired.",
    ),
    SecretCheck.UNKNOWN_APP: (
        400,
        "unauthorized_client",
        700016,
        "Application with identifier '{app}' was not found in the directory.",
    ),
}


def _oauth_error(status: int, error: str, code: int, description: str) -> Response:
    return Response.json(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {uuid.uuid4()}",
            "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
    )


class LoginService:
    """The tenant metadata and token endpoints for the identity service's one tenant."""

    def __init__(self, directory: Directory, identity: IdentityService) -> None:
        self.directory = directory
        self.identity = identity

    def describe(self, request: Request) -> Operation | None:
        """``openid_configuration``, ``instance_discovery`` or ``token`` (for fault rules)."""
        if request.path == "/common/discovery/instance":
            return Operation("instance_discovery")
        if request.path.endswith("/token"):
            return Operation("token")
        if request.path.endswith("/openid-configuration"):
            return Operation("openid_configuration")
        return None

    def handle(self, request: Request) -> Response:
        """Answer one request (see the module docstring)."""
        if request.path == "/common/discovery/instance" and request.method == "GET":
            return self._instance_discovery()
        match = _TENANT_PATH.match(request.path)
        if match is None:
            return _oauth_error(404, "invalid_request", 90027, "The request path is not known.")
        tenant = match["tenant"].lower()
        if tenant not in (self.identity.tenant_id, "organizations", "common"):
            return _oauth_error(400, "invalid_tenant", 90002, f"Tenant '{tenant[:64]}' not found.")
        if request.path.endswith("/token"):
            if request.method != "POST":
                return _oauth_error(
                    405, "invalid_request", 900561, "The endpoint only accepts POST."
                )
            return self._token(request)
        if request.method != "GET":
            return _oauth_error(405, "invalid_request", 900561, "The endpoint only accepts GET.")
        return Response.json(200, self._metadata(self.identity.tenant_id))

    def _metadata(self, tenant: str) -> dict[str, Any]:
        root = f"{_BASE}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "jwks_uri": f"{_BASE}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }

    def _instance_discovery(self) -> Response:
        tenant = self.identity.tenant_id
        return Response.json(
            200,
            {
                "tenant_discovery_endpoint": f"{_BASE}/{tenant}/{_OPENID}",
                "api-version": "1.1",
                "metadata": [
                    {
                        "preferred_network": HOST,
                        "preferred_cache": "login.windows.net",
                        "aliases": [HOST, "login.windows.net", "login.microsoft.com"],
                    }
                ],
            },
        )

    def _token(self, request: Request) -> Response:
        try:
            form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8")).items()}
        except UnicodeDecodeError:
            form = {}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", 70003, "Only client_credentials is emulated."
            )
        app_id, secret, scope = (form.get(k, "") for k in ("client_id", "client_secret", "scope"))
        if not app_id or not secret or not scope.endswith("/.default"):
            return _oauth_error(
                400, "invalid_request", 900144, "client_id, client_secret and scope are required."
            )
        verdict = self.directory.check_secret(app_id, secret)
        if verdict is not SecretCheck.OK:
            status, error, code, text = _REFUSALS[verdict]
            return _oauth_error(status, error, code, text.format(app=app_id[:64]))
        app = self.directory.find(app_id=app_id)
        assert app is not None
        token, _ = self.identity.issue_token(
            ManagedIdentity(client_id=app.app_id, principal_id=app.principal_id), scope
        )
        return Response.json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "ext_expires_in": TOKEN_LIFETIME_S,
                "access_token": token,
            },
        )
