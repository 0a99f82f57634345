"""Acceptance of the dashboard in a real browser: headless Debian chromium under Playwright, against the dashboard
served by uvicorn on 127.0.0.1 over the demo's report database, on SQLite (`embedded_demo`) and on PostgreSQL
(`production_demo`). Every page loads with no console error and fetches nothing from elsewhere; the numbers
shown equal the report tables and the demo's ground truth; the filter form changes them as the tables say; a
screenshot of each page is kept (test-artifacts/dashboard/, or REVOLT_TEST_ARTIFACTS)."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from revolt_pipeline.dashboard.filters import Period
from revolt_pipeline.dashboard.urls import PAGES, page_url
from revolt_pipeline.demo.pipeline import summarize
from revolt_pipeline_tests.browser.conftest import chromium  # noqa: F401 (the module-scoped browser)
from revolt_pipeline_tests.dashboard.artifacts import artifacts_dir
from revolt_pipeline_tests.dashboard.expected import expected_overview, in_period
from revolt_pipeline_tests.dashboard.harness import MEASURE, dashboard_server
from revolt_pipeline_tests.pipeline.conftest import DemoRun
from revolt_pipeline_tests.pipeline.test_demo_end_to_end import START

pytestmark = pytest.mark.xdist_group("demo")

WEEK = Period(START, START + timedelta(days=6))  # the demo's week of traffic
FILTERS = {"from_": WEEK.first.isoformat(), "to": WEEK.last.isoformat()}


@dataclass
class Browsing:
    """A browser tab on the dashboard, with what went wrong on it."""

    base: str
    page: Any
    backend: str
    console_errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def open(self, url: str) -> Any:
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        return response

    def metric(self, key: str) -> float | None:
        value = self.page.get_attribute(f'[data-metric="{key}"]', "data-value")
        return float(value) if value else None

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(artifacts_dir() / f"{self.backend}-{name}.png"), full_page=True)


@pytest.fixture(scope="module", params=["embedded_demo", "production_demo"])
def demo_run(request: pytest.FixtureRequest) -> DemoRun:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def browsing(demo_run: DemoRun, chromium: Any) -> Iterator[Browsing]:  # noqa: F811
    backend = "sqlite" if demo_run.settings.report_db_url.startswith("sqlite") else "postgresql"
    with dashboard_server(demo_run.settings) as base:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        browsing = Browsing(base, page, backend)
        page.on("console", lambda m: m.type == "error" and browsing.console_errors.append(m.text))
        page.on("pageerror", lambda error: browsing.console_errors.append(str(error)))
        page.on(
            "request", lambda r: urlsplit(r.url).hostname not in ("127.0.0.1", None) and browsing.outside.append(r.url)
        )
        try:
            yield browsing
        finally:
            context.close()


def test_every_page_loads_clean_and_is_kept_as_a_screenshot(browsing: Browsing, demo_run: DemoRun) -> None:
    person = next(row["person_id"] for row in demo_run.rows["people"] if row["user_id"])
    for name, path in PAGES.items():
        browsing.open(page_url(browsing.base, name, person_id=person if "{" in path else None, **FILTERS))
        assert browsing.page.get_attribute("body", "data-page") == name
        assert browsing.page.locator(".error").count() == 0, name
        # Every chart's text inside its viewBox (the last x-axis label was once cut off), labels apart.
        charts = browsing.page.evaluate(MEASURE)
        assert [(name, c["title"], c["outside"], c["overlaps"]) for c in charts if c["outside"] or c["overlaps"]] == []
        browsing.screenshot(name)
    assert browsing.console_errors == []
    assert browsing.outside == []


def test_the_default_period_ends_on_the_last_complete_day(browsing: Browsing, demo_run: DemoRun) -> None:
    days = sorted({row["event_date"] for row in demo_run.rows["events_daily"]})
    browsing.open(page_url(browsing.base, "overview"))
    first, last = browsing.page.get_attribute("[data-period]", "data-period").split("/")
    assert last == days[-2].isoformat()  # the day before the latest day with events
    # Four weeks, or from the first day with events when the demo has fewer.
    first_events = min(row["event_date"] for row in demo_run.rows["events_daily"] if row["events"] > 0)
    assert date.fromisoformat(first) == max(first_events, date.fromisoformat(last) - timedelta(days=27))
    browsing.open(page_url(browsing.base, "overview", from_=str(days[0]), to=str(days[-1])))
    assert browsing.page.get_attribute("[data-period]", "data-period") == f"{days[0]}/{days[-1]}"


def test_the_overview_shows_the_report_tables_and_the_ground_truth(browsing: Browsing, demo_run: DemoRun) -> None:
    browsing.open(page_url(browsing.base, "overview", **FILTERS))
    rows = demo_run.rows
    expected = expected_overview(in_period(rows["active_users_daily"], WEEK), in_period(rows["sessions_daily"], WEEK))
    shown = {key: browsing.metric(key) for key in expected}
    assert shown == pytest.approx(expected)
    # ... which are the demo's ground truth (each day of the period built, so averaged over its 7 days).
    truth = demo_run.result.truth["days"]
    days = [day.isoformat() for day in WEEK.each_day()]
    assert shown["dau"] == pytest.approx(sum(truth.get(d, {}).get("daily_active_users", 0) for d in days) / 7)
    assert shown["wau"] == truth[days[-1]]["weekly_active_users"]
    assert shown["mau"] == truth[days[-1]]["monthly_active_users"]
    assert shown["new_users"] == sum(truth.get(d, {}).get("new_users", 0) for d in days)
    assert shown["sessions"] == sum(truth.get(d, {}).get("sessions", 0) for d in days)
    previous = expected_overview(
        in_period(rows["active_users_daily"], WEEK.previous), in_period(rows["sessions_daily"], WEEK.previous)
    )
    change = browsing.page.get_attribute('[data-metric="sessions"] .change', "data-change")
    if previous["sessions"]:
        assert float(change) == round((expected["sessions"] - previous["sessions"]) / previous["sessions"] * 100, 1)


def test_the_filter_form_changes_the_numbers_as_the_tables_say(browsing: Browsing, demo_run: DemoRun) -> None:
    rows = demo_run.rows
    browsing.open(page_url(browsing.base, "overview", **FILTERS))
    platform = max(
        {row["platform"] for row in in_period(rows["active_users_daily_by_platform"], WEEK)},
        key=lambda p: sum(r["dau"] for r in in_period(rows["active_users_daily_by_platform"], WEEK, platform=p)),
    )
    browsing.page.select_option('select[name="platform"]', platform)
    browsing.page.click('form.filters button[type="submit"]')
    browsing.page.wait_for_load_state()
    query = parse_qs(urlsplit(browsing.page.url).query)
    assert query["platform"] == [platform] and query["from"] == [WEEK.first.isoformat()]
    built = len(in_period(rows["active_users_daily"], WEEK))
    expected = expected_overview(
        in_period(rows["active_users_daily_by_platform"], WEEK, platform=platform),
        in_period(rows["sessions_daily_by_platform"], WEEK, platform=platform),
        built_days=built,
    )
    assert {key: browsing.metric(key) for key in expected} == pytest.approx(expected)
    # The same URL reproduces the view: the events page of that platform, then of two days.
    browsing.open(page_url(browsing.base, "events", platform=platform, **FILTERS))
    events = in_period(rows["events_daily_by_platform"], WEEK, platform=platform)
    assert browsing.metric("events") == sum(row["events"] for row in events)
    two_days = Period(WEEK.first, WEEK.first + timedelta(days=1))
    browsing.page.fill('input[name="to"]', two_days.last.isoformat())
    browsing.page.click('form.filters button[type="submit"]')
    browsing.page.wait_for_load_state()
    events = in_period(rows["events_daily_by_platform"], two_days, platform=platform)
    assert browsing.metric("events") == sum(row["events"] for row in events)


def test_each_pages_numbers_equal_its_report_table(browsing: Browsing, demo_run: DemoRun) -> None:
    rows = demo_run.rows
    page = browsing.page
    browsing.open(page_url(browsing.base, "sessions", **FILTERS))
    assert browsing.metric("sessions") == sum(
        r["sessions"] for r in in_period(rows["session_duration_histogram"], WEEK)
    )

    browsing.open(page_url(browsing.base, "funnels", **FILTERS))
    funnel_rows = in_period(rows["funnel_steps_daily"], WEEK)
    assert funnel_rows, "the demo has funnels"
    for funnel in {row["funnel"] for row in funnel_rows}:
        for step in {row["step"] for row in funnel_rows if row["funnel"] == funnel}:
            reached = sum(r["reached"] for r in funnel_rows if r["funnel"] == funnel and r["step"] == step)
            cell = page.get_attribute(f'[data-table="funnel-{funnel}"] tr[data-key="{step}"]', "data-reached")
            assert int(cell) == reached, (funnel, step)

    browsing.open(page_url(browsing.base, "lifecycle", **FILTERS))
    for row in in_period(rows["lifecycle_daily"], WEEK):
        cells = page.locator(f'[data-table="lifecycle"] tr[data-key="{row["event_date"]}"] td').all_inner_texts()
        assert cells[1:] == [str(row[c]) for c in ("new_users", "returning_users", "resurrecting_users")] + [
            str(-row["dormant_users"])
        ]

    browsing.open(f"{page_url(browsing.base, 'retention', **FILTERS)}&unit=day")
    cohorts = [r for r in in_period(rows["retention_daily"], WEEK) if r["definition"] == "first_seen"]
    assert cohorts, "the demo has cohorts"
    for row in cohorts[:40]:
        cell = page.locator(f'rect.cell[data-row^="{row["cohort_date"]} "][data-column="d{row["period"]}"]')
        # The retention view's percent: rounded half away from zero, as both databases round a NUMERIC.
        exact = Decimal(100 * row["retained"]) / Decimal(row["cohort_size"]) if row["cohort_size"] else Decimal(0)
        expected = float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
        assert float(cell.get_attribute("data-value")) == expected

    browsing.open(f"{page_url(browsing.base, 'retention', **FILTERS)}&unit=week")
    assert page.locator("rect.cell").count() == len(
        [
            r
            for r in rows["retention_weekly"]
            if r["definition"] == "first_seen"
            and WEEK.first - timedelta(days=WEEK.first.weekday()) <= r["cohort_week"] <= WEEK.last
        ]
    )


def test_people_are_found_and_their_timeline_is_their_person_days(browsing: Browsing, demo_run: DemoRun) -> None:
    rows = demo_run.rows
    person = max(rows["people"], key=lambda row: (row["sessions"], row["person_id"]))
    browsing.open(
        page_url(browsing.base, "people", from_=str(date(2026, 10, 1)), to=str(WEEK.last + timedelta(days=20)))
    )
    browsing.page.fill('input[name="q"]', person["person_id"])
    browsing.page.click('form.filters button[type="submit"]')
    browsing.page.wait_for_load_state()
    browsing.page.click(f'[data-table="people"] tr[data-key="{person["person_id"]}"] a')
    browsing.page.wait_for_load_state()
    assert browsing.page.get_attribute("[data-person]", "data-person") == person["person_id"]
    assert int(browsing.page.get_attribute("dd[data-sessions]", "data-sessions")) == person["sessions"]
    days = [row for row in rows["person_days"] if row["person_id"] == person["person_id"]]
    shown = browsing.page.locator('[data-table="timeline"] tbody tr')
    assert shown.count() == len(days)
    assert sum(int(s) for s in [shown.nth(i).get_attribute("data-sessions") for i in range(shown.count())]) == sum(
        row["sessions"] for row in days
    )
    # ... and their sessions, newest first, are their rows of person_sessions.
    sessions = sorted(
        (row for row in rows["person_sessions"] if row["person_id"] == person["person_id"]),
        key=lambda row: (row["session_start"], row["session_id"]),
        reverse=True,
    )
    assert len(sessions) == person["sessions"]
    assert int(browsing.page.get_attribute("[data-sessions-total]", "data-sessions-total")) == len(sessions)
    listed = browsing.page.locator('[data-table="sessions"] tbody tr')
    assert [listed.nth(i).get_attribute("data-key") for i in range(listed.count())] == [
        row["session_id"] for row in sessions[:50]
    ]
    assert [int(listed.nth(i).get_attribute("data-events")) for i in range(listed.count())] == [
        row["events"] for row in sessions[:50]
    ]
    browsing.screenshot("person-found")


def _busiest(rows: list[dict[str, Any]], column: str, **match: str) -> str:
    """The value of `column` with the most events in the demo's week (among rows matching `match`)."""
    totals: dict[str, int] = {}
    for row in in_period(rows, WEEK, **match):
        totals[row[column]] = totals.get(row[column], 0) + row["events"]
    return max(sorted(totals), key=lambda value: totals[value])


def test_every_page_follows_the_platform_and_app_version_or_says_it_cannot(
    browsing: Browsing, demo_run: DemoRun
) -> None:
    """Each page's figures under a platform and an app version equal the tables of that grain; a page whose tables
    have no such grain says so, rather than showing every platform as if filtered."""
    rows, page = demo_run.rows, browsing.page
    platform = _busiest(rows["events_daily_by_platform"], "platform")
    version = _busiest(rows["events_daily_by_app_version"], "app_version", platform=platform)
    both = {"platform": platform, "app_version": version, **FILTERS}

    browsing.open(page_url(browsing.base, "overview", **both))
    active = in_period(rows["active_users_daily_by_app_version"], WEEK, platform=platform, app_version=version)
    sessions = in_period(rows["sessions_daily_by_app_version"], WEEK, platform=platform, app_version=version)
    expected = expected_overview(active, sessions, built_days=len(in_period(rows["active_users_daily"], WEEK)))
    assert {key: browsing.metric(key) for key in expected} == pytest.approx(expected)

    browsing.open(page_url(browsing.base, "events", **both))
    events = in_period(rows["events_daily_by_app_version"], WEEK, platform=platform, app_version=version)
    assert browsing.metric("events") == sum(row["events"] for row in events)
    by_platform = page.locator('[data-breakdown="platform"] rect.bar')
    assert [by_platform.nth(i).get_attribute("data-label") for i in range(by_platform.count())] == [platform]
    # By OS and by country: the tables' rows of the platform and app version, summed over the week (15 at most).
    for name, table, columns in (
        ("operating system", "events_daily_by_os", ("os_name", "os_version")),
        ("country", "events_daily_by_country", ("country",)),
    ):
        expected: dict[str, int] = {}
        for row in in_period(rows[table], WEEK, platform=platform, app_version=version):
            label = " ".join(row[column] for column in columns)
            expected[label] = expected.get(label, 0) + row["events"]
        bars = page.locator(f'[data-breakdown="{name}"] rect.bar')
        shown = {bar.get_attribute("data-label"): int(bar.get_attribute("data-value")) for bar in bars.all()}
        assert expected and len(shown) == min(15, len(expected)), name
        assert shown == {label: expected[label] for label in shown}, name
    assert "count every platform and app version" not in page.inner_text("main")
    # Two to a row, the breakdowns' text still shows at its size (a chart drawn wider is shrunk to fit).
    scales = page.evaluate(
        "() => [...document.querySelectorAll('[data-breakdown] svg')]"
        ".map(svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width)"
    )
    assert len(scales) == 4 and min(scales) >= 0.95, scales

    browsing.open(page_url(browsing.base, "sessions", **both))
    histogram = in_period(
        rows["session_duration_histogram_by_app_version"], WEEK, platform=platform, app_version=version
    )
    assert browsing.metric("sessions") == sum(row["sessions"] for row in histogram)

    browsing.open(page_url(browsing.base, "funnels", platform=platform, **FILTERS))
    funnel_rows = in_period(rows["funnel_steps_daily_by_platform"], WEEK, platform=platform)
    for row in {(r["funnel"], r["step"]) for r in funnel_rows}:
        reached = sum(r["reached"] for r in funnel_rows if (r["funnel"], r["step"]) == row)
        cell = page.get_attribute(f'[data-table="funnel-{row[0]}"] tr[data-key="{row[1]}"]', "data-reached")
        assert int(cell) == reached, row
    browsing.open(page_url(browsing.base, "funnels", **both))
    funnel_rows = in_period(rows["funnel_steps_daily_by_app_version"], WEEK, platform=platform, app_version=version)
    assert funnel_rows, "the demo's funnels have entries on the busiest app version"
    for row in {(r["funnel"], r["step"]) for r in funnel_rows}:
        reached = sum(r["reached"] for r in funnel_rows if (r["funnel"], r["step"]) == row)
        cell = page.get_attribute(f'[data-table="funnel-{row[0]}"] tr[data-key="{row[1]}"]', "data-reached")
        assert int(cell) == reached, row
    assert "filter does not apply" not in page.inner_text("main")

    # Retention: the cohorts of the people acquired on the platform and version, summed over what the filter leaves
    # open, each cell's percent recomputed from the sums.
    for filters, match in (
        ({"platform": platform}, {"platform": platform}),
        (both, {"platform": platform, "app_version": version}),
    ):
        browsing.open(f"{page_url(browsing.base, 'retention', **{**FILTERS, **filters})}&unit=day")
        split = [r for r in in_period(rows["retention_daily_by_app_version"], WEEK, **match)
                 if r["definition"] == "first_seen"]  # fmt: skip
        assert split, "the demo's busiest platform and version acquired people"
        cells: dict[tuple[date, int], list[int]] = {}
        for r in split:
            cell = cells.setdefault((r["cohort_date"], r["period"]), [0, 0])
            cell[0], cell[1] = cell[0] + r["cohort_size"], cell[1] + r["retained"]
        shown = page.locator("rect.cell")
        assert shown.count() == len(cells)
        for (cohort, number), (size, retained) in cells.items():
            cell = page.locator(f'rect.cell[data-row="{cohort} ({size})"][data-column="d{number}"]')
            exact = Decimal(100 * retained) / Decimal(size)
            assert float(cell.get_attribute("data-value")) == float(exact.quantize(Decimal("0.1"), ROUND_HALF_UP))
        assert "the people acquired on" in page.inner_text("main")
    # Lifecycle: the states on the platform (and version) alone, from the table of that grain.
    for filters, table in (({"platform": platform}, "lifecycle_daily_by_platform"),
                           (both, "lifecycle_daily_by_app_version")):  # fmt: skip
        browsing.open(page_url(browsing.base, "lifecycle", **{**FILTERS, **filters}))
        states = in_period(rows[table], WEEK, **{k: v for k, v in filters.items() if k in ("platform", "app_version")})
        assert states
        for row in states:
            shown = page.locator(f'[data-table="lifecycle"] tr[data-key="{row["event_date"]}"] td').all_inner_texts()
            assert shown[1:] == [str(row[c]) for c in ("new_users", "returning_users", "resurrecting_users")] + [
                str(-row["dormant_users"])
            ], row
        assert "filter does not apply" not in page.inner_text("main")
    browsing.open(page_url(browsing.base, "lifecycle", app_version=version, **FILTERS))
    assert "choose a platform too" in page.inner_text("main")

    browsing.open(page_url(browsing.base, "people", platform=platform, **FILTERS))
    on_platform = {
        row["person_id"] for row in in_period(rows["person_days"], WEEK) if platform in row["platforms"].split(",")
    }
    assert int(page.get_attribute("[data-people-total]", "data-people-total")) == len(on_platform)
    browsing.open(page_url(browsing.base, "people", **both))
    of_version = {
        row["person_id"] for row in in_period(rows["person_sessions"], WEEK, platform=platform, app_version=version)
    }
    assert int(page.get_attribute("[data-people-total]", "data-people-total")) == len(of_version)

    person = max(sorted(of_version), key=lambda p: sum(1 for r in rows["person_sessions"] if r["person_id"] == p))
    browsing.open(page_url(browsing.base, "person", person_id=person, **both))
    theirs = in_period(rows["person_sessions"], WEEK, person_id=person, platform=platform, app_version=version)
    assert int(page.get_attribute("[data-sessions-total]", "data-sessions-total")) == len(theirs)
    days = page.locator('[data-table="timeline"] tbody tr')
    assert sum(int(days.nth(i).get_attribute("data-sessions")) for i in range(days.count())) == len(theirs)
    assert f"Sessions and days on {platform} version {version} only" in page.inner_text("main")
    browsing.screenshot("person-filtered")
    assert browsing.console_errors == []


def test_the_demo_ends_by_saying_how_to_see_it_on_the_dashboard(demo_run: DemoRun) -> None:
    lines = summarize(demo_run.settings, demo_run.result)
    assert f"dashboard:       revolt dashboard   ({demo_run.settings.dashboard_url})" in lines
