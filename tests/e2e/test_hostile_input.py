"""Fuzzing every entry of function_app on the real path (issue 10, finding 6): the HTTP API,
the Event Grid trigger (both schemas, through the worker's binding converter), the queue
trigger, and managed secrets whose stored values are hostile, against the emulated Key Vault
over HTTPS, Azurite and a scram PostgreSQL cluster.

Asserted: no answer >= 500, no exception escapes a trigger (there is no unavailable
dependency here, so not even a retryable one), nothing is committed for a hostile secret,
and a healthy managed secret created at the start still logs in with its current Key Vault
value at the end. Cases come from a fixed seed, so a failure names a reproducible case.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

from rotation import tags as T
from rotation.lock import LOCK_CONTAINER
from rotation.vault import staging_name
from tests.e2e.catalogue_support import put_secret
from tests.e2e.conftest import AppUnderTest, pg_logs_in
from tests.support.functions_host import http_input, queue_input
from tests.support.pg_cluster import ScramCluster

SEED = 20261202
NEAR_EXPIRY = "Microsoft.KeyVault.SecretNearExpiry"
V32 = "0123456789abcdef0123456789abcdef"
#: In every hostile password, so a test can tell if one reached a log record.
MARKER = "Hostile-Marker-7q"

BAD_NAMES = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    "../healthy-db",
    "a/b",
    "a\\b",
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "ü",
    "名前",
    "[",
    "]",
    "[::1]",
    "a" * 128,
    "x" * 10_000,
    "db?x=1",
    "db#x",
    "db%00",
    "db\n",
    "db\r\nX-Injected: 1",
    "-" * 200,
]
BAD_VAULTS = [
    "[",
    "]",
    "[::1]",
    "kv-[x",
    "kv]",
    "..",
    "%2e%2e",
    "",
    "\x00",
    "ü",
    "x" * 10_000,
    "https:",
    "https://[",
    "ab",
    "a--b",
    "kv-0000000000000000",
    "evil.com",
    "kv-a.vault.azure.net:444",
    "user@kv-a.vault.azure.net",
]
BAD_VERSIONS = ["..", "../x", "\x00", "a/b", "x" * 10_000, " ", "ü", "[", "v-1", "%2e"]
BAD_FLAGS = ["maybe", "ture", "2", "\x00", "x" * 10_000, "[", "truee"]
JUNK: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    [],
    ["x"],
    {},
    {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    "",
    " ",
    "x" * 100_000,
    "\x00",
    "[",
    "\ud800",
]


@dataclass
class Tally:
    """What the fuzzing saw (case descriptions only: never a secret value)."""

    calls: dict[str, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    escaped: list[str] = field(default_factory=list)

    def run(self, kind: str, case: str, call: Callable[[], Any]) -> Any:
        self.calls[kind] = self.calls.get(kind, 0) + 1
        try:
            return call()
        except Exception as error:  # the point of the test: nothing may escape
            self.escaped.append(f"{kind} {case[:160]!r}: {type(error).__name__}")
            return None


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"k": [value]}
    return value


# ---------------------------------------------------------------------------- set-up


@dataclass
class Hostile:
    name: str
    version: str


def store_hostile_secrets(app: AppUnderTest, cluster: ScramCluster) -> list[Hostile]:
    """Managed secrets whose values are hostile; each is due (expires in 10 days)."""
    pg = {T.ROTATOR: "postgres", T.TARGET: cluster.target}
    rnd = {T.ROTATOR: "random"}
    nested = '{"password": "p' + MARKER + '", "x": ' + "[" * 4000 + "]" * 4000 + "}"
    raw_json = {
        # JSON nested 4,000 deep (RecursionError in json.loads before)
        "deep-json": (nested, rnd),
        # a lone surrogate, escaped in the JSON text as \ud800 (UnicodeEncodeError before)
        "lone-surrogate": ('{"password": "x\\ud800' + MARKER + '"}', rnd),
        "lone-surrogate-pg": ('{"username": "app", "password": "x\\udfff' + MARKER + '"}', pg),
        # NUL in the password and in the user name (libpq cuts strings at NUL)
        "nul-password": ('{"username": "app", "password": "a\\u0000' + MARKER + '"}', pg),
        "nul-username": ('{"username": "ap\\u0000p", "password": "' + MARKER + '"}', pg),
        # a 20,000-character user name ("retryable TargetUnavailable" forever before)
        "long-username": (json.dumps({"username": "u" * 20_000, "password": MARKER}), pg),
        "not-json": ("{not json " + MARKER, pg),
    }
    made = []
    for name, (text, tags) in raw_json.items():
        secret = app.client.set_secret(
            name,
            text,
            content_type="application/json",
            expires_on=app.vault.stack.clock.now() + timedelta(days=10),
            tags=tags,
        )
        made.append(Hostile(name, secret.properties.version or ""))
    bare = app.client.set_secret(
        "nul-bare",
        "abc\x00def" + MARKER,
        expires_on=app.vault.stack.clock.now() + timedelta(days=10),
        tags=rnd,
    )
    made.append(Hostile("nul-bare", bare.properties.version or ""))
    return made


# ---------------------------------------------------------------------------- case makers


def http_cases(rng: random.Random, vault: str, hostile: list[Hostile]) -> list[dict[str, Any]]:
    """At least 220 HTTP calls: every bad vault and name with GET and POST, bad versions and
    flags, odd methods, hostile secrets, absent secrets; then random combinations."""
    cases: list[dict[str, Any]] = []
    for bad in BAD_VAULTS:
        for method in ("GET", "POST"):
            cases.append({"method": method, "vault": bad, "name": "healthy-db", "params": {}})
    for bad in BAD_NAMES:
        for method in ("GET", "POST"):
            cases.append({"method": method, "vault": vault, "name": bad, "params": {}})
    for bad in BAD_VERSIONS:
        cases.append(
            {"method": "POST", "vault": vault, "name": "healthy-db", "params": {"version": bad}}
        )
    for bad in BAD_FLAGS:
        cases.append(
            {"method": "POST", "vault": vault, "name": "healthy-db", "params": {"dry_run": bad}}
        )
    for method in ("PUT", "DELETE", "PATCH", "get", "", "\x00"):
        cases.append({"method": method, "vault": vault, "name": "healthy-db", "params": {}})
    for item in hostile:
        for method in ("GET", "POST"):
            cases.append({"method": method, "vault": vault, "name": item.name, "params": {}})
        cases.append(
            {
                "method": "POST",
                "vault": vault,
                "name": item.name,
                "params": {"dry_run": "true"},
            }
        )
    cases.append(
        {"method": "POST", "vault": vault, "name": "healthy-db", "params": {"dry_run": "1"}}
    )
    cases.append(
        {"method": "POST", "vault": vault, "name": "HEALTHY-DB", "params": {"version": V32}}
    )
    cases.append({"method": "GET", "vault": vault.upper(), "name": "healthy-db", "params": {}})
    names = [*BAD_NAMES, "absent-secret", "healthy-db", *(h.name for h in hostile)]
    vaults = [*BAD_VAULTS, vault]
    while len(cases) < 260:
        name = rng.choice(names)
        params: dict[str, str] = {}
        if rng.random() < 0.5:
            params["version"] = rng.choice([*BAD_VERSIONS, V32])
        if rng.random() < 0.5 or name == "healthy-db":
            # never a real rotation of the healthy secret: a dry run or a stale version
            params["dry_run"] = rng.choice([*BAD_FLAGS, "true"])
        method = rng.choice(["GET", "POST", "POST"])
        if name == "healthy-db" and method == "POST" and params.get("dry_run") != "true":
            params["version"] = V32
        cases.append(
            {"method": method, "vault": rng.choice(vaults), "name": name, "params": params}
        )
    return cases


def event_cases(
    rng: random.Random, app: AppUnderTest, hostile: list[Hostile]
) -> list[dict[str, Any] | str]:
    """At least 220 malformed or hostile events, in both schemas."""
    url, vault_name = app.vault.url, app.vault.name

    def data(name: str = "absent-secret", version: str = V32) -> dict[str, Any]:
        return {
            "Id": f"{url}/secrets/{name}/{version}",
            "VaultName": vault_name,
            "ObjectType": "Secret",
            "ObjectName": name,
            "Version": version,
            "NBF": None,
            "EXP": 1_900_000_000,
        }

    datas: list[Any] = []
    for key in ("Id", "VaultName", "ObjectType", "ObjectName", "Version"):
        base = data()
        del base[key]
        datas.append(base)
        for junk in JUNK:
            datas.append({**data(), key: junk})
    for bad in BAD_NAMES:
        datas.append({**data(), "ObjectName": bad})
        datas.append({**data(), "Id": f"{url}/secrets/{bad}/{V32}", "ObjectName": bad})
    for bad in BAD_VERSIONS:
        datas.append({**data(), "Version": bad})
    for bad_id in [
        f"https://[{vault_name}.vault.azure.net/secrets/x/{V32}",
        f"https://{vault_name}.vault.azure.net]/secrets/x/{V32}",
        "https://[::1]/secrets/x",
        f"http://{vault_name}.vault.azure.net/secrets/x/{V32}",
        f"ftp://{vault_name}.vault.azure.net/secrets/x/{V32}",
        f"https://{vault_name}.vault.azure.net:8443/secrets/x/{V32}",
        f"https://user:pw@{vault_name}.vault.azure.net/secrets/x/{V32}",
        f"https://kv-0000000000000000.vault.azure.net/secrets/x/{V32}",
        "https://evil.example/secrets/x",
        "https://" + "a" * 10_000,
        "[",
    ]:
        datas.append({**data(), "Id": bad_id})
    datas += [
        {**data(), "ObjectName ": "other", "ObjectName": "absent-secret"},
        {" objectname ": " absent-secret ", "VERSION": f" {V32} ", "vaultname": vault_name},
        deep(200),
        {"data": deep(50)},
        {str(i): i for i in range(2000)},
    ]
    datas += [[data()], "text", 42, None, True, [], ""]
    for item in hostile:
        datas.append(data(item.name, item.version))
    datas.append(data("healthy-db", V32))  # a stale version of the healthy secret
    events: list[dict[str, Any] | str] = []
    for i, payload in enumerate(datas):
        schema = "cloud" if i % 2 else "eventgrid"
        event_type = NEAR_EXPIRY if rng.random() < 0.85 else rng.choice(["", "x" * 10_000, "\x00"])
        events.append(make_event(schema, f"fuzz-{i}", event_type, payload))
    for i in range(len(events), 230):
        payload = rng.choice(datas)
        schema = rng.choice(["cloud", "eventgrid"])
        event: dict[str, Any] = json.loads(
            json.dumps(make_event(schema, f"fuzz-{i}", NEAR_EXPIRY, payload))
        )
        field_name = rng.choice(list(event))
        if field_name not in ("specversion", "eventTime", "time"):
            event[field_name] = rng.choice(JUNK)
        events.append(event)
    return events


def make_event(schema: str, event_id: str, event_type: str, data: Any) -> dict[str, Any]:
    if schema == "cloud":
        return {
            "specversion": "1.0",
            "id": event_id,
            "source": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v",
            "subject": "s",
            "type": event_type,
            "time": "2026-12-02T12:00:00.1234567Z",
            "data": data,
        }
    return {
        "id": event_id,
        "topic": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v",
        "subject": "s",
        "eventType": event_type,
        "eventTime": "2026-12-02T12:00:00.1234567Z",
        "data": data,
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def queue_cases(url: str, hostile: list[Hostile]) -> list[str | bytes]:
    """At least 50 work messages: not JSON, wrong types, bad schemes, foreign vaults, huge,
    bad names and versions, and messages for the hostile secrets."""
    host = url.removeprefix("https://")

    def msg(**fields: Any) -> str:
        return json.dumps({"vault_url": url, "secret_name": "absent-secret", **fields})

    bodies: list[str | bytes] = [
        "",
        "not json",
        "{",
        "[]",
        "null",
        "42",
        '"text"',
        b"\xff\xfe\x00",
        b"\x80" * 10,
        "[" * 50_000,
        "x" * 100_000,
        msg(padding="x" * 100_000),
        json.dumps({"secret_name": "db"}),
        json.dumps({"vault_url": url}),
        msg(vault_url=None),
        msg(vault_url=5),
        msg(vault_url=["x"]),
        msg(secret_name=None),
        msg(secret_name={"a": 1}),
        msg(version=5),
        msg(version=["x"]),
        msg(vault_url=f"ftp://{host}"),
        msg(vault_url=f"http://{host}"),
        msg(vault_url=f"file:///{host}"),
        msg(vault_url=f"https://{host}:8443"),
        msg(vault_url=f"https://user:pw@{host}"),
        msg(vault_url=f"https://[{host}"),
        msg(vault_url="https://[::1]"),
        msg(vault_url="https://kv-0000000000000000.vault.azure.net"),
        msg(vault_url="https://evil.example"),
        msg(vault_url=host),
        msg(vault_url=f"{url}/secrets/x"),
        msg(vault_url="https://" + "a" * 10_000),
        msg(),  # well-formed, the secret does not exist
        msg(version=V32),
        msg(secret_name="healthy-db", version=V32),  # stale
    ]
    bodies += [msg(secret_name=bad) for bad in BAD_NAMES]
    bodies += [msg(version=bad) for bad in BAD_VERSIONS]
    bodies += [msg(secret_name=item.name, version=item.version) for item in hostile]
    bodies += [msg(secret_name=item.name) for item in hostile]
    return bodies


# ---------------------------------------------------------------------------- the test


@pytest.fixture
def info_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    yield caplog


def test_fuzzed_triggers_never_5xx_never_raise_and_lose_nothing(
    app: AppUnderTest,
    scram_postgres: ScramCluster,
    pg_login: Any,
    info_logs: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(SEED)
    user, password = pg_login()
    put_secret(
        app,
        "healthy-db",
        {"username": user, "password": password},
        tags={T.ROTATOR: "postgres", T.TARGET: scram_postgres.target},
        expires_in_days=40,
    )
    hostile = store_hostile_secrets(app, scram_postgres)
    tally = Tally()

    # HTTP, as the host builds the request (route and query parameters decoded)
    http = app.function("rotation_api")
    for i, case in enumerate(http_cases(rng, app.vault.name, hostile)):
        request = http_input(
            case["method"], {"vault": case["vault"], "name": case["name"]}, case["params"]
        )
        label = f"#{i} {case['method']} {case['vault']!r}/{case['name']!r} {case['params']}"[:200]
        response = tally.run("http", label, functools.partial(http, request))
        if response is not None:
            assert json.loads(response.get_body()), label
            if response.status_code >= 500:
                tally.server_errors.append(f"{label}: {response.status_code}")
            if response.status_code == 503:
                assert response.headers.get("Retry-After"), label

    # Event Grid, through the worker's converter (func.CloudEvent or func.EventGridEvent)
    for i, event in enumerate(event_cases(rng, app, hostile)):
        text = event if isinstance(event, str) else json.dumps(event)
        tally.run("event", f"#{i} {text[:160]}", functools.partial(app.deliver_to_function, text))

    # queue messages, through the queue converter
    worker = app.function("rotation_worker")
    for i, body in enumerate(queue_cases(app.vault.url, hostile)):
        label = f"#{i} {body[:120]!r}"
        tally.run("queue", label, functools.partial(worker, queue_input(body)))

    # the sweep finds the hostile secrets due and fans them out; the worker drops them
    tally.run("sweep", "sweep", lambda: app.function("sweep")(TimerRequest(past_due=False)))
    tally.run("queue", "swept work", app.run_queue_worker)

    assert tally.calls["http"] >= 200 and tally.calls["event"] >= 200
    assert tally.calls["queue"] >= 50
    assert tally.escaped == [], tally.escaped[:20]
    assert tally.server_errors == [], tally.server_errors[:20]

    for item in hostile:
        versions = app.versions(item.name)
        assert [v.version for v in versions] == [item.version], f"{item.name} was changed"
        assert staged_versions(app, item.name) == [], f"{item.name} got a staged candidate"
    current = json.loads(app.client.get_secret("healthy-db").value or "")
    assert pg_logs_in(scram_postgres, current["username"], current["password"])
    records = info_logs.get_records("call")
    assert any(r.levelno >= logging.ERROR and "dropped" in r.getMessage() for r in records)
    for record in records:
        text = record.getMessage() + (record.exc_text or "")
        assert MARKER not in text and password not in text, f"a value leaked via {record.name}"


def test_hostile_values_are_refused_with_a_400_naming_the_secret(
    app: AppUnderTest, scram_postgres: ScramCluster
) -> None:
    hostile = store_hostile_secrets(app, scram_postgres)
    http = app.function("rotation_api")
    for item in hostile:
        response = http(http_input("POST", {"vault": app.vault.name, "name": item.name}))
        body = json.loads(response.get_body())
        assert response.status_code == 400, (item.name, body)
        assert item.name in body["error"]["message"]
        assert MARKER not in response.get_body().decode()


def staged_versions(app: AppUnderTest, name: str) -> list[Any]:
    try:
        return app.versions(staging_name(name))
    except ResourceNotFoundError:
        return []


def lock_blobs(app: AppUnderTest) -> list[str]:
    service = BlobServiceClient.from_connection_string(app.azurite.connection_string)
    container = service.get_container_client(LOCK_CONTAINER)
    prefix = app.vault.url.removeprefix("https://") + "/"
    try:
        return [blob.name for blob in container.list_blobs(name_starts_with=prefix)]
    except ResourceNotFoundError:
        return []


def test_posts_for_absent_secrets_leave_no_lock_blobs(app: AppUnderTest) -> None:
    http = app.function("rotation_api")
    for i in range(50):
        name = f"absent-{i}-{secrets.token_hex(4)}"
        response = http(http_input("POST", {"vault": app.vault.name, "name": name}))
        assert response.status_code == 404
    assert lock_blobs(app) == []
