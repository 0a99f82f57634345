"""Acceptance: the official Segment browser SDK (@segment/analytics-next, its UMD bundle from npm) on a page of
another origin, in headless chromium, delivers every event to a real `revolt collector serve` exactly once.

Nothing may leave 127.0.0.1. Playwright's own request routing cannot enforce that here: once any route is
set, Playwright answers every CORS preflight itself with permissive headers, which would hide the very thing
under test. So the browser is cut off in its own network stack (a dead proxy for every non-loopback host, and
no name resolution), and every request it makes is observed through Playwright and checked.
"""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.browser.conftest import PageServer, pinned_version
from revolt_pipeline_tests.fixtures.collector import ADMIN_TOKEN, SOURCES, CollectorProcess, read_landed

pytestmark = pytest.mark.services

WRITE_KEY = SOURCES["web"][1]
EVENTS_PER_CALL = 22  # what the page's sendEvents() sends: track, page, identify, group, alias, screen


@dataclass
class BrowserPage:
    """The test page in a fresh browser context, with everything it did on the network and the console."""

    page: Any
    collector_url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    in_flight: set[Any] = field(default_factory=set)

    def load(self, *, settings: str, delivery: str) -> str:
        options = {"writeKey": WRITE_KEY, "collector": self.collector_url, "settings": settings, "delivery": delivery}
        return self.page.evaluate("options => loadAnalytics(options)", options)

    def send_events(self, phase: str) -> list[str]:
        message_ids = self.page.evaluate("phase => sendEvents(phase)", phase)
        assert len(message_ids) == EVENTS_PER_CALL and len(set(message_ids)) == EVENTS_PER_CALL
        return message_ids

    def outside_requests(self) -> list[str]:
        return [url for _, url in self.requests if urlsplit(url).hostname != "127.0.0.1"]


@pytest.fixture
def browser_page(chromium: Any, page_server: PageServer, tmp_path: Path) -> Iterator[Callable[[str], BrowserPage]]:
    """Open the page for a collector URL; a screenshot of it is kept under the test's tmp_path."""
    opened: list[tuple[Any, BrowserPage]] = []

    def open_page(collector_url: str) -> BrowserPage:
        context = chromium.new_context()
        page = context.new_page()
        browser_page = BrowserPage(page, collector_url)

        def console(message: Any) -> None:
            if message.type == "error":
                browser_page.console_errors.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda error: browser_page.page_errors.append(str(error)))

        def started(request: Any) -> None:
            browser_page.requests.append((request.method, request.url))
            if request.url.startswith(collector_url):
                browser_page.in_flight.add(request)

        def finished(request: Any) -> None:
            browser_page.in_flight.discard(request)

        def failed(request: Any) -> None:
            browser_page.in_flight.discard(request)
            browser_page.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

        context.on("request", started)
        context.on("requestfinished", finished)
        context.on("requestfailed", failed)
        page.goto(page_server.url + "/")
        opened.append((context, browser_page))
        return browser_page

    yield open_page
    for number, (context, browser_page) in enumerate(opened):
        browser_page.page.screenshot(path=tmp_path / f"analytics-next-{number}.png", full_page=True)
        context.close()


def landed_message_ids(collector: CollectorProcess) -> Counter[str]:
    """Land everything the collector holds, then count the landed records by messageId."""
    response = httpx.post(collector.url + "/admin/flush", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    response.raise_for_status()
    return Counter(record["messageId"] for record in landed_records(collector))


def landed_records(collector: CollectorProcess) -> list[dict[str, Any]]:
    return read_landed(ObjectStore((collector.home / "store").as_uri()))


def wait_until_landed_once(collector: CollectorProcess, browser: BrowserPage, sent: list[str]) -> Counter[str]:
    """Wait until every sent event has landed and the page has nothing in flight; then count once more."""
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        landed = landed_message_ids(collector)
        if set(sent) <= set(landed) and not browser.in_flight:
            break
        browser.page.wait_for_timeout(250)  # lets Playwright deliver the page's network events meanwhile
    landed = landed_message_ids(collector)
    missing = [message_id for message_id in sent if message_id not in landed]
    assert not missing, f"{len(missing)} of {len(sent)} events never landed; collector log:\n{collector_log(collector)}"
    return landed


def collector_log(collector: CollectorProcess) -> str:
    return collector.log.read_text()[-3000:] if collector.log.exists() else "(none)"


def assert_exactly_once(landed: Counter[str], sent: list[str]) -> None:
    assert sorted(landed) == sorted(sent), "the collector landed events the page did not send"
    assert {message_id: count for message_id, count in landed.items() if count != 1} == {}


def test_analytics_next_with_inline_settings_delivers_every_event_once(
    collector_process: Callable[..., CollectorProcess], browser_page: Callable[[str], BrowserPage]
) -> None:
    collector = collector_process()
    browser = browser_page(collector.url)
    assert browser.load(settings="inline", delivery="standard") == pinned_version()

    sent = browser.send_events("inline")

    assert_exactly_once(wait_until_landed_once(collector, browser, sent), sent)
    assert browser.console_errors == [] and browser.page_errors == [] and browser.failed_requests == []
    assert browser.outside_requests() == []
    # One request per event, on the one-letter paths analytics.js uses (/v1/t, /v1/p, /v1/i, ...).
    posted = Counter(urlsplit(url).path for method, url in browser.requests if method == "POST")
    assert sum(posted.values()) == EVENTS_PER_CALL and set(posted) == {f"/v1/{letter}" for letter in "tpigas"}

    by_id = {record["messageId"]: record for record in landed_records(collector)}
    timer = next(record for record in by_id.values() if record["message"].get("event") == "Timer Started")
    assert timer["source"] == "web" and timer["platform"] == "web"
    assert timer["message"]["properties"] == {"project": "apollo", "billable": True}
    assert timer["message"]["context"]["library"]["name"] == "analytics.js"
    assert timer["message"]["context"]["page"]["url"].startswith(browser.page.url.rstrip("/"))
    assert "writeKey" not in timer["message"]
    unicode = next(record for record in by_id.values() if record["message"].get("event") == "Unicode Checked")
    assert unicode["message"]["properties"]["text"] == "naïve café é 中文 😀"
    alias = next(record for record in by_id.values() if record["type"] == "alias")
    assert (alias["message"]["userId"], alias["message"]["previousId"]) == ("user-inline", "anon-inline")


def test_analytics_next_with_the_collector_as_cdn_fetches_its_settings_and_batches(
    collector_process: Callable[..., CollectorProcess], browser_page: Callable[[str], BrowserPage]
) -> None:
    collector = collector_process()
    browser = browser_page(collector.url)
    browser.load(settings="collector", delivery="batching")

    sent = browser.send_events("cdn")

    assert_exactly_once(wait_until_landed_once(collector, browser, sent), sent)
    assert browser.console_errors == [] and browser.page_errors == [] and browser.failed_requests == []
    assert browser.outside_requests() == []
    assert ("GET", f"{collector.url}/v1/projects/{WRITE_KEY}/settings") in browser.requests
    posted = Counter(urlsplit(url).path for method, url in browser.requests if method == "POST")
    assert set(posted) == {"/v1/b"} and posted["/v1/b"] >= 3  # batches of at most 10
    # The served settings turn off Segment's bundling metadata, so messages carry none.
    assert not any("_metadata" in record["message"] for record in landed_records(collector))


def test_analytics_next_keeps_working_through_a_collector_restart(
    collector_process: Callable[..., CollectorProcess], browser_page: Callable[[str], BrowserPage]
) -> None:
    collector = collector_process()
    browser = browser_page(collector.url)
    browser.load(settings="collector", delivery="standard")
    before = browser.send_events("before")
    wait_until_landed_once(collector, browser, before)

    collector.stop()
    during = browser.send_events("during")  # the page keeps working; the SDK keeps these for retrying
    assert len(browser.failed_requests) >= EVENTS_PER_CALL  # they really found the collector gone
    collector.start()  # same port, same REVOLT_HOME
    landed = wait_until_landed_once(collector, browser, before + during)
    after = browser.send_events("after")
    landed = wait_until_landed_once(collector, browser, before + during + after)

    assert_exactly_once(landed, before + during + after)
    assert browser.page_errors == []
    # While the collector was down, the browser reports refused connections, and nothing else.
    assert [text for text in browser.console_errors if "ERR_CONNECTION_REFUSED" not in text] == []
    assert all("ERR_CONNECTION_REFUSED" in failure for failure in browser.failed_requests)
    assert browser.outside_requests() == []
