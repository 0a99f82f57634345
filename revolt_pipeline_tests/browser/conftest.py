"""A real browser for the browser tests: Debian's chromium driven by Playwright, the official Segment SDK from
npm (pinned in package-lock.json, installed on demand into node_modules/ here), and a page server on another
127.0.0.1 port, so the page and the collector are different origins exactly as on a real site."""

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

# The command that takes the README's screenshot launches chromium the same way: offline, quiet, sandbox off.
from revolt_pipeline.dashboard.screenshot import CHROMIUM, CHROMIUM_ARGS
from revolt_pipeline_tests.fixtures.services import free_port, unavailable

HERE = Path(__file__).parent
PACKAGE = "@segment/analytics-next"


def pinned_version() -> str:
    return json.loads((HERE / "package.json").read_text())["dependencies"][PACKAGE]


@pytest.fixture(scope="session")
def analytics_next_umd() -> Path:
    """The UMD folder of the pinned @segment/analytics-next, installed with `npm ci` when not there yet."""
    installed = HERE / "node_modules" / PACKAGE
    manifest = installed / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text())["version"] != pinned_version():
        npm = shutil.which("npm")
        if npm is None:
            unavailable("npm is not installed (Debian: apt-get install npm); it installs the Segment browser SDK")
        result = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            unavailable(f"`npm ci` could not install {PACKAGE}: {result.stderr.strip()[-800:]}")
    umd = installed / "dist" / "umd"
    assert (umd / "index.js").exists(), f"{PACKAGE} {pinned_version()} ships no dist/umd/index.js"
    return umd


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Debian chromium under Playwright (Playwright's own browser download needs the internet).

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread while it lives,
    and later tests that call asyncio.run (Dagster's GraphQL among them) would find it there.
    """
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    # Every request to a host other than 127.0.0.1 goes to a proxy that is not there, so it fails on this machine.
    dead_proxy = {"server": f"http://127.0.0.1:{free_port()}", "bypass": "127.0.0.1"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, proxy=dead_proxy)
        try:
            yield browser
        finally:
            browser.close()


class _PageHandler(BaseHTTPRequestHandler):
    files: dict[str, tuple[Path, str]]

    def do_GET(self) -> None:
        found = self.files.get(urlsplit(self.path).path)
        if found is None:
            self.send_error(404)
            return
        path, content_type = found
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class PageServer:
    url: str
    server: ThreadingHTTPServer
    thread: threading.Thread = field(repr=False)


@pytest.fixture
def page_server(analytics_next_umd: Path) -> Iterator[PageServer]:
    """The test page and the SDK's UMD bundle, served from their own 127.0.0.1 port (another origin)."""
    files = {
        "/": (HERE / "page" / "index.html", "text/html; charset=utf-8"),
        "/analytics-next/index.js": (analytics_next_umd / "index.js", "text/javascript; charset=utf-8"),
    }
    handler = type("PageHandler", (_PageHandler,), {"files": files})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield PageServer(f"http://127.0.0.1:{server.server_address[1]}", server, thread)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
