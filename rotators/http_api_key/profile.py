"""The profile model: how to mint, find, verify and revoke API keys on one HTTP API.

A profile is a JSON object (see ``rotators/http_api_key/README.md`` for a full example)::

    {
      "name": "datadog",
      "base_url": "https://api.datadoghq.com",
      "management_headers": {"DD-API-KEY": "{admin.password}", ...},
      "create": {"method": "POST", "path": "/api/v2/api_keys", "body": {...},
                 "key_path": "data.attributes.key", "id_path": "data.id"},
      "find":   {"path": "/api/v2/api_keys", "query": {"filter": "{key_name}"},
                 "items_path": "data", "name_path": "attributes.name", "id_path": "id"},
      "verify": {"path": "/api/v1/validate", "headers": {"DD-API-KEY": "{key}"},
                 "expect_json": {"valid": true}},
      "revoke": {"method": "DELETE", "path": "/api/v2/api_keys/{key_id}"}
    }

:func:`parse_profile` validates everything on load (unknown fields, types, methods, URL
scheme, JSON paths, which placeholders each part may use) and raises :class:`ProfileError`
naming the profile, its source and the offending field. A parsed :class:`Profile` is
immutable and needs no further checks at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rotation import tags as T
from rotation.errors import ConfigurationError
from rotation.targets import has_userinfo, is_loopback, without_userinfo
from rotators.http_api_key.templates import is_json_path, json_strings, placeholders

PROFILE_TAG = T.PROFILE
PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

#: Placeholders each part of a profile may use. ``admin.<field>`` is any field of the admin
#: secret (``admin.password``, ``admin.username`` or a field of its JSON value).
CREATE_VARS = frozenset({"key_name", "secret_name"})
FIND_VARS = frozenset({"key_name", "secret_name"})
VERIFY_VARS = frozenset({"key", "key_id", "key_name"})
REVOKE_VARS = frozenset({"key_id", "key_name", "secret_name"})

MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 120.0
MAX_RETRY_AFTER = 60.0


class ProfileError(ConfigurationError):
    """A profile is missing, unreadable or invalid. The message names the field to fix."""

    def __init__(
        self,
        message: str,
        *,
        profile: str | None = None,
        source: str | None = None,
        secret: str | None = None,
    ) -> None:
        where = ""
        if profile:
            where = f"profile '{profile}'"
        if source:
            where = f"{where} ({source})" if where else source
        super().__init__(
            f"{where}: {message}" if where else message, secret=secret, tag=PROFILE_TAG
        )
        self.profile = profile
        self.source = source


@dataclass(frozen=True)
class RequestSpec:
    """One HTTP request: method, path (relative to the base URL), query, headers, JSON body.

    Every string may contain placeholders; ``body`` is a JSON template or ``None``.
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None

    def strings(self) -> list[str]:
        """Every template string of the request."""
        return [
            self.path,
            *self.query.keys(),
            *self.query.values(),
            *self.headers.keys(),
            *self.headers.values(),
            *json_strings(self.body),
        ]


@dataclass(frozen=True)
class CreateSpec:
    """Mint a key. ``key_path``/``id_path`` locate the new key and its id in the response;
    ``store`` copies further response fields (never secrets) into the credential's extra."""

    request: RequestSpec
    key_path: str
    id_path: str
    store: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FindSpec:
    """List keys matching a name, to find keys minted by a request whose response was lost.

    Matching is exact on the value at ``name_path`` of each item under ``items_path``.
    """

    request: RequestSpec
    items_path: str
    name_path: str
    id_path: str


@dataclass(frozen=True)
class VerifySpec:
    """Prove a key works: 2xx and, for each ``expect_json`` path, an equal value."""

    request: RequestSpec
    expect_json: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RevokeSpec:
    """Revoke a key by id. ``gone_statuses`` mean "already revoked" (success)."""

    request: RequestSpec
    gone_statuses: frozenset[int] = frozenset({404})


@dataclass(frozen=True)
class Profile:
    """A validated profile. ``source`` says where it was loaded from (for messages)."""

    name: str
    base_url: str
    management_headers: Mapping[str, str]
    create: CreateSpec
    verify: VerifySpec
    revoke: RevokeSpec
    find: FindSpec | None = None
    description: str = ""
    documentation: str = ""
    timeout_seconds: float = 10.0
    max_retry_after_seconds: float = 10.0
    key_name_max_length: int = 100
    source: str = "builtin"


def check_base_url(url: str) -> str | None:
    """Why ``url`` cannot be a base URL, or ``None`` if it can.

    HTTPS is required; plain HTTP is accepted only for loopback hosts (local tests). The
    reason never repeats a ``user:password@`` part of ``url``.
    """
    if has_userinfo(url):
        return "a base URL has no query, fragment or user info (credentials go in the admin secret)"
    shown = without_userinfo(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"'{shown}' is not a valid URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"'{shown}' must be an absolute https:// URL"
    if parts.query or parts.fragment or parts.username or parts.password:
        return "a base URL has no query, fragment or user info"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return f"'{shown}' must use https (plain http is allowed only for localhost)"
    return None


def _is_loopback(host: str) -> bool:
    return is_loopback(host)


class _Reader:
    """Typed access to one JSON object of a profile, collecting the field path for errors."""

    def __init__(self, data: Any, where: str, fail: _Fail) -> None:
        self.where = where
        self.fail = fail
        if not isinstance(data, dict):
            fail(f"{where or 'the profile'} must be a JSON object")
        self.data: dict[str, Any] = data

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def check_known(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known)
        if unknown:
            self.fail(
                f"unknown field '{self.path(unknown[0])}' (known here: {', '.join(sorted(known))})"
            )

    def get(
        self, name: str, kind: type | tuple[type, ...], default: Any = ..., label: str = ""
    ) -> Any:
        if name not in self.data:
            if default is ...:
                self.fail(f"'{self.path(name)}' is required")
            return default
        value = self.data[name]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            self.fail(f"'{self.path(name)}' must be {label or 'a number'}")
        if not isinstance(value, kind):
            self.fail(f"'{self.path(name)}' must be {label or _type_label(kind)}")
        return value

    def string(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default, "a string")
        if isinstance(value, str) and not value.strip():
            self.fail(f"'{self.path(name)}' cannot be empty")
        return value

    def string_map(self, name: str) -> dict[str, str]:
        value = self.get(name, dict, {}, "an object of strings")
        for key, item in value.items():
            if not isinstance(item, str):
                self.fail(f"'{self.path(name)}.{key}' must be a string")
        return dict(value)

    def json_path(self, name: str, default: Any = ...) -> Any:
        value = self.string(name, default)
        if isinstance(value, str) and not is_json_path(value):
            self.fail(f"'{self.path(name)}' is not a dotted JSON path like 'data.attributes.key'")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = float(self.get(name, (int, float), default, "a number"))
        if not low <= value <= high:
            self.fail(f"'{self.path(name)}' must be between {low:g} and {high:g}")
        return value


def _type_label(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", dict: "a JSON object", list: "a list", int: "a whole number"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


class _Fail:
    def __init__(self, profile: str | None, source: str, secret: str | None) -> None:
        self.profile = profile
        self.source = source
        self.secret = secret

    def __call__(self, message: str) -> Any:
        raise ProfileError(message, profile=self.profile, source=self.source, secret=self.secret)


_REQUEST_FIELDS = {"method", "path", "query", "headers", "body"}


def _request(reader: _Reader, default_method: str, allowed: frozenset[str]) -> RequestSpec:
    method = reader.string("method", default_method).upper()
    if method not in METHODS:
        reader.fail(f"'{reader.path('method')}' must be one of {', '.join(sorted(METHODS))}")
    path = reader.string("path")
    if not path.startswith("/") or "://" in path or "#" in path:
        reader.fail(f"'{reader.path('path')}' must start with '/' (it is relative to base_url)")
    spec = RequestSpec(
        method=method,
        path=path,
        query=reader.string_map("query"),
        headers=reader.string_map("headers"),
        body=reader.data.get("body"),
    )
    if spec.body is not None and method in ("GET", "DELETE"):
        reader.fail(f"'{reader.path('body')}' is not allowed on a {method} request")
    _check_placeholders(reader, spec.strings(), allowed)
    return spec


def _check_placeholders(reader: _Reader, strings: list[str], allowed: frozenset[str]) -> None:
    for text in strings:
        for name in placeholders(text):
            if name not in allowed:
                reader.fail(
                    f"placeholder '{{{name}}}' is not available in '{reader.where}' "
                    f"(available: {', '.join('{' + n + '}' for n in sorted(allowed))})"
                )


def _uses(spec: RequestSpec, name: str) -> bool:
    return any(name in placeholders(text) for text in spec.strings())


def parse_profile(data: Any, *, source: str = "builtin", secret: str | None = None) -> Profile:
    """Validate a profile's JSON object and return it as a :class:`Profile`.

    Raises :class:`ProfileError` with the first problem found, naming the field.
    """
    name_hint = data.get("name") if isinstance(data, dict) else None
    fail = _Fail(name_hint if isinstance(name_hint, str) else None, source, secret)
    top = _Reader(data, "", fail)
    top.check_known(
        {
            "name",
            "description",
            "documentation",
            "base_url",
            "management_headers",
            "create",
            "find",
            "verify",
            "revoke",
            "timeout_seconds",
            "max_retry_after_seconds",
            "key_name_max_length",
        }
    )
    name = top.string("name")
    if not PROFILE_NAME.match(name):
        fail("'name' may use only letters, digits, '-' and '_' (at most 64)")
    base_url = top.string("base_url").rstrip("/")
    problem = check_base_url(base_url)
    if problem:
        fail(f"'base_url': {problem}")

    headers = top.string_map("management_headers")
    if not headers:
        fail("'management_headers' must say how management calls authenticate")
    for text in [*headers, *headers.values()]:
        for var in placeholders(text):
            if not var.startswith("admin."):
                fail(
                    f"placeholder '{{{var}}}' is not available in 'management_headers' "
                    "(use {admin.password}, {admin.username} or {admin.<field>})"
                )

    create_r = _Reader(top.get("create", dict, ..., "a JSON object"), "create", fail)
    create_r.check_known(_REQUEST_FIELDS | {"key_path", "id_path", "store"})
    create_req = _request(create_r, "POST", CREATE_VARS)
    store = create_r.string_map("store")
    for key, path in store.items():
        if key in ("password", "username", "key_id", "key_name") or not is_json_path(path):
            fail(f"'create.store.{key}' must map a new field name to a dotted JSON path")
    create = CreateSpec(
        request=create_req,
        key_path=create_r.json_path("key_path"),
        id_path=create_r.json_path("id_path"),
        store=store,
    )

    find: FindSpec | None = None
    if "find" in top.data:
        find_r = _Reader(top.get("find", dict, ..., "a JSON object"), "find", fail)
        find_r.check_known(_REQUEST_FIELDS | {"items_path", "name_path", "id_path"})
        find_req = _request(find_r, "GET", FIND_VARS)
        find = FindSpec(
            request=find_req,
            items_path=find_r.json_path("items_path"),
            name_path=find_r.json_path("name_path"),
            id_path=find_r.json_path("id_path"),
        )

    verify_r = _Reader(top.get("verify", dict, ..., "a JSON object"), "verify", fail)
    verify_r.check_known(_REQUEST_FIELDS | {"expect_json"})
    verify_req = _request(verify_r, "GET", VERIFY_VARS)
    if not _uses(verify_req, "key"):
        fail("'verify' must send the key under test: use '{key}' in its headers, query or path")
    expect = verify_r.get("expect_json", dict, {}, "a JSON object of path: value")
    for path in expect:
        if not is_json_path(path):
            fail(f"'verify.expect_json' key '{path}' is not a dotted JSON path")

    revoke_r = _Reader(top.get("revoke", dict, ..., "a JSON object"), "revoke", fail)
    revoke_r.check_known(_REQUEST_FIELDS | {"gone_statuses"})
    revoke_req = _request(revoke_r, "DELETE", REVOKE_VARS)
    if not _uses(revoke_req, "key_id"):
        fail("'revoke' must name the key to revoke: use '{key_id}' in its path, query or body")
    gone = revoke_r.get("gone_statuses", list, [404], "a list of HTTP status codes")
    if any(isinstance(s, bool) or not isinstance(s, int) or not 400 <= s <= 499 for s in gone):
        fail("'revoke.gone_statuses' must list 4xx status codes")

    max_name = int(top.number("key_name_max_length", 100, 24, 1024))
    return Profile(
        name=name,
        description=top.get("description", str, "", "a string"),
        documentation=top.get("documentation", str, "", "a string"),
        base_url=base_url,
        management_headers=headers,
        create=create,
        find=find,
        verify=VerifySpec(request=verify_req, expect_json=dict(expect)),
        revoke=RevokeSpec(request=revoke_req, gone_statuses=frozenset(gone)),
        timeout_seconds=top.number("timeout_seconds", 10.0, MIN_TIMEOUT, MAX_TIMEOUT),
        max_retry_after_seconds=top.number("max_retry_after_seconds", 10.0, 0.0, MAX_RETRY_AFTER),
        key_name_max_length=max_name,
        source=source,
    )
