"""The vault status as an HTML page (``GET /api/rotations/{vault}?format=html``).

The same data as the JSON answer (:mod:`rotation.fleet`), never a value: a table sortable by
health, state, name and expiry, and an expiry timeline (inline SVG). No framework and no
outside resource: one inline style sheet and one small inline script, both allowed by their
SHA-256 hashes in a strict ``Content-Security-Policy`` (:data:`HEADERS`), which forbids every
other script, style attribute, plugin, frame, form target and network fetch. Every name, tag
value and message is HTML-escaped (tag values are free text that anyone who may edit a
secret's tags controls), so even a page rendered from hostile tags can run nothing.

Sorting: click a column header, or open the page with ``#sort=<key>`` (``health``, ``name``,
``state``, ``expires``, ``next``; ``-<key>`` for descending).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from html import escape
from typing import Any

from rotation import tags as T
from rotation.fleet import HEALTH_ORDER

TIMELINE_DAYS = 120

STYLE = """
body { font: 13px/1.35 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
.meta { color: #57606a; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .35rem .5rem; text-align: left;
  vertical-align: top; max-width: 12rem; overflow-wrap: anywhere; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0;
  cursor: pointer; }
td.problem { color: #a40e26; max-width: 24rem; font-size: 12px; }
.h { font-weight: 600; padding: 0 .35rem; border-radius: .25rem; }
.h-misconfigured, .h-expired, .h-failing { background: #ffebe9; color: #a40e26; }
.h-overdue, .h-due { background: #fff8c5; color: #7d4e00; }
.h-deferred, .h-awaiting { background: #ddf4ff; color: #0a3069; }
.h-ok { background: #dafbe1; color: #116329; }
.h-disabled { background: #eaeef2; color: #57606a; }
svg text { font: 11px system-ui, sans-serif; }
.bar-misconfigured, .bar-expired, .bar-failing { fill: #cf222e; }
.bar-overdue, .bar-due { fill: #d4a72c; }
.bar-deferred, .bar-awaiting { fill: #218bff; }
.bar-ok { fill: #2da44e; }
.bar-disabled { fill: #8c959f; }
.axis { stroke: #8c959f; }
"""

SCRIPT = """
(function () {
  var table = document.getElementById("secrets");
  var body = table.tBodies[0];
  function sortBy(key, descending) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.getAttribute("data-" + key) || "", y = b.getAttribute("data-" + key) || "";
      var c = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.setAttribute("data-sorted", (descending ? "-" : "") + key);
  }
  Array.prototype.forEach.call(table.querySelectorAll("th button"), function (button) {
    button.addEventListener("click", function () {
      var key = button.getAttribute("data-key");
      var again = table.getAttribute("data-sorted") === key;
      sortBy(key, again);
    });
  });
  var match = /^#sort=(-?)([a-z]+)$/.exec(window.location.hash);
  if (match && ["health", "name", "state", "expires", "next"].indexOf(match[2]) >= 0) {
    sortBy(match[2], match[1] === "-");
  }
})();
"""


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"script-src 'sha256-{_sha256(SCRIPT)}'; "
    f"style-src 'sha256-{_sha256(STYLE)}'; "
    "img-src 'none'; connect-src 'none'; font-src 'none'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

COLUMNS = (
    ("name", "Secret"),
    ("health", "Health"),
    ("state", "State"),
    ("expires", "Expires"),
    ("next", "Next due"),
    (None, "Last rotation"),
    (None, "Consumers pending"),
    (None, "Rotator"),
    (None, "Target"),
    (None, "Window"),
    (None, "Problem"),
)


def e(value: object) -> str:
    """HTML-escaped text (quotes too, so it is safe inside attributes); '' for None.

    Lone surrogates (a tag value may hold one) are shown as ``\\udXXX``: the page must
    encode as UTF-8 whatever the vault holds."""
    if value is None:
        return ""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return escape(text, quote=True)


def render(page: Mapping[str, Any], *, vault: str = "") -> str:
    """The page for one answer of :func:`rotation.fleet.vault_status`."""
    secrets = list(page.get("secrets", []))
    generated = _parse(page.get("generated_at"))
    rows = "\n".join(_row(entry) for entry in secrets)
    counts = ", ".join(
        f"{e(page['health'][h])} {e(h)}" for h in HEALTH_ORDER if page.get("health", {}).get(h)
    )
    more = ""
    token = page.get("continuation")
    if token:
        more = (
            f'<p class="meta">More secrets on the next page: add '
            f"<code>continuation={e(token)}</code> to the address.</p>"
        )
    head = "".join(
        f'<th><button type="button" data-key="{e(key)}">{e(label)}</button></th>'
        if key
        else f"<th>{e(label)}</th>"
        for key, label in COLUMNS
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rotation status: {e(vault or page.get("vault_url"))}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Rotation status of {e(page.get("vault_url"))}</h1>
<p class="meta">Generated {e(page.get("generated_at"))} &middot; {e(page.get("managed", 0))}
managed of {e(page.get("listed", 0))} listed on this page{": " + counts if counts else ""}.
No secret values are shown.</p>
<table id="secrets" data-sorted="health">
<thead><tr>{head}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
{more}
<h2>Expiry timeline (next {TIMELINE_DAYS} days)</h2>
{_timeline(secrets, generated)}
<script>{SCRIPT}</script>
</body>
</html>
"""


def _row(entry: Mapping[str, Any]) -> str:
    health = str(entry.get("health", "ok"))
    rank = HEALTH_ORDER.index(health) if health in HEALTH_ORDER else len(HEALTH_ORDER)
    pending = ", ".join(str(n) for n in entry.get("consumers_pending") or [])
    staged = entry.get("staged")
    problem = entry.get("problem") or ""
    check = entry.get("check")
    if check and not check.get("ok"):
        found = [problem] if problem else []
        found += [p for p in check.get("problems", []) if p not in found]
        problem = "; ".join(found)
    if staged and not problem:
        problem = f"staged candidate: {staged.get('stage')}"
    cells = [
        e(entry.get("secret_name")),
        f'<span class="h h-{e(health)}">{e(health)}</span>',
        e(entry.get("state") or "-"),
        e(entry.get("expires_on") or "never"),
        e(entry.get("next_due") or "-"),
        e(entry.get("rotated_at") or "-"),
        e(pending or "-"),
        e(entry.get("rotator")),
        e(entry.get("target") or "-"),
        e(entry.get("window") or "any time"),
        e(problem or ""),
    ]
    tds = "".join(
        f'<td class="problem">{c}</td>' if i == len(cells) - 1 else f"<td>{c}</td>"
        for i, c in enumerate(cells)
    )
    return (
        f'<tr data-name="{e(str(entry.get("secret_name", "")).lower())}" '
        f'data-health="{rank:02d}" data-state="{e(entry.get("state") or "")}" '
        f'data-expires="{e(entry.get("expires_on") or "9999")}" '
        f'data-next="{e(entry.get("next_due") or "9999")}">{tds}</tr>'
    )


def _timeline(secrets: list[Mapping[str, Any]], now: datetime | None) -> str:
    width, left, row_height = 960, 220, 18
    plot = width - left - 20
    height = 30 + row_height * max(len(secrets), 1)
    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img" aria-label="expiry timeline">'
    ]
    for day in range(0, TIMELINE_DAYS + 1, 30):
        x = left + plot * day / TIMELINE_DAYS
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 12}"></line>'
            f'<text x="{x + 2:.1f}" y="{height - 2}">+{day} d</text>'
        )
    for index, entry in enumerate(secrets):
        y = 4 + index * row_height
        expires = _parse(entry.get("expires_on"))
        health = str(entry.get("health", "ok"))
        name = e(entry.get("secret_name"))
        parts.append(f'<text x="0" y="{y + 11}">{name}</text>')
        if now is None or expires is None:
            parts.append(f'<text x="{left}" y="{y + 11}">no expiry</text>')
            continue
        days = (expires - now) / timedelta(days=1)
        length = max(2.0, min(plot, plot * max(days, 0) / TIMELINE_DAYS))
        parts.append(
            f'<rect class="bar-{e(health)}" data-secret="{name}" x="{left}" y="{y}" '
            f'width="{length:.1f}" height="{row_height - 6}"><title>{name}: expires '
            f"{e(entry.get('expires_on'))}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _parse(value: object) -> datetime | None:
    return T.parse_time(value) if isinstance(value, str) else None
