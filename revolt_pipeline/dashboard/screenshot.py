"""A dashboard page's screenshot, as the README shows it: the app served on 127.0.0.1, the page taken in a real
browser (Debian's chromium, driven by Playwright: Playwright's own browser download cannot work offline).

`revolt dashboard-screenshot` (cli.py) builds the demo's data first, or takes the report database the settings
name; this module only serves and shoots. Playwright comes with the test dependencies (`pip install -e '.[test]'`).
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from revolt_pipeline.dashboard.urls import page_url
from revolt_pipeline.settings import Settings

CHROMIUM = "/usr/bin/chromium"  # Debian's package (apt-get install chromium)
# Offline and quiet: no update checks, sync or first-run pages, and no name resolved but 127.0.0.1.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
WIDTH, HEIGHT = 1280, 900


class ScreenshotError(RuntimeError):
    """The screenshot could not be taken: what is missing or what the page did wrong."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The dashboard over the report database of `settings`, on a free port of 127.0.0.1 in a thread (no token:
    loopback only); yields its address."""
    import uvicorn

    from revolt_pipeline.dashboard.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-screenshot", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ScreenshotError(f"the dashboard did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def take_screenshot(
    url: str, out: Path, *, browser: str = CHROMIUM, width: int = WIDTH, height: int = HEIGHT, full_page: bool = False
) -> list[str]:
    """Load `url` in headless chromium and save a PNG of it at `out`; returns the console's errors, which a page of
    the dashboard has none of (ScreenshotError when the page does not answer 200)."""
    if not Path(browser).exists():
        raise ScreenshotError(f"{browser} is missing (Debian: apt-get install chromium; or pass --browser)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ScreenshotError("playwright is not installed: pip install -e '.[screenshot]'") from None
    out.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            response = page.goto(url, wait_until="networkidle")
            if response is None or response.status != 200:
                raise ScreenshotError(f"{url} answered {response.status if response else 'nothing'}")
            page.screenshot(path=str(out), full_page=full_page)
        finally:
            chromium.close()
    return errors


def screenshot_page(
    settings: Settings,
    out: Path,
    page: str = "overview",
    *,
    browser: str = CHROMIUM,
    full_page: bool = False,
    **filters: str | None,
) -> tuple[str, list[str]]:
    """Serve the dashboard over the settings' report database and save `page` (with `filters`) as a PNG at `out`,
    the first screenful or `full_page`; returns the page's path and query, and the browser console's errors."""
    with serving(settings) as address:
        url = page_url(address, page, **filters)
        errors = take_screenshot(url, out, browser=browser, full_page=full_page)
    return url.removeprefix(address), errors
