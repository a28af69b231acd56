"""The emulated directory's state: applications, their owners and client secrets, app roles.

Shared by the Graph endpoint (:mod:`emulators.graph.service`) and the login endpoint
(:mod:`emulators.graph.login`). Client secrets are kept as SHA-256 hashes only: the plain
text leaves the directory once, in the answer that minted it. Times are the shared emulated
clock's. Thread-safe (one lock).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from emulators.clock import Clock

#: Graph's default lifetime of a password added without ``endDateTime``.
DEFAULT_LIFETIME = timedelta(days=730)
#: How many client secrets one application may hold here (the emulator's limit; Graph
#: refuses past its own limit with a 400 as well).
MAX_PASSWORDS = 8
READ_WRITE_OWNED_BY = "Application.ReadWrite.OwnedBy"
READ_WRITE_ALL = "Application.ReadWrite.All"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "-._~"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _mint_secret_text() -> str:
    """A 40-character secret in the shape Entra ID issues (``xxx8Q~`` and 34 more)."""
    head = "".join(secrets.choice(string.ascii_letters) for _ in range(3))
    return head + "8Q~" + "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(34))


@dataclass
class Password:
    """One client secret of an application (``passwordCredential``), hash only."""

    key_id: str
    display_name: str | None
    hint: str
    secret_hash: str
    start: datetime
    end: datetime

    def live_at(self, moment: datetime) -> bool:
        """Whether the secret logs in at ``moment`` (started and not expired)."""
        return self.start <= moment < self.end


@dataclass
class Application:
    """An app registration: object id, application (client) id, owners and passwords."""

    object_id: str
    app_id: str
    display_name: str
    #: Object id of the app's service principal: the ``oid`` of the tokens it gets.
    principal_id: str
    owners: set[str] = field(default_factory=set)
    passwords: list[Password] = field(default_factory=list)


class Denied(StrEnum):
    """Why the directory refuses a caller access to an application."""

    NO_PERMISSION = "no-permission"
    NOT_OWNER = "not-owner"


class SecretCheck(StrEnum):
    """The verdict on a client-credentials login."""

    OK = "ok"
    UNKNOWN_APP = "unknown-app"
    INVALID = "invalid"
    EXPIRED = "expired"


class Directory:
    """Applications and the app roles granted to principals (managed identities)."""

    def __init__(self, clock: Clock, *, max_passwords: int = MAX_PASSWORDS) -> None:
        self.clock = clock
        self.max_passwords = max_passwords
        self.lock = threading.RLock()
        self._apps: dict[str, Application] = {}
        self._roles: dict[str, set[str]] = {}

    # -- set-up (test helpers) ---------------------------------------------------------------

    def create_application(self, display_name: str, *, owners: tuple[str, ...] = ()) -> Application:
        """A new app registration owned by ``owners`` (principal object ids)."""
        app = Application(
            object_id=str(uuid.uuid4()),
            app_id=str(uuid.uuid4()),
            display_name=display_name,
            principal_id=str(uuid.uuid4()),
            owners={o.lower() for o in owners},
        )
        with self.lock:
            self._apps[app.object_id] = app
        return app

    def add_owner(self, object_id: str, principal_id: str) -> None:
        """Make ``principal_id`` an owner of the application."""
        with self.lock:
            self._apps[object_id].owners.add(principal_id.lower())

    def grant(self, principal_id: str, role: str) -> None:
        """Grant the Graph app role ``role`` (``Application.ReadWrite.OwnedBy``...)."""
        with self.lock:
            self._roles.setdefault(principal_id.lower(), set()).add(role)

    # -- queries -----------------------------------------------------------------------------

    def find(
        self, *, object_id: str | None = None, app_id: str | None = None
    ) -> Application | None:
        """The application with this object id or application id, or ``None``."""
        with self.lock:
            if object_id is not None:
                return self._apps.get(object_id.lower())
            for app in self._apps.values():
                if app_id is not None and app.app_id == app_id.lower():
                    return app
            return None

    def denied(self, principal_id: str, app: Application | None) -> Denied | None:
        """Why ``principal_id`` may not read or write ``app`` (``None``: allowed).

        ``Application.ReadWrite.All`` allows any application; ``...OwnedBy`` only those the
        principal owns. ``app`` ``None`` checks the permission alone.
        """
        with self.lock:
            roles = self._roles.get(principal_id.lower(), set())
            if READ_WRITE_ALL in roles:
                return None
            if READ_WRITE_OWNED_BY not in roles:
                return Denied.NO_PERMISSION
            if app is not None and principal_id.lower() not in app.owners:
                return Denied.NOT_OWNER
            return None

    def check_secret(self, app_id: str, secret: str) -> SecretCheck:
        """The verdict on logging in as ``app_id`` with ``secret`` now."""
        now = self.clock.now()
        with self.lock:
            app = self.find(app_id=app_id)
            if app is None:
                return SecretCheck.UNKNOWN_APP
            digest = _hash(secret)
            for password in app.passwords:
                if hmac.compare_digest(password.secret_hash, digest):
                    return SecretCheck.OK if password.live_at(now) else SecretCheck.EXPIRED
            return SecretCheck.INVALID

    # -- changes -----------------------------------------------------------------------------

    def add_password(
        self,
        app: Application,
        display_name: str | None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> tuple[str, Password]:
        """Mint a client secret; returns ``(secret text, record)``. ``ValueError`` when the
        application holds :attr:`max_passwords` already or ``end`` is not after ``start``."""
        begin = start or self.clock.now()
        finish = end or begin + DEFAULT_LIFETIME
        if finish <= begin:
            raise ValueError("endDateTime must be after startDateTime")
        text = _mint_secret_text()
        record = Password(str(uuid.uuid4()), display_name, text[:3], _hash(text), begin, finish)
        with self.lock:
            if len(app.passwords) >= self.max_passwords:
                raise ValueError(
                    f"the application already has the maximum of {self.max_passwords} passwords"
                )
            app.passwords.append(record)
        return text, record

    def remove_password(self, app: Application, key_id: str) -> bool:
        """Remove the password ``key_id``; ``False`` when the application has none such."""
        with self.lock:
            kept = [p for p in app.passwords if p.key_id != key_id.lower()]
            removed = len(kept) != len(app.passwords)
            app.passwords = kept
            return removed
