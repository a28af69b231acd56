"""The project's scale benchmark (issue 14): run it, read the figures; it asserts nothing.

    .venv/bin/python scripts/bench.py            # N = 1,000 / 10,000 / 50,000 (a few minutes)
    .venv/bin/python scripts/bench.py --quick    # N = 200 / 1,000 / 2,000 (under a minute)

Prints, in one run:

1. Import ratio: ``import function_app`` against the floor of the SDKs it needs
   (azure.functions, azure.identity, azure.keyvault.secrets, azure.storage.blob), each in a
   fresh interpreter, several runs, median; and the modules above the floor that cost most.
2. Listing at each N, on an emulated vault populated in-process through the store API: the
   sweep (``rotation.sweep.sweep`` over ``KeyVaultStore``) against a bare SDK listing
   (``SecretClient.list_properties_of_secrets``) through the same TLS proxy: best-of times,
   the ratio, list calls made, values read, the emulator's index entries read per page, and
   the peak memory (tracemalloc) of each. A fixed number of secrets is due at every N, so a
   sweep whose memory is flat in N shows the same peak at every N.
3. Key Vault calls per rotation per strategy, counted by the emulator's call record around
   one Event Grid near-expiry event (needs Azurite for the rotation lock): the ``random``
   rotator (single), and an in-memory target rotator for single, alternating and multiple;
   each secret is rotated twice (the first rotation, then the steady state).
   The SDK's one-off challenge request (401 without a token) is counted apart.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOR_IMPORTS = "import azure.functions, azure.identity, azure.keyvault.secrets, azure.storage.blob"
APP_IMPORT = "import function_app"
DUE_PER_VAULT = 20
PAGE = 25
OFFICER = "Key Vault Secrets Officer"
NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


# ----------------------------------------------------------------------------- imports


def _clean_env() -> dict[str, str]:
    """This environment without PYTHON* settings: bytecode is cached (no
    PYTHONDONTWRITEBYTECODE), as on a deployed app after its first start."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}


def _import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed statement
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _importtime(statement: str) -> dict[str, tuple[int, int]]:
    """``module -> (self us, cumulative us)`` from ``python -X importtime``."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and a fixed statement
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    modules: dict[str, tuple[int, int]] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, cumulative, name = _split_importtime(line)
        modules[name] = (self_us, cumulative)
    return modules


def _split_importtime(line: str) -> tuple[str, int, int, str]:
    head, cumulative, name = line.split("|")
    return head, int(head.split(":")[1]), int(cumulative), name.strip()


def bench_imports(runs: int) -> dict[str, float]:
    heading(f"cold start: import time in fresh interpreters ({runs} runs each, median)")
    _import_seconds(APP_IMPORT)  # compile .pyc files first
    _import_seconds(FLOOR_IMPORTS)
    app: list[float] = []
    floor: list[float] = []
    for _ in range(runs):  # interleaved, so drift hits both alike
        floor.append(_import_seconds(FLOOR_IMPORTS))
        app.append(_import_seconds(APP_IMPORT))
    app_median, floor_median = statistics.median(app), statistics.median(floor)
    print(f"  floor ({FLOOR_IMPORTS.removeprefix('import ')}): {floor_median * 1000:7.1f} ms")
    print(f"  import function_app:                {app_median * 1000:7.1f} ms")
    print(f"  ratio app / floor:                  {app_median / floor_median:7.2f}x")
    floor_modules = set(_importtime(FLOOR_IMPORTS))
    app_modules = _importtime(APP_IMPORT)
    extra = {m: t for m, t in app_modules.items() if m not in floor_modules}
    extra_self = sum(t[0] for t in extra.values()) / 1000
    print(f"  modules above the floor: {len(extra)}, {extra_self:.0f} ms of self time; the")
    print("  heaviest of them (cumulative ms, including what they import):")
    top = sorted(extra.items(), key=lambda item: -item[1][1])
    for name, (_, cumulative) in [t for t in top if t[0] != "function_app"][:12]:
        print(f"    {cumulative / 1000:7.1f}  {name}")
    return {"app_ms": app_median * 1000, "floor_ms": floor_median * 1000}


# ----------------------------------------------------------------------------- listing


@dataclass
class Run:
    seconds: float
    items: int
    list_calls: int
    value_reads: int
    due: int = 0


def _populate(stack: Any, vault: str, count: int) -> None:
    store = stack.keyvault.store
    later = datetime.now(UTC) + timedelta(days=200)
    soon = datetime.now(UTC) + timedelta(days=5)
    every = max(1, count // DUE_PER_VAULT)
    tags = {"rotation-rotator": "random", "owner": "bench"}
    for i in range(count):
        expires = soon if i % every == 0 and i // every < DUE_PER_VAULT else later
        store.set(vault, f"secret-{i:06d}", "v" * 40, expires=expires, tags=tags)


def _counted(stack: Any, body: Callable[[], tuple[int, int]]) -> Run:
    gc.collect()
    with stack.keyvault.recording() as calls:
        start = time.perf_counter()
        items, due = body()
        seconds = time.perf_counter() - start
    lists = sum(1 for c in calls if c.operation == "list_secrets" and not c.challenge)
    reads = sum(1 for c in calls if c.operation == "get_secret" and not c.challenge)
    return Run(seconds, items, lists, reads, due)


def _peak(body: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        body()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench_listing(
    stack: Any, identity: Any, sizes: list[int], repeats: int
) -> list[dict[str, Any]]:
    from azure.identity import ManagedIdentityCredential
    from azure.keyvault.secrets import SecretClient

    from rotation.sweep import sweep
    from rotation.vault import KeyVaultStore

    heading(
        f"listing: sweep vs bare SDK listing (best of {repeats}; {DUE_PER_VAULT} due per vault)"
    )
    print(
        f"  {'N':>7} {'bare s':>8} {'sweep s':>8} {'ratio':>6} {'lists':>6} {'ceil':>5} "
        f"{'reads':>5} {'due':>4} {'idx/page':>8} {'bare MB':>8} {'sweep MB':>8}"
    )
    credential = ManagedIdentityCredential(client_id=identity.client_id)
    horizon = timedelta(days=30)

    def is_due(expires_on: datetime | None) -> bool:
        return expires_on is None or expires_on - datetime.now(UTC) <= horizon

    rows = []
    for number, count in enumerate(sizes):
        vault = f"bench-{number}-{count}"
        url = stack.keyvault.create_vault(vault)
        stack.keyvault.assign_role(vault, identity.principal_id, OFFICER)
        _populate(stack, vault, count)
        # The emulated vault shares this process only for convenience (Key Vault is remote):
        # keep its stored objects out of the garbage collector's full passes, whose cost grows
        # with the heap and would be charged to whichever listing runs then.
        gc.collect()
        gc.freeze()
        client = SecretClient(url, credential)
        store = KeyVaultStore(client)
        next(iter(client.list_properties_of_secrets(max_page_size=1)), None)  # challenge, TLS

        def bare(client: SecretClient = client) -> tuple[int, int]:
            return sum(1 for _ in client.list_properties_of_secrets()), 0

        def swept(store: KeyVaultStore = store) -> tuple[int, int]:
            report = sweep([store], is_due)
            assert not report.failed_vaults, report.failed_vaults
            return report.listed, len(report.due)

        bare_runs, sweep_runs = [], []
        for _ in range(repeats):
            bare_runs.append(_counted(stack, bare))
            sweep_runs.append(_counted(stack, swept))
        best_bare = min(bare_runs, key=lambda r: r.seconds)
        best_sweep = min(sweep_runs, key=lambda r: r.seconds)
        touched_before = stack.keyvault.store.items_touched
        bare_mb = _peak(bare) / 1e6
        per_page = (stack.keyvault.store.items_touched - touched_before) / max(
            1, best_bare.list_calls
        )
        sweep_mb = _peak(swept) / 1e6
        assert best_bare.items == best_sweep.items == count
        row = {
            "n": count,
            "bare_s": best_bare.seconds,
            "sweep_s": best_sweep.seconds,
            "ratio": best_sweep.seconds / best_bare.seconds,
            "list_calls": best_sweep.list_calls,
            "bare_list_calls": best_bare.list_calls,
            "value_reads": best_sweep.value_reads,
            "due": best_sweep.due,
            "index_per_page": per_page,
            "bare_mb": bare_mb,
            "sweep_mb": sweep_mb,
        }
        rows.append(row)
        print(
            f"  {count:>7} {row['bare_s']:>8.2f} {row['sweep_s']:>8.2f} {row['ratio']:>5.2f}x "
            f"{row['list_calls']:>6} {math.ceil(count / PAGE):>5} {row['value_reads']:>5} "
            f"{row['due']:>4} {per_page:>8.1f} {bare_mb:>8.2f} {sweep_mb:>8.2f}",
            flush=True,
        )
    credential.close()
    for before, after in itertools.pairwise(rows):
        growth = after["bare_s"] / before["bare_s"]
        print(
            f"  bare listing {before['n']} -> {after['n']}: {growth:.2f}x the time for "
            f"{after['n'] / before['n']:.0f}x the secrets; sweep memory "
            f"{after['sweep_mb'] / before['sweep_mb']:.2f}x"
        )
    return rows


# ----------------------------------------------------------------------------- rotations


def _memory_rotator() -> type[Any]:
    """A rotator whose target is a dict in this process: every strategy, no network."""
    from rotation.credential import Credential
    from rotation.errors import VerificationFailed
    from rotation.rotator import Rotator, Strategy

    class MemoryTargetRotator(Rotator):
        kind: ClassVar[str] = "bench-memory"
        strategies: ClassVar[tuple[Strategy, ...]] = (
            Strategy.SINGLE,
            Strategy.ALTERNATING,
            Strategy.MULTIPLE,
        )
        requires_target: ClassVar[bool] = False
        logins: ClassVar[dict[str, set[str]]] = {}
        lock: ClassVar[threading.Lock] = threading.Lock()

        def apply(self, current: Credential, candidate: Credential) -> Credential:
            user = candidate.username or ""
            with self.lock:
                if self.context.strategy is Strategy.MULTIPLE:
                    self.logins.setdefault(user, set()).add(candidate.password)
                else:
                    self.logins[user] = {candidate.password}
            return candidate

        def verify(self, credential: Credential) -> None:
            with self.lock:
                if credential.password not in self.logins.get(credential.username or "", set()):
                    raise VerificationFailed("refused by the in-memory target")

        def retire(self, old: Credential, new: Credential) -> None:
            if self.context.strategy is Strategy.MULTIPLE and old.password != new.password:
                with self.lock:
                    self.logins.get(old.username or "", set()).discard(old.password)

    return MemoryTargetRotator


def _event(url: str, vault: str, name: str, version: str) -> dict[str, Any]:
    return {
        "id": f"bench-{version[:8]}",
        "eventType": NEAR_EXPIRY,
        "subject": name,
        "topic": f"/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/{vault}",
        "data": {
            "Id": f"{url}/secrets/{name}/{version}",
            "VaultName": vault,
            "ObjectType": "Secret",
            "ObjectName": name,
            "Version": version,
            "NBF": None,
            "EXP": int((datetime.now(UTC) + timedelta(days=10)).timestamp()),
        },
    }


def _short(operation: str | None, secret: str | None, name: str) -> str:
    """``get``, ``set:staged``, ... for one call on the rotated secret or its companion."""
    verb = (operation or "?").removesuffix("_secret").replace("update", "tags")
    if secret is None or secret.lower() == name.lower():
        return verb
    return f"{verb}:staged" if secret.lower().startswith(name.lower()) else f"{verb}:{secret}"


def bench_rotations(stack: Any, identity: Any) -> list[dict[str, Any]]:
    heading("Key Vault calls per rotation (one near-expiry event, no consumers)")
    from emulators.azurite import Azurite, installed
    from emulators.environ import overridden_environ

    if not installed():
        print("  skipped: Azurite is not installed (npm install azurite@3.37.0)")
        return []
    vault = "bench-rotations"
    url = stack.keyvault.create_vault(vault)
    stack.keyvault.assign_role(vault, identity.principal_id, OFFICER)
    memory = _memory_rotator()
    password = "Initial-Password-0123456789-abcdefghij"  # noqa: S105 - a throwaway value
    cases: list[tuple[str, str, dict[str, str], str, str | None]] = [
        ("random", "single", {"rotation-rotator": "random"}, password, None),
    ]
    for strategy in ("single", "alternating", "multiple"):
        tags = {"rotation-rotator": memory.kind, "rotation-strategy": strategy}
        value = json.dumps({"username": "app", "password": password})
        cases.append((memory.kind, strategy, tags, value, "application/json"))
    rows = []
    with (
        Azurite() as azurite,
        overridden_environ(
            {
                "AZURE_CLIENT_ID": identity.client_id,
                "ROTATION_VAULTS": url,
                "AzureWebJobsStorage": azurite.connection_string,
                "ROTATION_SWEEP_MODE": "inline",
                "ROTATION_VERIFY_BACKOFF_SECONDS": "0.05",
            }
        ),
    ):
        from composition import build_service

        service = build_service()
        service.registry.register(memory)
        memory.logins["app"] = {password}
        memory.logins["app_clone"] = {password}
        warm = stack.keyvault.store.set(vault, "warm-up", "x")
        with stack.keyvault.recording():
            service.on_event(_event(url, vault, "warm-up", warm.version))  # challenge, TLS
        print(f"  {'rotator':<13} {'strategy':<12} {'nth':>3} {'calls':>5}  by operation")
        for number, (kind, strategy, tags, value, content_type) in enumerate(cases):
            name = f"rot-{number}-{strategy}"
            made = stack.keyvault.store.set(
                vault,
                name,
                value,
                content_type=content_type,
                expires=datetime.now(UTC) + timedelta(days=10),
                tags=tags,
            )
            version = made.version
            # The first rotation, then a second one of the same secret (steady state: the
            # companion now holds the first one's committed candidate).
            for rotation in (1, 2):
                with stack.keyvault.recording() as calls:
                    outcome = service.on_event(_event(url, vault, name, version))
                made_versions = stack.keyvault.versions(vault, name)
                version = made_versions[-1].version
                answered = [c for c in calls if not c.challenge]
                by_op = Counter(c.operation or "?" for c in answered)
                status = getattr(getattr(outcome, "status", None), "value", str(outcome))
                note = (
                    ""
                    if len(made_versions) == rotation + 1
                    else f"  (did not rotate: {status}, {len(made_versions)} versions)"
                )
                ops = ", ".join(f"{op} {n}" for op, n in sorted(by_op.items()))
                print(
                    f"  {kind:<13} {strategy:<12} {rotation:>3} {len(answered):>5}  {ops}{note}",
                    flush=True,
                )
                sequence = [_short(c.operation, c.secret, name) for c in answered]
                print(f"  {'':<13} {'':<12} {'':>3} {'':>5}  in order: {' '.join(sequence)}")
                rows.append(
                    {
                        "rotator": kind,
                        "strategy": strategy,
                        "rotation": rotation,
                        "calls": len(answered),
                        "order": sequence,
                    }
                )
    return rows


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N (200 / 1,000 / 2,000)")
    parser.add_argument("--sizes", help="comma-separated N, e.g. 1000,10000")
    parser.add_argument("--import-runs", type=int, default=None)
    parser.add_argument("--skip", default="", help="comma-separated: imports,listing,rotations")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    sizes = sizes or ([200, 1_000, 2_000] if args.quick else [1_000, 10_000, 50_000])
    skip = set(filter(None, args.skip.split(",")))
    print(f"bench on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, N = {sizes}")
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    if "imports" not in skip:
        figures["imports"] = bench_imports(args.import_runs or (3 if args.quick else 7))

    from emulators.stack import AzureStack

    with AzureStack() as stack, stack.applied_env():
        identity = stack.identity.add_identity()
        if "listing" not in skip:
            repeats = 3 if max(sizes) <= 2_000 else 2
            figures["listing"] = bench_listing(stack, identity, sizes, repeats)
        if "rotations" not in skip:
            figures["rotations"] = bench_rotations(stack, identity)
    print(f"\nbench took {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
