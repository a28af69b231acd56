"""Every default of the app in one place; app settings and tags override them.

Documented in the README's tables; change them here only.
"""

from __future__ import annotations

#: Logins tried before a candidate counts as refused (ROTATION_VERIFY_ATTEMPTS).
VERIFY_ATTEMPTS = 5
#: First pause between verification attempts, doubled each time
#: (ROTATION_VERIFY_BACKOFF_SECONDS).
VERIFY_BACKOFF_SECONDS = 0.5
#: How long consumers get to move to a new version (ROTATION_CONSUMER_DEADLINE_HOURS).
CONSUMER_DEADLINE_HOURS = 24.0
#: Seconds of a rotation-lock lease (ROTATION_LOCK_LEASE_SECONDS; Azure allows 15-60).
LOCK_LEASE_SECONDS = 60
#: Expiry of each new version, in days (tag rotation-validity-days).
VALIDITY_DAYS = 90
#: Key Vault raises SecretNearExpiry this many days before expiry; a secret is due then.
NEAR_EXPIRY_DAYS = 30
