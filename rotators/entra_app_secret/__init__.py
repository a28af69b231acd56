"""The ``entra-app-secret`` rotator: client secrets of an Entra ID application, through
Microsoft Graph (``graph``), verified by a client-credentials token request (``login``)."""

from rotators.entra_app_secret.rotator import EntraAppSecretRotator

__all__ = ["EntraAppSecretRotator"]
