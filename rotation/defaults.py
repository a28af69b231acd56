"""Every default of the app in one place; app settings and tags override them.

Documented in the README's tables; change them here only.
"""

from __future__ import annotations

#: Logins tried before a candidate counts as refused (ROTATION_VERIFY_ATTEMPTS).
VERIFY_ATTEMPTS = 5
#: First pause between verification attempts, doubled each time
#: (ROTATION_VERIFY_BACKOFF_SECONDS).
VERIFY_BACKOFF_SECONDS = 0.5
#: The longest pause between two verification attempts, in seconds (the doubling stops).
VERIFY_MAX_BACKOFF_SECONDS = 30.0
#: How long consumers get to move to a new version (ROTATION_CONSUMER_DEADLINE_HOURS).
CONSUMER_DEADLINE_HOURS = 24.0
#: Seconds of a rotation-lock lease (ROTATION_LOCK_LEASE_SECONDS; Azure allows 15-60).
LOCK_LEASE_SECONDS = 60
#: Expiry of each new version, in days (tag rotation-validity-days).
VALIDITY_DAYS = 90
#: Key Vault raises SecretNearExpiry this many days before expiry; a secret is due then.
NEAR_EXPIRY_DAYS = 30
#: Rotations in flight per target host at once (ROTATION_MAX_PER_TARGET; tag
#: rotation-max-per-target); 0 means no limit.
MAX_PER_TARGET = 4
#: How long a queue message that found its target's limit reached waits before it is seen
#: again (seconds; the message is re-enqueued with this visibility delay).
LIMIT_DEFER_SECONDS = 120
#: A deferred rotation runs outside its window anyway when the secret would expire less
#: than this many hours after the next window opens (time to rotate and for consumers).
WINDOW_EXPIRY_MARGIN_HOURS = 24.0
#: Secrets per page of the vault-wide status (Key Vault lists at most 25 per page).
STATUS_PAGE_SIZE = 25
#: The sweep spreads the work it enqueues over this many seconds (ROTATION_SWEEP_SPREAD_SECONDS;
#: keep it below the sweep period). 0 enqueues everything visible at once.
SWEEP_SPREAD_SECONDS = 600
#: Port of an ``ssh`` target without one.
SSH_PORT = 22
#: The file the ``ssh`` rotator edits unless tag rotation-ssh-authorized-keys names another
#: (relative to the login's home directory, where SFTP starts).
SSH_AUTHORIZED_KEYS = ".ssh/authorized_keys"
#: Lifetime of a client secret the entra-app-secret rotator adds, in days (tag
#: rotation-entra-secret-days); longer than the Key Vault version's validity.
ENTRA_SECRET_DAYS = 180
#: The entra-app-secret rotator refuses to add a client secret to an application that
#: already holds this many (Graph caps them per application; two are in use while rotating).
ENTRA_MAX_SECRETS = 8
#: The rotator options' defaults (docs/rotators.md gives each rotator's table).
#: azure-sql-admin: how a new admin password is verified (tag rotation-sql-verify).
SQL_VERIFY = "management"
#: mysql: the host part of the managed account (tag rotation-account-host).
MYSQL_ACCOUNT_HOST = "%"
#: ldap: how the directory changes passwords (tag rotation-ldap-dialect).
LDAP_DIALECT = "openldap"
#: entra-app-secret: the cloud whose Graph and login hosts are used (tag rotation-entra-cloud).
ENTRA_CLOUD = "public"
#: Account-key rotators: what the secret holds, the key or a connection string (tag
#: rotation-key-format).
KEY_FORMAT = "key"
#: cosmos-db-key: which key pair rotates (tag rotation-key-kind).
COSMOS_KEY_KIND = "read-write"
#: Seconds an http-probe consumer check waits for its answer (option timeout_seconds).
HTTP_PROBE_TIMEOUT_SECONDS = 5
