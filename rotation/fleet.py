"""Vault-wide status: every managed secret of one vault, a page at a time, never a value.

``GET /api/rotations/{vault}`` (and ``python -m rotation status VAULT``) answers one page of
the vault's listing: **one Key Vault list call per page and nothing per secret**. Everything
shown comes from the listing's tags and attributes (state tags, expiry, consumer sightings,
configuration tags parsed by the real parser), and from the staging companions listed on the
same page. Key Vault's list answers carry no version ids, so ``version`` is null here (the
single-secret status names the current version). A companion listed on another page than its
secret is reported in that page's ``orphan_staged`` list: shown elsewhere, never hidden.

Health of each secret (``health``, worst first; the page sorts by it):

==================  ======================================================================
``misconfigured``   its tags do not parse (``problem`` says which tag and why)
``expired``         its current version expired: rotation has been failing
``failing``         a staged candidate of the current version is open: a rotation started
                    and did not finish (the sweep resumes it; see the single-secret status)
``overdue``         consumers did not move by the deadline; the old credential is kept
``due``             near expiry (or no expiry): the next sweep rotates it
``deferred``        due, but waiting for its ``rotation-window`` (``next_due`` says when)
``awaiting``        committed, consumers still moving (``consumers_pending``)
``disabled``        the current version is disabled; the app leaves it alone
``ok``              nothing to do until ``next_due``
==================  ======================================================================

Doctor (``check=true``) adds, per secret, the rotator's own configuration check
(``Rotator.check_config``: the target parses, the strategy and options are supported) and
the admin opt-in (``rotation-admin-for`` / pinned ``rotation-target`` on the admin secret)
and that every consumer named in ``rotation-consumers`` is defined,
still without touching any target and without reading any value. The admin secret's tags are
taken from the same page when it is listed there; otherwise its properties are read (one
call per distinct admin secret per page, never its value): the only extra calls doctor makes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from rotation import defaults as D
from rotation import tags as T
from rotation.config import SecretConfig, is_managed, parse_config
from rotation.credential import Credential
from rotation.engine import _check_admin_opt_in
from rotation.errors import ConfigurationError, InvalidName, RotationError
from rotation.numbers import whole_number
from rotation.registry import RotatorRegistry
from rotation.rotator import RotatorContext
from rotation.staging import needs_work
from rotation.states import OPEN_STAGES, UNFINISHED_STATES, RotationState
from rotation.status import consumers_status
from rotation.vault import KeyVaultStore, SecretListing, SecretSnapshot, SecretStore
from rotation.windows import decide, next_due

#: Worst first: the order of the status page's default sort.
HEALTH_ORDER = (
    "misconfigured",
    "expired",
    "failing",
    "overdue",
    "due",
    "deferred",
    "awaiting",
    "disabled",
    "ok",
)
MAX_PAGE_SIZE = D.STATUS_PAGE_SIZE
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class FleetContext:
    """What a status page needs besides the store: rotators, the clock and the due rule."""

    registry: RotatorRegistry
    now: datetime
    near_expiry: timedelta = timedelta(days=D.NEAR_EXPIRY_DAYS)
    #: Raises ConfigurationError for consumers the app has no definition for (doctor).
    check_consumers: Callable[[SecretConfig], None] | None = None


def page_size(raw: str | None) -> int:
    """The ``page_size`` query parameter: 1 to 25 (Key Vault's page limit); default 25."""
    if raw is None or raw == "":
        return MAX_PAGE_SIZE
    size = whole_number(raw, 1, MAX_PAGE_SIZE)
    if size is None:
        raise InvalidName(f"query parameter 'page_size' must be a whole number 1-{MAX_PAGE_SIZE}")
    return size


def encode_token(next_link: str | None) -> str | None:
    """The opaque continuation token handed to clients for Key Vault's next link."""
    if not next_link:
        return None
    return base64.urlsafe_b64encode(next_link.encode()).decode().rstrip("=")


def decode_token(vault_url: str, token: str | None) -> str | None:
    """The next link inside a client's token, only if it is a listing link of this vault.

    Anything else is an :class:`InvalidName` (400): a token must never send the app's
    bearer token, or a request, anywhere but this vault's own listing.
    """
    if token is None or token == "":
        return None
    bad = InvalidName("query parameter 'continuation' is not a token this API issued")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise bad
    try:
        link = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if any(not c.isprintable() or c.isspace() for c in link):
        raise bad
    try:
        parts = urlsplit(link)
        port = parts.port
    except ValueError:
        raise bad from None
    expected = urlsplit(vault_url)
    if (
        parts.scheme != "https"
        or (parts.hostname or "") != (expected.hostname or "").lower()
        or port not in (None, 443)
        or parts.path.rstrip("/") != "/secrets"
        or parts.username is not None
        or parts.fragment
    ):
        raise bad
    return link


def list_page(
    store: SecretStore, size: int, link: str | None
) -> tuple[list[SecretListing], str | None]:
    """One page of ``store``: one list call on Key Vault; stores without paging (the test
    fakes) are paged in memory with the offset as the link."""
    if isinstance(store, KeyVaultStore):
        return store.list_page(size, link)
    items = sorted(store.list(), key=lambda i: i.name.lower())
    start = int(link) if link and link.isdigit() else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def vault_status(
    store: SecretStore,
    context: FleetContext,
    *,
    size: int = MAX_PAGE_SIZE,
    continuation: str | None = None,
    check: bool = False,
) -> dict[str, Any]:
    """One page of the vault-wide status (see the module docs). ``continuation`` is the
    client's token (validated here)."""
    link = decode_token(store.vault_url, continuation)
    if link is not None and not isinstance(store, KeyVaultStore):
        link = link.rsplit("=", 1)[-1]
    listings, next_link = list_page(store, size, link)
    if next_link is not None and not isinstance(store, KeyVaultStore):
        next_link = f"{store.vault_url}/secrets?offset={next_link}"
    by_name = {item.name.lower(): item for item in listings}
    companions: dict[str, SecretListing] = {}
    for item in listings:
        owner = item.tags.get(T.STAGED_FOR)
        if owner:
            companions[owner.lower()] = item
    admin_tags = _AdminLookup(store, by_name)
    secrets = []
    for item in listings:
        if item.tags.get(T.STAGED_FOR) or not is_managed(item.tags):
            continue
        entry = describe(item, companions.pop(item.name.lower(), None), context)
        if check:
            entry["check"] = doctor(item, context.registry, admin_tags, context.check_consumers)
        secrets.append(entry)
    secrets.sort(key=lambda e: (HEALTH_ORDER.index(e["health"]), e["expires_on"] or ""))
    counts: dict[str, int] = {}
    for entry in secrets:
        counts[entry["health"]] = counts.get(entry["health"], 0) + 1
    # A companion whose secret is on this page (unmanaged, say) is judged by that secret's
    # tags; one whose secret is on another page cannot be, and is listed as it stands.
    orphan = [
        {
            "secret_name": owner,
            "companion": c.name,
            "stage": c.tags.get(T.STAGE),
            "from_version": c.tags.get(T.STAGED_FROM_VERSION),
        }
        for owner, c in sorted(companions.items())
        if c.tags.get(T.STAGE) in OPEN_STAGES
        and (owner not in by_name or needs_work(c.tags, by_name[owner].tags))
    ]
    return {
        "vault_url": store.vault_url,
        "generated_at": T.format_time(context.now),
        "listed": len(listings),
        "managed": len(secrets),
        "health": counts,
        "secrets": secrets,
        "orphan_staged": orphan,
        "continuation": encode_token(next_link),
        "checked": check,
    }


def describe(
    item: SecretListing, companion: SecretListing | None, context: FleetContext
) -> dict[str, Any]:
    """One managed secret's row, from its listing (and its companion's) only."""
    tags = item.tags
    now = context.now
    version = item.version or ""
    state = tags.get(T.STATE)
    consumers = consumers_status(tags, version)
    entry: dict[str, Any] = {
        "secret_name": item.name,
        "version": item.version,
        "enabled": item.enabled,
        "expires_on": item.expires_on.isoformat() if item.expires_on else None,
        "state": state,
        "rotated_at": tags.get(T.ROTATED_AT),
        "previous_version": tags.get(T.PREVIOUS_VERSION),
        "rotation_id": tags.get(T.ROTATION_ID),
        "rotator": tags.get(T.ROTATOR, "").strip(),
        "target": None,
        "strategy": None,
        "window": tags.get(T.WINDOW) or None,
        "consumers": consumers,
        "consumers_pending": [],
        "staged": None,
        "next_due": None,
        "problem": None,
    }
    config: SecretConfig | None = None
    try:
        rotator_class = context.registry.get(entry["rotator"], secret=item.name)
        config = parse_config(item.name, tags, rotator_class)
    except ConfigurationError as error:
        entry["problem"] = str(error)
    if config is not None:
        entry["target"] = config.target
        entry["strategy"] = config.strategy.value
        for consumer in config.consumers:
            consumers.setdefault(consumer, {"seen": "?", "moved": False})
    if state in UNFINISHED_STATES:
        entry["consumers_pending"] = sorted(n for n, c in consumers.items() if not c.get("moved"))
    # Key Vault's list answers carry no version ids, so whether the candidate continues the
    # current version is for the single-secret status to say; open is open either way. A
    # committed candidate keeps its open stage tag: the secret's commit tags finish it.
    unfinished = companion is not None and needs_work(companion.tags, tags)
    open_stage = unfinished and companion is not None and companion.enabled
    if unfinished and companion is not None:
        entry["staged"] = {
            "stage": companion.tags.get(T.STAGE),
            "from_version": companion.tags.get(T.STAGED_FROM_VERSION),
            "rotation_id": companion.tags.get(T.ROTATION_ID),
        }
    due_at = None if item.expires_on is None else item.expires_on - context.near_expiry
    windows = config.windows if config is not None else ()
    if entry["problem"] is not None:
        health = "misconfigured"
    elif not item.enabled:
        health = "disabled"
    elif item.expires_on is not None and item.expires_on <= now:
        health = "expired"
        entry["next_due"] = T.format_time(now)
    elif open_stage:
        health = "failing"
        entry["next_due"] = T.format_time(now)
        entry["problem"] = (
            f"a rotation ({companion.tags.get(T.ROTATION_ID) if companion else '?'}) staged a "
            "candidate and did not finish; the next sweep resumes it"
        )
    elif state == RotationState.OVERDUE:
        health = "overdue"
        entry["next_due"] = T.format_time(now)
    elif state in UNFINISHED_STATES:
        health = "awaiting"
        entry["next_due"] = T.format_time(now)
    elif due_at is None or due_at <= now:
        decision = decide(windows, now, item.expires_on)
        health = "due" if decision.run_now else "deferred"
        at = now if decision.run_now else (decision.next_window or now)
        entry["next_due"] = T.format_time(at)
        if decision.reason and not decision.run_now:
            entry["window_note"] = decision.reason
    else:
        health = "ok"
        moment = next_due(windows, due_at, item.expires_on)
        entry["next_due"] = T.format_time(moment) if moment else None
    entry["health"] = health
    return entry


class _AdminLookup:
    """Admin secrets' tags for doctor: from the page, else one properties call each."""

    def __init__(self, store: SecretStore, page: Mapping[str, SecretListing]) -> None:
        self._store = store
        self._page = page
        self._read: dict[str, SecretListing | None] = {}

    def get(self, name: str) -> SecretListing | None:
        key = name.lower()
        if key in self._page:
            return self._page[key]
        if key not in self._read:
            self._read[key] = self._store.properties(name)
        return self._read[key]


def doctor(
    item: SecretListing,
    registry: RotatorRegistry,
    admins: _AdminLookup,
    check_consumers: Callable[[SecretConfig], None] | None = None,
) -> dict[str, Any]:
    """The configuration checks of one secret, without touching its target: the tags, the
    rotator's ``check_config``, the admin secret's opt-in, and that every consumer it names
    is defined."""
    problems: list[str] = []
    try:
        rotator_class = registry.get(item.tags.get(T.ROTATOR, "").strip(), secret=item.name)
        config = parse_config(item.name, item.tags, rotator_class)
    except ConfigurationError as error:
        return {"ok": False, "problems": [str(error)]}
    admin: Credential | None = None
    if config.admin_secret:
        try:
            listing = admins.get(config.admin_secret)
        except RotationError as error:
            listing = None
            problems.append(f"admin secret '{config.admin_secret}' could not be read: {error}")
        else:
            if listing is None:
                problems.append(
                    f"secret '{item.name}', tag '{T.ADMIN_SECRET}': admin secret "
                    f"'{config.admin_secret}' does not exist in the vault"
                )
        if listing is not None:
            try:
                _check_admin_opt_in(config, _tags_only(listing))
            except ConfigurationError as error:
                problems.append(str(error))
            # A stand-in: check_config only asks whether an admin exists, never for its value.
            admin = Credential(password="", username=None)
    context = RotatorContext(
        secret_name=item.name,
        target=config.target,
        strategy=config.strategy,
        policy=config.policy,
        admin=admin,
        options=config.options,
    )
    try:
        rotator_class.check_config(context)
    except RotationError as error:
        problems.append(str(error))
    except Exception as error:  # noqa: BLE001 - a plugin's check must not break the page
        problems.append(f"rotator '{rotator_class.kind}' check failed: {type(error).__name__}")
    try:
        if check_consumers is not None:
            check_consumers(config)
    except RotationError as error:
        problems.append(str(error))
    return {"ok": not problems, "problems": problems}


def _tags_only(listing: SecretListing) -> SecretSnapshot:
    return SecretSnapshot(
        name=listing.name,
        version=listing.version or "",
        value="",
        tags=listing.tags,
        content_type=listing.content_type,
        expires_on=listing.expires_on,
        enabled=listing.enabled,
    )


def all_pages(
    store: SecretStore, context: FleetContext, *, check: bool = False
) -> Iterable[dict[str, Any]]:
    """Every page of the vault-wide status in turn (the CLI's ``status``/``doctor``)."""
    token: str | None = None
    while True:
        page = vault_status(store, context, continuation=token, check=check)
        yield page
        token = page["continuation"]
        if not token:
            return


def merged(pages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several pages as one answer (secrets re-sorted by health)."""
    result: dict[str, Any] = {"secrets": [], "orphan_staged": [], "health": {}, "listed": 0}
    for page in pages:
        result["vault_url"] = page["vault_url"]
        result["generated_at"] = page["generated_at"]
        result["checked"] = page["checked"]
        result["listed"] += page["listed"]
        result["secrets"].extend(page["secrets"])
        result["orphan_staged"].extend(page["orphan_staged"])
    secrets: Sequence[dict[str, Any]] = result["secrets"]
    result["secrets"] = sorted(
        secrets, key=lambda e: (HEALTH_ORDER.index(e["health"]), e["expires_on"] or "")
    )
    for entry in result["secrets"]:
        result["health"][entry["health"]] = result["health"].get(entry["health"], 0) + 1
    result["managed"] = len(result["secrets"])
    result["continuation"] = None
    return result
