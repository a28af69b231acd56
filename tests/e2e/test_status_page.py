"""The status page (``?format=html``) in a real headless Chromium (Debian's ``chromium``).

The page comes from function_app's HTTP trigger on the local stack; a tiny local HTTP server
serves its body with the function's own headers (so the Content-Security-Policy is what
Chromium enforces), Chromium loads it, and the test reads the DOM after scripts ran
(``--dump-dom``) and saves a screenshot in the test's tmp dir. Hostile tag values try script
injection; none may run.
"""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from rotation import tags as T
from tests.e2e.conftest import AppUnderTest, in_days
from tests.support.functions_host import http_input

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

PAYLOAD_TARGET = "<script>document.title='PWNED-target'</script>db:5432/app"
PAYLOAD_WINDOW = "<img src=x onerror=\"document.title='PWNED-window'\">"
PAYLOAD_CONSUMERS = "\"><script>document.title='PWNED-consumer'</script>"


def serve(body: bytes, headers: Mapping[str, str]) -> tuple[http.server.HTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-proxy-server",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def page(app: AppUnderTest) -> Iterator[tuple[str, Mapping[str, str]]]:
    pg = {T.ROTATOR: "postgres", T.TARGET: "db.example.com:5432/app"}

    def put(name: str, days: float, **tags: str) -> None:
        app.client.set_secret(
            name,
            '{"username": "u", "password": "VALUE-NOT-SHOWN"}',
            content_type="application/json",
            expires_on=in_days(days),
            tags=tags,
        )

    put("alpha-late", 200, **pg, **{T.STATE: "completed"})
    put("bravo-soon", 5, **pg)
    put("charlie-mid", 70, **pg)
    put("hostile", 100, **{T.ROTATOR: "postgres", T.TARGET: PAYLOAD_TARGET})
    put("hostile-window", 90, **pg, **{T.WINDOW: PAYLOAD_WINDOW})
    put(
        "hostile-consumers",
        120,
        **pg,
        **{T.STATE: "awaiting-consumers", T.CONSUMERS: PAYLOAD_CONSUMERS},
    )
    response = app.function("vault_status_api")(
        http_input("GET", {"vault": app.vault.name}, {"format": "html", "check": "true"})
    )
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    body = response.get_body()
    server, url = serve(body, dict(response.headers))
    try:
        yield url, dict(response.headers)
    finally:
        server.shutdown()


def rows(dom: str) -> list[str]:
    return re.findall(r'<tr data-name="([^"]*)"', dom)


def test_page_sorts_escapes_and_runs_no_injected_script(
    page: tuple[str, Mapping[str, str]], tmp_path: Path
) -> None:
    url, headers = page
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "script-src 'sha256-" in csp

    done = chromium("--dump-dom", url + "#sort=expires")
    dom = done.stdout
    (tmp_path / "status-page.dom.html").write_text(dom)
    assert "<table" in dom, done.stderr[-2000:]
    # Our script ran (the CSP hash admits it) and sorted by expiry, soonest first.
    assert 'data-sorted="expires"' in dom
    order = rows(dom)
    assert order[0] == "bravo-soon" and order[-1] == "alpha-late"
    assert order.index("charlie-mid") < order.index("hostile-window")

    descending = rows(chromium("--dump-dom", url + "#sort=-name").stdout)
    assert descending == sorted(descending, reverse=True)

    # No injected script ran, and the hostile text is shown as text.
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and "PWNED" not in title.group(1)
    assert "&lt;script&gt;document.title='PWNED-target'&lt;/script&gt;" in dom
    assert "<script>document.title" not in dom
    assert "<img" not in dom
    assert dom.count("<script") == 1
    assert "VALUE-NOT-SHOWN" not in dom
    assert "<svg" in dom and "<rect" in dom

    shot = tmp_path / "status-page.png"
    done = chromium(
        "--screenshot=" + str(shot),
        "--window-size=1600,1000",
        "--hide-scrollbars",
        "--virtual-time-budget=3000",
        url,
    )
    assert shot.exists() and shot.stat().st_size > 10_000, done.stderr[-2000:]
