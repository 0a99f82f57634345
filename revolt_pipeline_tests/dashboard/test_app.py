"""The dashboard as a real HTTP server on 127.0.0.1: every page answers, with a message rather than an error when
there is nothing to show or the database is down, and nothing is served without the token when one is set."""

import dataclasses
import html
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.dashboard import pages, server
from revolt_pipeline.dashboard.auth import COOKIE
from revolt_pipeline.dashboard.urls import PAGES, page_url
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.architecture.test_sql_only_in_transforms import PACKAGE, sql_in
from revolt_pipeline_tests.dashboard.harness import dashboard_server
from revolt_pipeline_tests.fixtures.services import free_port

TOKEN = "s3cret-dashboard-token"
HTML = {"accept": "text/html"}


def every_page(base: str, person_id: str = "user-4") -> dict[str, str]:
    return {name: page_url(base, name, person_id=person_id if "{" in path else None) for name, path in PAGES.items()}


def test_every_page_answers_over_the_report_tables(report_db: Callable[..., Settings]) -> None:
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        for name, url in every_page(base).items():
            response = client.get(url)
            assert response.status_code == 200, (name, response.text[:500])
            assert f'data-page="{name}"' in response.text
            assert "Not trained yet" not in response.text
            assert response.headers["cache-control"] == "no-store"
            assert "script-src" not in response.headers["content-security-policy"]  # default-src 'none': no script
        assert client.get(page_url(base, "person", person_id="nobody")).status_code == 404


def test_empty_tables_get_a_message_never_an_error(report_db: Callable[..., Settings]) -> None:
    with dashboard_server(report_db(empty=True)) as base, httpx.Client() as client:
        for name, url in every_page(base).items():
            response = client.get(url)
            assert response.status_code == (404 if name == "person" else 200), (name, response.text[:300])
            assert 'class="missing"' in response.text, name
        assert "Not trained yet: run ml_job" in client.get(page_url(base, "churn")).text
        assert "Not trained yet: run ml_job" in client.get(page_url(base, "segments")).text


def test_a_database_without_report_tables_is_named_on_the_page(report_db: Callable[..., Settings]) -> None:
    settings = report_db(tables=False)
    path = Path(settings.report_db_url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()  # a database, but not the pipeline's
    with dashboard_server(settings) as base, httpx.Client() as client:
        for name, url in every_page(base).items():
            response = client.get(url)
            assert response.status_code == (404 if name == "person" else 200), (name, response.text[:300])
        text = client.get(base).text
    assert "no report tables yet" in text and str(path) in text


def test_a_missing_sqlite_file_is_named_and_not_created(report_db: Callable[..., Settings], tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "reports.sqlite"
    settings = dataclasses.replace(report_db(tables=False), report_db_url=f"sqlite:///{missing}")
    with dashboard_server(settings) as base, httpx.Client() as client:
        for name, url in every_page(base).items():
            response = client.get(url)
            assert response.status_code == 503, name
            assert f"There is no report database at <code>{missing}</code>" in response.text, name
        assert not missing.parent.exists()  # neither the file nor its folder: the dashboard only reads
        # Once the pipeline has made it, the next request reads it.
        missing.parent.mkdir()
        shutil.copyfile(report_db().report_db_url.removeprefix("sqlite:///"), missing)
        assert client.get(base).status_code == 200


def test_a_database_that_does_not_answer_gets_503_and_what_to_check(report_db: Callable[..., Settings]) -> None:
    closed = f"postgresql+psycopg://reports@127.0.0.1:{free_port()}/reports?connect_timeout=2"
    settings = dataclasses.replace(report_db(), report_db_url=closed)
    with dashboard_server(settings) as base, httpx.Client() as client:
        response = client.get(base)
    assert response.status_code == 503
    assert "cannot be read right now" in response.text and "REVOLT_REPORT_DB_URL" in response.text


def test_filters_that_cannot_be_read_are_reported_and_text_stays_text(report_db: Callable[..., Settings]) -> None:
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        response = client.get(base, params={"from": "yesterday", "to": "2026-11-15"})
        assert response.status_code == 200
        assert "`from` must be a day" in response.text
        response = client.get(page_url(base, "people"), params={"q": '<script>alert("x")</script>'})
        assert response.status_code == 200
        assert "<script>" not in response.text and "&lt;script&gt;" in response.text


def test_without_a_token_it_answers_only_requests_addressed_to_loopback(report_db: Callable[..., Settings]) -> None:
    """DNS rebinding: a site re-pointing its own name at 127.0.0.1 must not read the dashboard in a browser."""
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        port = base.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert client.get(base, headers={"host": host}).status_code == 200, host
        for host in (f"evil.example:{port}", "evil.example", f"192.168.1.20:{port}", ""):
            assert client.get(base, headers={"host": host}).status_code == 421, host
    with dashboard_server(report_db(), token=TOKEN) as base, httpx.Client() as client:
        # With a token, a proxy may name the dashboard as it likes: the token guards it.
        answer = client.get(base, headers={"host": "dashboard.example", "authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200


def test_with_a_token_nothing_is_served_without_it(report_db: Callable[..., Settings]) -> None:
    with dashboard_server(report_db(), token=TOKEN) as base, httpx.Client() as client:
        for url in [*every_page(base).values(), f"{base}/static/dashboard.css"]:
            assert client.get(url).status_code == 401, url
            assert client.get(url, headers={"authorization": "Bearer wrong"}).status_code == 401, url
            assert client.get(url, headers={"authorization": f"Bearer {TOKEN}"}).status_code in (200, 404), url
        # A browser is sent to the login page, and back to where it was going once logged in.
        page = client.get(f"{base}/events?platform=web", headers=HTML)
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fevents%3Fplatform%3Dweb"
        assert client.get(f"{base}/login").status_code == 200
        refused = client.post(f"{base}/login", data={"token": "guess", "next": "/events"})
        assert refused.status_code == 401 and COOKIE not in refused.cookies
        accepted = client.post(f"{base}/login", data={"token": TOKEN, "next": "/events?platform=web"})
        assert accepted.status_code == 303 and accepted.headers["location"] == "/events?platform=web"
        cookie = accepted.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        assert client.get(f"{base}/events").status_code == 200  # the client keeps the cookie
        assert client.get(f"{base}/static/dashboard.css").status_code == 200
        # The login never sends anyone to another site.
        elsewhere = client.post(f"{base}/login", data={"token": TOKEN, "next": "//evil.example/x"})
        assert elsewhere.headers["location"] == "/"
        client.post(f"{base}/logout")
        assert client.get(f"{base}/events").status_code == 401


def test_without_a_token_it_refuses_to_listen_beyond_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.delenv("REVOLT_DASHBOARD_TOKEN", raising=False)
    for host in ("0.0.0.0", "::", "192.168.1.20", "dashboard.example.com"):
        result = CliRunner().invoke(main, ["dashboard", "--host", host, "--port", str(free_port())])
        assert result.exit_code == 2, (host, result.output)
        assert "without a token" in result.output and "REVOLT_DASHBOARD_TOKEN" in result.output
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert server.is_loopback(host)
        server.check_exposure(host, None)
    server.check_exposure("0.0.0.0", TOKEN)  # with a token, any address
    monkeypatch.setenv("REVOLT_DASHBOARD_TOKEN", "secret")
    result = CliRunner().invoke(main, ["dashboard", "--host", "0.0.0.0", "--port", str(free_port())])
    assert result.exit_code == 2 and "at least 16" in result.output  # a token one could guess is no token


def test_the_command_defaults_to_loopback_and_port_3030() -> None:
    command = main.commands["dashboard"]
    defaults = {param.name: param.default for param in command.params}
    assert defaults == {"host": "127.0.0.1", "port": 3030}


def test_the_dashboard_holds_no_sql_text() -> None:
    """Its reads are SQLAlchemy Core over reports/schema.py: SQL text belongs in transforms/ and reports/loader.py."""
    modules = sorted((PACKAGE / "dashboard").glob("*.py"))
    assert len(modules) >= 7
    assert {path.name: where for path in modules if (where := sql_in(path.read_text()))} == {}


def test_revolt_dashboard_serves_the_report_database_of_the_settings(report_db: Callable[..., Settings]) -> None:
    """The command itself, as a process: the settings' database, the token, the port given."""
    settings = report_db()
    port = free_port()
    env = {**os.environ, "REVOLT_REPORT_DB_URL": settings.report_db_url, "REVOLT_DASHBOARD_TOKEN": TOKEN}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("revolt")), "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(base, headers={"authorization": f"Bearer {TOKEN}"}, params={"platform": "web"})
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "revolt dashboard did not start"
                time.sleep(0.1)
        assert answer.status_code == 200 and 'data-metric="dau"' in answer.text
        assert httpx.get(base).status_code == 401
    finally:
        process.terminate()
        process.wait(20)


def test_every_page_of_urls_has_its_builder_and_template() -> None:
    """A page added to urls.PAGES (the Dagster UI links to it) must be served, not 404."""
    assert set(pages.BUILDERS) == set(PAGES)
    templates = PACKAGE / "dashboard" / "templates"
    assert [name for name in PAGES if not (templates / f"{name}.html").is_file()] == []


def test_a_persons_sessions_page_number_cannot_break_the_page(report_db: Callable[..., Settings]) -> None:
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        person = page_url(base, "person", person_id="user-7", from_="2026-11-02", to="2026-11-15")
        pages = {}
        for number in ("", "2", "3", "4", "999999999999", "0", "-1", "x", "1e3", "٣"):
            response = client.get(f"{person}&page={number}")
            assert response.status_code == 200, number
            pages[number] = response.text.split('data-table="sessions"')[1].split("</table>")[0]
        assert pages["2"] != pages[""] and pages["3"] != pages["2"]
        assert pages["4"] == pages["3"]  # past the last: the last
        # Not a page number (Python's int() would read "٣", Arabic-Indic three, as 3): the first page.
        first = {pages[n] for n in ("0", "-1", "x", "1e3", "٣", "999999999999")}
        assert first == {pages[""]}
        older = client.get(f"{person}&page=2").text
        assert "page 2 of 3" in older
        links = {rel: html.unescape(url) for rel, url in re.findall(r'<a rel="(prev|next)" href="([^"]+)"', older)}
        assert {rel: parse_qs(urlsplit(url).query)["page"] for rel, url in links.items()} == {
            "prev": ["1"],
            "next": ["3"],
        }
        assert all(urlsplit(url).path == "/people/user-7" for url in links.values())


def test_the_screenshot_command_takes_every_page_but_a_persons() -> None:
    import click

    from revolt_pipeline.cli import dashboard_screenshot
    from revolt_pipeline.dashboard.urls import PAGES

    (page,) = [option for option in dashboard_screenshot.params if option.name == "page"]
    assert isinstance(page.type, click.Choice)
    assert list(page.type.choices) == [name for name in PAGES if name != "person"]


def charts_of(html: str) -> dict[str, str]:
    """Each chart's markup on a page, by its title."""
    return {
        title: svg
        for title, svg in re.findall(r'<svg class="chart[^"]*" role="img" aria-label="([^"]*)"(.*?)</svg>', html, re.S)
    }


def series_of(svg: str) -> set[str]:
    return set(re.findall(r'data-series="([^"]*)"', svg))


def test_the_top_events_trend_is_drawn_on_its_own_scale(report_db: Callable[..., Settings]) -> None:
    """Beside every event's total, the top events' lines would lie flat along the axis."""
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        html = client.get(page_url(base, "events", from_="2026-11-02", to="2026-11-15")).text
    charts = charts_of(html)
    assert series_of(charts["Events per day"]) == {"all events"}
    assert series_of(charts["The top 5 events per day"]) == {"page: Home", "Invoice Sent", "Signed Up"}
    # Its axis reaches the largest top event's day (7 events a day), not the total's (30).
    ticks = [float(tick) for tick in re.findall(r'class="tick"[^>]*>([\d.,]+)<', charts["The top 5 events per day"])]
    assert 7 <= max(ticks) < 30


def test_a_persons_page_shows_the_filters_platform_only_and_says_so(report_db: Callable[..., Settings]) -> None:
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        every = client.get(page_url(base, "person", person_id="user-7", from_="2026-11-02", to="2026-11-15")).text
        web = client.get(
            page_url(base, "person", person_id="user-7", from_="2026-11-02", to="2026-11-15", platform="web")
        ).text
    assert 'data-sessions-total="120"' in every and "the profile counts every platform" not in every
    assert 'data-sessions-total="40"' in web and "Sessions and days on web only" in web
    sessions = web.split('data-table="sessions"')[1].split("</table>")[0]
    assert re.findall(r"<td>(ios|web)</td>", sessions) == ["web"] * 40
    days = web.split('data-table="timeline"')[1].split("</table>")[0]
    assert set(re.findall(r"<td>(ios|web|ios,web)</td>", days)) == {"web"}


def test_a_funnels_bars_say_the_people_and_the_percent_who_reached_each_step(
    report_db: Callable[..., Settings],
) -> None:
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        html = client.get(page_url(base, "funnels", from_="2026-11-02", to="2026-11-15")).text
        versioned = client.get(
            page_url(base, "funnels", from_="2026-11-02", to="2026-11-15", platform="ios", app_version="2.0")
        ).text
    (chart,) = [svg for title, svg in charts_of(html).items() if title.startswith("Funnel signup")]
    assert re.findall(r'class="bar-value"[^>]*>([^<]*)<', chart) == ["224 (100%)", "112 (50%)", "56 (25%)"]
    # iOS 2.0's own entries (4 a day, 1 reaching each later step), not iOS's as a whole.
    (chart,) = [svg for title, svg in charts_of(versioned).items() if title.startswith("Funnel signup")]
    assert re.findall(r'class="bar-value"[^>]*>([^<]*)<', chart) == ["56 (100%)", "14 (25%)", "14 (25%)"]
    assert "does not apply" not in versioned


class _FilterForm(HTMLParser):
    """The query the page's filter form submits as it stands: its inputs' values and its selects' chosen options."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._inside = False
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form" and attributes.get("class") == "filters":
            self._inside = True
        elif self._inside and tag == "input" and attributes.get("name"):
            self.fields[attributes["name"] or ""] = attributes.get("value") or ""
        elif self._inside and tag == "select":
            self._select = attributes.get("name")
            self.fields.setdefault(self._select or "", "")
        elif self._inside and tag == "option" and self._select and "selected" in attributes:
            self.fields[self._select] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        elif tag == "select":
            self._select = None


def test_each_pages_filter_form_submits_the_view_it_shows(report_db: Callable[..., Settings]) -> None:
    """A view reached through a URL is the view its form submits again: nothing it shows is lost on Apply."""
    views = {
        "overview": {"platform": "ios", "app_version": "2.0"},
        "retention": {"unit": "week"},
        "lifecycle": {"unit": "week", "platform": "web"},
        "funnels": {"platform": "ios"},
        "events": {"platform": "web"},
        "sessions": {"app_version": "2.0", "platform": "ios"},
        "people": {"q": "acme"},
        "person": {"platform": "web"},
        "churn": {"platform": "ios"},
        "segments": {"platform": "web"},
    }
    assert set(views) == set(PAGES)
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        for name, params in views.items():
            path = page_url(base, name, person_id="user-7" if name == "person" else None)
            shown = client.get(path, params={"from": "2026-11-03", "to": "2026-11-12", **params})
            form = _FilterForm()
            form.feed(shown.text)
            assert {key: form.fields.get(key) for key in params} == params, name
            again = client.get(path, params={key: value for key, value in form.fields.items() if value})
            assert again.text == shown.text, name


def test_every_overview_figure_shows_its_change_against_the_period_before(report_db: Callable[..., Settings]) -> None:
    with dashboard_server(report_db()) as base, httpx.Client() as client:
        html = client.get(page_url(base, "overview", from_="2026-11-09", to="2026-11-15")).text
    shown = re.findall(
        r'data-metric="(\w+)" data-value="([^"]*)" data-previous="([^"]*)">.*?data-change="([^"]*)"', html, re.S
    )
    assert [key for key, *_ in shown] == ["dau", "wau", "mau", "new_users", "sessions", "stickiness"]
    for key, value, previous, change in shown:
        now, before = float(value), float(previous)
        expected = (now - before) * 100 if key == "stickiness" else (now - before) / before * 100  # points, percent
        assert float(change) == round(expected, 1) != 0, key
    assert html.count("vs previous 7 days") == 6 and " pp vs previous" in html
