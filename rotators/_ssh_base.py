"""What the ``ssh`` and ``ssh-password`` rotators share: the parsed host, a login to it
(host key pinned, see :func:`rotators._ssh_session.login`) and the one-login rule."""

from __future__ import annotations

from typing import Any, TypeVar

from rotation.credential import Credential
from rotation.errors import ConfigurationError
from rotators._base import TargetRotator
from rotators._ssh_session import login
from rotators._ssh_target import SshHost, check_username

HostT = TypeVar("HostT", bound=SshHost)


class SshRotator(TargetRotator[HostT]):
    """A rotator whose target is an sshd (:class:`SshHost` or a richer settings type)."""

    @property
    def _server(self) -> str:
        """The target as messages show it (``host:port``)."""
        return str(self.target.endpoint)

    def _connect(self, user: str, auth: Any, *credentials: Credential) -> Any | None:
        """A logged-in transport as ``user`` with ``auth`` (key or password), ``None`` if
        refused; the ``credentials``' secrets are redacted from any error."""
        return login(
            self.target.endpoint,
            self.target.pins,
            user,
            auth,
            secret=self.context.secret_name,
            redact=self._secrets(*credentials),
        )

    def _same_user(self, first: Credential, second: Credential) -> str:
        """The one login both credentials name (checked), else ``ConfigurationError``."""
        if first.username == second.username:
            return check_username(second.username, secret=self.context.secret_name)
        raise ConfigurationError(
            f"{self.kind} rotates one login: the current and new credentials name different users",
            secret=self.context.secret_name,
        )
