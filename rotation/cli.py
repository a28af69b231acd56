"""The operator CLI: ``python -m rotation ...`` (entry point: :mod:`rotation.__main__`).

Commands (every one takes ``--json`` for scripts; the default is a table)::

    status VAULT [NAME]            every managed secret (all pages), or one secret
    doctor VAULT                   status plus each rotator's configuration check
    rotate VAULT NAME [--dry-run] [--revoke] [--version V]
    onboard VAULT NAME --rotator KIND [--target T] [--strategy S] [--admin-secret A]
            [--validity-days N] [--window W] [--consumers C] [--max-per-target K]
            [--tag rotation-x=value ...] [--dry-run]

The commands call the same service code as the HTTP API (:mod:`rotation.http_api`), built
by the composition root with its credential (the app's managed identity, or what the
composition root's credential setting selects for local development). No command prints a
secret value: the answers are the API's, which never hold one.

``onboard`` reads the secret's current properties (never its value), adds the configuration
tags, validates them with the real parser (:func:`rotation.config.parse_config`) and the
rotator's own check (the doctor's), and only then writes the tags onto the current version.

Exit codes:

===  =====================================================================================
0    done; ``status``/``doctor``: every secret healthy (ok, due, deferred, awaiting, disabled)
1    ``status``/``doctor``: some secret is misconfigured, expired, failing or overdue, or a
     doctor check failed
2    usage error (bad arguments)
3    refused: invalid input, bad configuration, a conflict an operator must resolve
     (including a refused revoke or candidate)
4    not found: the vault is not configured or the secret does not exist
5    temporary: a dependency is unavailable, the secret is being rotated, or its target is
     at its limit; retry later
6    unexpected failure (logged with an incident id)
===  =====================================================================================
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from rotation import fleet
from rotation import tags as T
from rotation.config import parse_config
from rotation.errors import ConfigurationError, SecretNotFound
from rotation.http_api import HttpReply, answer
from rotation.names import secret_name, shown
from rotation.service import RotationService
from rotation.vault import SecretListing

OK, UNHEALTHY, USAGE, REFUSED, NOT_FOUND, TEMPORARY, FAILED = 0, 1, 2, 3, 4, 5, 6
BAD_HEALTH = frozenset({"misconfigured", "expired", "failing", "overdue"})


def exit_code(reply: HttpReply) -> int:
    """The exit code for an API answer (see the module docs)."""
    if reply.status < 300:
        return OK
    if reply.status == 404:
        return NOT_FOUND
    if reply.status in (429, 503) or (reply.status == 409 and "Retry-After" in reply.headers):
        return TEMPORARY
    if reply.status >= 500:
        return FAILED
    return REFUSED


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m rotation", description="Key Vault rotation")
    commands = root.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("vault", help="vault name or URL (one of ROTATION_VAULTS)")
        sub.add_argument("--json", action="store_true", help="print JSON for scripts")
        return sub

    status = command("status", "status of every managed secret, or of one")
    status.add_argument("name", nargs="?")
    command("doctor", "status plus each rotator's configuration check")
    rotate = command("rotate", "rotate one secret now")
    rotate.add_argument("name")
    rotate.add_argument("--dry-run", action="store_true")
    rotate.add_argument("--revoke", action="store_true", help="retire the old credential now")
    rotate.add_argument("--version", help="rotate only if this version is still current")
    onboard = command("onboard", "validate and write the rotation tags of a secret")
    onboard.add_argument("name")
    onboard.add_argument("--rotator", required=True)
    onboard.add_argument("--target")
    onboard.add_argument("--strategy")
    onboard.add_argument("--admin-secret")
    onboard.add_argument("--validity-days")
    onboard.add_argument("--window")
    onboard.add_argument("--consumers")
    onboard.add_argument("--max-per-target")
    onboard.add_argument("--tag", action="append", default=[], metavar="rotation-NAME=VALUE")
    onboard.add_argument("--dry-run", action="store_true", help="validate, write nothing")
    return root


def main(
    argv: Sequence[str], build: Callable[[], RotationService], out: TextIO = sys.stdout
) -> int:
    """Run one command; return its exit code (see the module docs)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:
        return USAGE if stop.code else OK
    args.name_given = bool(getattr(args, "name", None)) and args.command == "status"
    service: RotationService | None = None

    def get() -> RotationService:
        nonlocal service
        if service is None:
            service = build()
        return service

    reply = answer(lambda: _serve(args, get))
    if args.json:
        out.write(json.dumps(reply.body, indent=2, sort_keys=True) + "\n")
    else:
        out.write(_render(args, reply) + "\n")
    code = exit_code(reply)
    if code == OK and args.command in ("status", "doctor") and not args.name_given:
        return UNHEALTHY if _unhealthy(reply.body) else OK
    return code


def _serve(args: argparse.Namespace, get: Callable[[], RotationService]) -> HttpReply:
    service = get()
    if args.command == "status" and args.name:
        return HttpReply(200, service.status(args.vault, args.name))
    if args.command in ("status", "doctor"):
        store = service.store_for(args.vault)
        pages = fleet.all_pages(store, service.fleet_context(), check=args.command == "doctor")
        return HttpReply(200, fleet.merged(pages))
    if args.command == "rotate":
        outcome = service.rotate_now(
            args.vault, args.name, dry_run=args.dry_run, version=args.version, revoke=args.revoke
        )
        return HttpReply(200, outcome.as_dict())
    return HttpReply(200, _onboard(service, args))


def _onboard(service: RotationService, args: argparse.Namespace) -> dict[str, Any]:
    name = secret_name(args.name)
    store = service.store_for(args.vault)
    props = store.properties(name)
    if props is None or not props.version:
        raise SecretNotFound(f"secret '{name}' does not exist in {store.vault_url}")
    wanted: dict[str, str] = {T.ROTATOR: args.rotator}
    for tag, value in (
        (T.TARGET, args.target),
        (T.STRATEGY, args.strategy),
        (T.ADMIN_SECRET, args.admin_secret),
        (T.VALIDITY_DAYS, args.validity_days),
        (T.WINDOW, args.window),
        (T.CONSUMERS, args.consumers),
        (T.MAX_PER_TARGET, args.max_per_target),
    ):
        if value is not None:
            wanted[tag] = value
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith(T.PREFIX) or key in T.STATE_TAGS:
            raise ConfigurationError(
                f"--tag needs rotation-NAME=VALUE (not a state tag), got '{shown(item)}'"
            )
        wanted[key] = value
    tags = {**props.tags, **wanted}
    if len(tags) > T.MAX_TAGS:
        raise ConfigurationError(f"would carry {len(tags)} tags; Key Vault allows {T.MAX_TAGS}")
    rotator_class = service.registry.get(args.rotator.strip(), secret=name)
    config = parse_config(name, tags, rotator_class)
    listing = SecretListing(
        name=props.name or name,
        version=props.version,
        tags=tags,
        enabled=props.enabled,
        expires_on=props.expires_on,
        content_type=props.content_type,
    )
    check = fleet.doctor(
        listing, service.registry, fleet._AdminLookup(store, {}), service.engine.check_consumers
    )
    if not check["ok"]:
        raise ConfigurationError("; ".join(check["problems"]))
    if not args.dry_run:
        store.update(listing.name, props.version, tags=tags)
    return {
        "secret_name": listing.name,
        "version": props.version,
        "written": not args.dry_run,
        "tags": {k: v for k, v in tags.items() if k.startswith(T.PREFIX)},
        "rotator": config.rotator_kind,
        "strategy": config.strategy.value,
        "check": check,
    }


def _unhealthy(body: Mapping[str, Any]) -> bool:
    return any(
        s.get("health") in BAD_HEALTH or (s.get("check") and not s["check"].get("ok"))
        for s in body.get("secrets", [])
    )


def _render(args: argparse.Namespace, reply: HttpReply) -> str:
    body = reply.body
    if "error" in body:
        error = body["error"]
        return f"error ({_t(error.get('code'))}): {_t(error.get('message'), 2000)}"
    if args.command in ("status", "doctor") and "secrets" in body:
        rows = [
            [
                s["secret_name"],
                s["health"],
                s.get("state") or "-",
                (s.get("expires_on") or "never")[:16],
                (s.get("next_due") or "-")[:16],
                ",".join(s.get("consumers_pending") or []) or "-",
                "; ".join(
                    p
                    for p in [s.get("problem") or "", *(s.get("check") or {}).get("problems", [])]
                    if p
                ),
            ]
            for s in body["secrets"]
        ]
        head = ["SECRET", "HEALTH", "STATE", "EXPIRES", "NEXT DUE", "PENDING", "PROBLEM"]
        summary = ", ".join(f"{n} {h}" for h, n in sorted(body.get("health", {}).items()))
        return _table(head, rows) + f"\n{body.get('managed', 0)} managed: {summary or 'none'}"
    rows = [[key, _value(value)] for key, value in body.items() if key != "steps"]
    text = _table(["FIELD", "VALUE"], rows)
    for step in body.get("steps") or []:
        text += f"\n  - {_t(step, 500)}"
    return text


def _value(value: object) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "-" if value is None else str(value)


def _t(value: object, limit: int = 120) -> str:
    """One terminal-safe cell: control characters (escape sequences) escaped, truncated."""
    return shown(value if isinstance(value, str) else _value(value), limit)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    cells = [head] + [[_t(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
