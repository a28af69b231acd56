"""Names of the Key Vault tags this app reads and writes: the user-facing contract.

Users write the configuration tags into their vaults; keep these names stable.
"""

from __future__ import annotations

from datetime import UTC, datetime

PREFIX = "rotation-"

# Configuration, written by users on the secret's current version.
ROTATOR = "rotation-rotator"
TARGET = "rotation-target"
STRATEGY = "rotation-strategy"
VALIDITY_DAYS = "rotation-validity-days"
ADMIN_SECRET = "rotation-admin-secret"  # noqa: S105 (a tag name)
PASSWORD_POLICY = "rotation-password-policy"  # noqa: S105 (a tag name)
CONSUMERS = "rotation-consumers"
#: When sweeps and events may rotate: ``Sat,Sun 02:00-05:00 UTC`` (several, ``;``-separated).
WINDOW = "rotation-window"
#: At most this many rotations in flight on this secret's target host (overrides the setting).
MAX_PER_TARGET = "rotation-max-per-target"

# Rotator options: every other ``rotation-<name>`` tag reaches the rotator as
# ``context.options["<name>"]`` (see :func:`option`). These are the built-in rotators' ones.
TLS_CA = "rotation-tls-ca"
TLS = "rotation-tls"
SSLMODE = "rotation-sslmode"
PROFILE = "rotation-profile"
SQL_VERIFY = "rotation-sql-verify"
ACCOUNT_HOST = "rotation-account-host"
#: ldap: ``openldap`` (RFC 3062 password modify) or ``active-directory`` (``unicodePwd``).
LDAP_DIALECT = "rotation-ldap-dialect"
#: ldap: the attribute of an account's RDN (``uid``; ``cn`` for Active Directory).
LDAP_RDN = "rotation-ldap-rdn"
#: ssh: the host keys the target may present (public keys or SHA256 fingerprints).
SSH_HOST_KEY = "rotation-ssh-host-key"
#: ssh: the authorized_keys file to edit (relative paths start at the login's home).
SSH_AUTHORIZED_KEYS = "rotation-ssh-authorized-keys"
#: entra-app-secret: the cloud (``public``, ``usgov``, ``china``) and the client secrets'
#: lifetime in days.
ENTRA_CLOUD = "rotation-entra-cloud"
ENTRA_SECRET_DAYS = "rotation-entra-secret-days"  # noqa: S105 (a tag name)
#: Account-key rotators: what the secret holds, ``key`` (default) or ``connection-string``.
KEY_FORMAT = "rotation-key-format"
#: Cosmos DB: which key pair, ``read-write`` (default) or ``read-only``.
KEY_KIND = "rotation-key-kind"


def option(tag: str) -> str:
    """The key under which a rotator option tag reaches ``context.options``."""
    return tag.removeprefix(PREFIX)


# On an admin secret: which managed secrets may use it (comma-separated names, or "*"), and,
# optionally, the only target it may be sent to. Without this opt-in, anyone allowed to edit
# one secret's tags could point the app's admin credentials at a host of their choosing.
ADMIN_FOR = "rotation-admin-for"

CONFIG_TAGS = frozenset(
    {
        ROTATOR,
        TARGET,
        STRATEGY,
        VALIDITY_DAYS,
        ADMIN_SECRET,
        PASSWORD_POLICY,
        CONSUMERS,
        WINDOW,
        MAX_PER_TARGET,
    }
)

# State, written by the engine on the version it commits (never copied to the next version).
STATE = "rotation-state"
PREVIOUS_VERSION = "rotation-previous-version"
ROTATED_AT = "rotation-rotated-at"
ROTATION_ID = "rotation-id"
CONSUMERS_SEEN = "rotation-consumers-seen"
STATE_TAGS = frozenset({STATE, PREVIOUS_VERSION, ROTATED_AT, ROTATION_ID, CONSUMERS_SEEN})

# On the staging secret (``<name>-rotation-staged``) that holds a candidate before commit.
STAGED_FOR = "rotation-staged-for"
STAGED_FROM_VERSION = "rotation-staged-from-version"
STAGE = "rotation-stage"

#: Key Vault refuses more tags than this on one secret.
MAX_TAGS = 15


def format_time(moment: datetime) -> str:
    """How the engine writes a time into a tag (``rotation-rotated-at``): ISO 8601, seconds."""
    return moment.isoformat(timespec="seconds")


def parse_time(value: str | None) -> datetime | None:
    """A time written by :func:`format_time`, timezone-aware; None if absent or malformed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
