"""Key Vault's error answers: ``{"error": {"code", "message", "innererror"?}}``."""

from __future__ import annotations

from emulators.wire import Response


class KeyVaultError(Exception):
    """An error Key Vault answers with. Messages name secrets, never their values."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        inner_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.headers = headers or {}

    def response(self) -> Response:
        """This error as Key Vault's JSON response."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code}
        return Response.json(self.status, {"error": error}, self.headers)


def bad_parameter(message: str) -> KeyVaultError:
    """400 BadParameter."""
    return KeyVaultError(400, "BadParameter", message)


def secret_not_found(name: str, version: str | None = None) -> KeyVaultError:
    """404 SecretNotFound, worded as Key Vault words it."""
    what = f"(name/id) {name}" if not version else f"(name/id) {name}/{version}"
    return KeyVaultError(
        404,
        "SecretNotFound",
        f"A secret with {what} was not found in this key vault. If you recently deleted this "
        "secret you may be able to recover it using the correct recovery command. For help "
        "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )


def deleted_secret_not_found(name: str) -> KeyVaultError:
    """404 SecretNotFound for a name that is not soft-deleted."""
    return KeyVaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


def conflict_deleted(name: str) -> KeyVaultError:
    """409 Conflict: the name is soft-deleted and cannot be reused."""
    return KeyVaultError(
        409,
        "Conflict",
        f"Secret {name} is currently in a deleted but recoverable state, and its name cannot "
        "be reused; in this state, the secret can only be recovered or purged.",
        "ObjectIsDeletedButRecoverable",
    )


def disabled(operation: str) -> KeyVaultError:
    """403 Forbidden: the version is disabled."""
    return KeyVaultError(
        403,
        "Forbidden",
        f"Operation {operation} is not allowed on a disabled secret.",
        "SecretDisabled",
    )
