"""Proof that a client secret works: a client-credentials token request, as consumers do.

:func:`client_secret_logs_in` asks ``azure.identity.ClientSecretCredential`` (MSAL: tenant
discovery, then ``POST /{tenant}/oauth2/v2.0/token``) for a token with the secret. The
identity platform answers a refused login with an ``AADSTS`` code; azure-identity wraps every
failure, network ones included, in ``ClientAuthenticationError``, so the verdict reads the
code: a refusal (an ``AADSTS`` code other than a transient one, or a tenant whose metadata
does not exist) -> ``VerificationFailed``; anything else -> ``TargetUnavailable``.
"""

from __future__ import annotations

import re

from rotation.errors import TargetUnavailable, VerificationFailed
from rotation.sanitize import sanitize_error

#: AADSTS codes that say "try again later", not "refused".
TRANSIENT_CODES = frozenset({"90033", "50196", "900432"})
_AADSTS = re.compile(r"AADSTS(\d+)")
_NO_TENANT = "Unable to get authority configuration"


def client_secret_logs_in(
    *, authority: str, tenant_id: str, client_id: str, secret: str, scope: str
) -> None:
    """Return if the identity platform issues a token for ``client_id`` with ``secret``;
    raise ``VerificationFailed`` if it refuses, ``TargetUnavailable`` if it cannot answer."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    where = f"application {client_id} in tenant {tenant_id}"
    if not secret:
        raise VerificationFailed(f"the credential for {where} holds no client secret")
    try:
        credential = ClientSecretCredential(tenant_id, client_id, secret, authority=authority)
    except ValueError as error:  # azure-identity checks the tenant id's characters
        raise VerificationFailed(
            f"no token can be asked for {where}: {sanitize_error(error, [secret])}"
        ) from None
    try:
        credential.get_token(scope)
    except ClientAuthenticationError as error:
        detail = sanitize_error(error, [secret])
        codes = set(_AADSTS.findall(str(error)))
        if (codes and not codes & TRANSIENT_CODES) or _NO_TENANT in str(error):
            raise VerificationFailed(f"the identity platform refused {where}: {detail}") from None
        raise TargetUnavailable(f"cannot get a token for {where} now: {detail}") from None
    except (AzureError, ValueError) as error:
        detail = sanitize_error(error, [secret])
        raise TargetUnavailable(f"cannot get a token for {where} now: {detail}") from None
    finally:
        credential.close()
