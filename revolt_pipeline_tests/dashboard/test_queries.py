"""The figures the pages show equal the report tables' rows, each read from the table of its grain."""

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import mean, median

import pytest
import sqlalchemy as sa

from revolt_pipeline.dashboard import queries
from revolt_pipeline.dashboard.filters import Filters, Period
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine
from revolt_pipeline.settings import Settings
from revolt_pipeline_tests.dashboard.conftest import FIRST, LAST, SEGMENTS, SESSIONS, report_rows
from revolt_pipeline_tests.dashboard.expected import expected_overview, in_period

WEEK = Period(LAST - timedelta(days=6), LAST)


@pytest.fixture
def reader(report_db: Callable[..., Settings]) -> Iterator[queries.Reader]:
    engine = create_engine(report_db().report_db_url)
    try:
        with engine.connect() as connection:
            yield queries.Reader(connection)
    finally:
        engine.dispose()


def shown(reader: queries.Reader, filters: Filters, period: Period) -> dict[str, float | None]:
    return {metric.key: metric.value for metric in queries.overview(reader, filters, period).metrics}


def test_the_overview_of_all_platforms_equals_the_total_tables(reader: queries.Reader) -> None:
    rows = report_rows()
    for period in (WEEK, WEEK.previous):
        expected = expected_overview(
            in_period(rows[schema.active_users_daily], period), in_period(rows[schema.sessions_daily], period)
        )
        assert shown(reader, Filters(), period) == pytest.approx(expected)
    metrics = {m.key: m for m in queries.overview(reader, Filters(), WEEK).metrics}
    assert metrics["dau"].previous == pytest.approx(
        mean(r["dau"] for r in in_period(rows[schema.active_users_daily], WEEK.previous))
    )
    assert metrics["dau"].change == pytest.approx(
        round((metrics["dau"].value - metrics["dau"].previous) / metrics["dau"].previous * 100, 1)
    )


def test_a_platform_reads_its_own_rows_never_a_sum_of_others(reader: queries.Reader) -> None:
    rows = report_rows()
    expected = expected_overview(
        in_period(rows[schema.active_users_daily_by_platform], WEEK, platform="web"),
        in_period(rows[schema.sessions_daily_by_platform], WEEK, platform="web"),
    )
    assert shown(reader, Filters(platform="web"), WEEK) == pytest.approx(expected)
    # The total is not the platforms' sum: people on both platforms count once.
    everyone = shown(reader, Filters(), WEEK)
    ios = shown(reader, Filters(platform="ios"), WEEK)
    assert everyone["mau"] < expected["mau"] + ios["mau"]


def test_an_app_version_of_a_platform_reads_the_app_version_table(reader: queries.Reader) -> None:
    rows = report_rows()
    expected = expected_overview(
        in_period(rows[schema.active_users_daily_by_app_version], WEEK, platform="ios", app_version="2.0"),
        in_period(rows[schema.sessions_daily_by_app_version], WEEK, platform="ios", app_version="2.0"),
    )
    assert shown(reader, Filters(platform="ios", app_version="2.0"), WEEK) == pytest.approx(expected)


def test_an_app_version_across_platforms_gives_no_people_count_but_sums_sessions(reader: queries.Reader) -> None:
    """People of an app version exist per platform only: summing them would count a person twice."""
    rows = report_rows()
    result = queries.overview(reader, Filters(app_version="2.0"), WEEK)
    values = {metric.key: metric.value for metric in result.metrics}
    assert values["dau"] is None and values["wau"] is None and values["mau"] is None
    assert values["sessions"] == sum(
        row["sessions"] for row in in_period(rows[schema.sessions_daily_by_app_version], WEEK, app_version="2.0")
    )
    assert result.notes == [queries.APP_VERSION_ACROSS_PLATFORMS]


def test_the_daily_series_are_the_tables_columns(reader: queries.Reader) -> None:
    rows = report_rows()
    result = queries.overview(reader, Filters(platform="ios"), WEEK)
    ios = in_period(rows[schema.active_users_daily_by_platform], WEEK, platform="ios")
    assert result.wau == [row["wau"] for row in ios]
    assert result.mau == [row["mau"] for row in ios]


def test_events_sum_over_days_and_every_breakdown_adds_up_to_the_total(reader: queries.Reader) -> None:
    rows = report_rows()
    result = queries.events(reader, Filters(platform="web"), WEEK)
    assert result is not None
    web = in_period(rows[schema.events_daily_by_platform], WEEK, platform="web")
    assert result.total == sum(row["events"] for row in web)
    assert [(row["event_name"], row["events"]) for row in result.top] == [
        ("Home", sum(r["events"] for r in web if r["event_name"] == "Home")),
        ("Invoice Sent", sum(r["events"] for r in web if r["event_name"] == "Invoice Sent")),
        ("Signed Up", sum(r["events"] for r in web if r["event_name"] == "Signed Up")),
    ]
    assert result.notes == []
    everyone = queries.events(reader, Filters(), WEEK)
    assert everyone is not None
    for name in ("platform", "app version", "operating system", "country"):
        assert sum(row["events"] for row in everyone.breakdowns[name]) == everyone.total, name
        assert sum(row["events"] for row in result.breakdowns[name]) == result.total, name


def _summed(rows: list[dict], *columns: str) -> list[dict]:
    """`rows` summed by `columns` as the page lists them: most events first, then by value."""
    sums: dict[str, int] = {}
    for row in rows:
        value = " ".join(str(row[column]) for column in columns)
        sums[value] = sums.get(value, 0) + row["events"]
    return [{"value": v, "events": k} for v, k in sorted(sums.items(), key=lambda item: (-item[1], item[0]))]


@pytest.mark.parametrize(
    "filters",
    [Filters(platform="ios"), Filters(platform="ios", app_version="2.0"), Filters(app_version="5.1")],
    ids=["ios", "ios-2.0", "any-5.1"],
)
def test_events_by_os_and_country_are_the_tables_rows_of_the_platform_and_app_version(
    reader: queries.Reader, filters: Filters
) -> None:
    """A platform, an app version of it, or an app version across platforms: the breakdowns by OS and by country
    sum exactly those rows, and no note says a filter does not apply."""
    rows = report_rows()
    match = {name: getattr(filters, name) for name in ("platform", "app_version") if getattr(filters, name)}
    result = queries.events(reader, filters, WEEK)
    assert result is not None and result.notes == []
    by_os = in_period(rows[schema.events_daily_by_os], WEEK, **match)
    by_country = in_period(rows[schema.events_daily_by_country], WEEK, **match)
    assert result.breakdowns["operating system"] == _summed(by_os, "os_name", "os_version")
    assert result.breakdowns["country"] == _summed(by_country, "country")
    assert sum(row["events"] for row in result.breakdowns["country"]) == result.total
    # Not every platform's: the filtered breakdowns differ from the unfiltered ones.
    everyone = queries.events(reader, Filters(), WEEK)
    assert everyone is not None and everyone.breakdowns["country"] != result.breakdowns["country"]


def test_events_by_country_of_an_older_table_say_the_filters_do_not_apply(report_db: Callable[..., Settings]) -> None:
    """A report database from before events by country had a platform: the page shows every platform's, and says
    so, rather than failing."""
    settings = report_db()
    engine = create_engine(settings.report_db_url)
    try:
        with engine.begin() as connection:
            schema.events_daily_by_country.drop(connection)
            connection.exec_driver_sql(
                "CREATE TABLE events_daily_by_country (event_date DATE, country VARCHAR(64), "
                "country_method VARCHAR(64), event_type VARCHAR(16), event_name VARCHAR(255), events INTEGER, "
                "users INTEGER)"
            )
            connection.exec_driver_sql(
                f"INSERT INTO events_daily_by_country VALUES ('{LAST}', 'DE', 'ip', 'track', 'Signed Up', 4, 1)"
            )
        with engine.connect() as connection:
            result = queries.events(queries.Reader(connection), Filters(platform="ios"), WEEK)
    finally:
        engine.dispose()
    assert result is not None
    assert result.breakdowns["country"] == [{"value": "DE", "events": 4}]
    assert result.notes == [
        "Events by country count every platform and app version: the report table events_daily_by_country is of "
        "an older version, without them (drop it and build it again: docs/pipeline.md, Upgrading)."
    ]
    assert result.breakdowns["operating system"] and result.total  # the other tables still follow the filters


def test_an_app_versions_events_by_platform_are_of_that_version(reader: queries.Reader) -> None:
    """The platform table has no app version: the breakdown by platform of one version reads the version table."""
    version = in_period(report_rows()[schema.events_daily_by_app_version], WEEK, app_version="2.0")
    result = queries.events(reader, Filters(app_version="2.0"), WEEK)
    assert result is not None and result.total == sum(row["events"] for row in version)
    assert result.breakdowns["platform"] == [{"value": "ios", "events": result.total}]
    assert result.breakdowns["app version"] == [{"value": "ios 2.0", "events": result.total}]


def test_people_search_finds_ids_and_traits_in_the_period(reader: queries.Reader) -> None:
    def ids(filters: Filters, text: str) -> set[str]:
        found = queries.search_people(reader, filters, Period(FIRST, LAST), text)
        assert found is not None
        return {row["person_id"] for row in found.rows}

    assert ids(Filters(), "acme") == {"user-4"}
    assert ids(Filters(), "user-1") == {"user-1"}
    assert ids(Filters(platform="ios"), "") == {f"user-{n}" for n in range(6, 10)}
    # LIKE's wildcards in the search are plain text.
    assert ids(Filters(), "%") == set()
    # An app version: people with sessions of it (user-7 used web 5.1, though their latest is ios 2.0).
    assert ids(Filters(app_version="5.1"), "") == {"user-7"}
    assert ids(Filters(platform="ios", app_version="5.1"), "") == set()
    assert ids(Filters(platform="ios", app_version="2.0"), "") == {"user-7"}


def test_people_are_counted_and_paged_most_recently_seen_first(reader: queries.Reader) -> None:
    everyone = sorted(report_rows()[schema.people], key=lambda row: (-row["last_seen"].toordinal(), row["person_id"]))
    first = queries.search_people(reader, Filters(), Period(FIRST, LAST), "")
    assert first is not None and first.total == 10 and first.pages == 1
    assert [row["person_id"] for row in first.rows] == [row["person_id"] for row in everyone]
    pages = [queries.search_people(reader, Filters(), Period(FIRST, LAST), "", page, 4) for page in (1, 2, 3, 9)]
    assert [(p.total, p.page, p.pages) for p in pages if p] == [(10, 1, 3), (10, 2, 3), (10, 3, 3), (10, 3, 3)]
    assert [row["person_id"] for p in pages[:3] if p for row in p.rows] == [row["person_id"] for row in everyone]


def test_a_persons_page_gathers_their_rows(reader: queries.Reader) -> None:
    person = queries.person(reader, Period(FIRST, LAST), "user-7")
    assert person is not None
    assert person.profile["email"] == "person7@example.com"
    assert [row["event_date"] for row in person.days] == [LAST - timedelta(days=1), FIRST + timedelta(days=2)]
    assert person.churn is not None and person.churn["as_of_date"] == LAST
    assert person.segment is not None and person.segment["segment"] == 1
    assert queries.person(reader, Period(FIRST, LAST), "nobody") is None


def test_churn_and_segments_read_the_latest_day_of_the_period(reader: queries.Reader) -> None:
    result = queries.churn(reader, Filters(), Period(FIRST, LAST))
    assert result is not None and result.as_of == LAST and result.scored == 10
    assert result.bands == {"high": 5, "medium": 3, "low": 2}
    assert sum(result.histogram) == 10
    assert result.at_risk[0]["person_id"] == "user-9"
    # A URL's `to` bounds the model's day; without one, the latest model shows whatever the period.
    earlier = queries.churn(reader, Filters(last=FIRST + timedelta(days=6)), Period(FIRST, FIRST + timedelta(days=6)))
    assert earlier is not None and earlier.as_of == FIRST + timedelta(days=6)
    segments = queries.segments(reader, Filters(), Period(FIRST, LAST))
    assert segments is not None and [row["people"] for row in segments.segments] == [5, 5]
    on_web = queries.segments(reader, Filters(platform="web"), Period(FIRST, LAST))
    assert on_web is not None and sum(row["people"] for row in on_web.segments) == 6


def test_missing_or_empty_tables_read_as_nothing(report_db: Callable[..., Settings]) -> None:
    engine = create_engine(report_db(empty=True).report_db_url)
    try:
        with engine.connect() as connection:
            reader = queries.Reader(connection)
            assert queries.last_complete_day(reader) is None
            assert queries.first_day(reader) is None
            assert queries.churn(reader, Filters(), WEEK) is None
            assert queries.retention(reader, WEEK, "day", "first_seen") is None
            assert all(m.value is None for m in queries.overview(reader, Filters(), WEEK).metrics)
    finally:
        engine.dispose()


def test_the_default_period_ends_on_the_last_complete_day(reader: queries.Reader) -> None:
    # Events on every day through LAST: LAST may still be receiving them (or hold only what ran past midnight).
    assert queries.last_complete_day(reader) == LAST - timedelta(days=1)
    default = Period.resolve(Filters(), queries.last_complete_day(reader))
    assert default.last == LAST - timedelta(days=1)
    # Explicit dates are shown exactly, the latest day included.
    assert Period.resolve(Filters(first=FIRST, last=LAST), queries.last_complete_day(reader)) == Period(FIRST, LAST)


def test_the_default_period_of_a_young_install_starts_on_its_first_day(reader: queries.Reader) -> None:
    assert queries.first_day(reader) == FIRST
    default = Period.resolve(Filters(), queries.last_complete_day(reader), queries.first_day(reader))
    assert default == Period(FIRST, LAST - timedelta(days=1))
    # A date asked for is kept, before the data's first day too.
    early = FIRST - timedelta(days=30)
    assert Period.resolve(Filters(first=early), LAST, FIRST).first == early


def test_segments_are_named_by_their_description_and_followed_by_it_over_time(reader: queries.Reader) -> None:
    segments = queries.segments(reader, Filters(), Period(FIRST, LAST))
    assert segments is not None
    assert [row["description"] for row in segments.segments] == list(SEGMENTS)
    # Segment 0 of the first day is segment 1 of the last: the history follows the description, not the number.
    assert segments.history_days == [str(FIRST + timedelta(days=6)), str(LAST)]
    assert segments.history == {SEGMENTS[1]: [6, 5], SEGMENTS[0]: [4, 5]}


def test_a_persons_sessions_are_paged_newest_first(reader: queries.Reader) -> None:
    person = queries.person(reader, Period(FIRST, LAST), "user-7")
    assert person is not None and person.sessions is not None
    rows = report_rows()[schema.person_sessions]
    newest = sorted(rows, key=lambda row: row["session_start"], reverse=True)
    assert person.sessions.total == SESSIONS and person.sessions.pages == 3 and person.sessions.page == 1
    assert [row["session_id"] for row in person.sessions.rows] == [row["session_id"] for row in newest[:50]]
    last_page = queries.person_sessions(reader, Period(FIRST, LAST), "user-7", page=99)
    assert last_page is not None and last_page.page == 3
    assert [row["session_id"] for row in last_page.rows] == [row["session_id"] for row in newest[100:]]
    week = queries.person_sessions(reader, WEEK, "user-7")
    assert week is not None and week.total == len(in_period(rows, WEEK))
    assert queries.person_sessions(reader, WEEK, "nobody") == queries.Page([], 0, 1, 1)


def test_retention_and_lifecycle_read_their_views(reader: queries.Reader) -> None:
    statements: list[str] = []
    sa.event.listen(reader.connection, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert queries.retention(reader, WEEK, "day", "first_seen") is not None
    assert queries.retention(reader, WEEK, "week", "first_seen") is not None
    assert queries.lifecycle(reader, WEEK, "day") is not None
    assert queries.lifecycle(reader, WEEK, "week") is not None
    read = " ".join(statements)
    for view in ("daily_retention_heatmap", "weekly_retention_heatmap", "daily_lifecycle", "weekly_lifecycle"):
        assert f"FROM {view}" in read
    for table in ("retention_daily", "retention_weekly", "lifecycle_daily", "lifecycle_weekly"):
        assert f"FROM {table}" not in read


@pytest.mark.parametrize("unit", ["day", "week"])
@pytest.mark.parametrize(
    "filters",
    [Filters(platform="ios"), Filters(platform="ios", app_version="2.0"), Filters(app_version="5.1")],
    ids=["ios", "ios-2.0", "any-5.1"],
)
def test_retention_of_a_platform_or_app_version_sums_the_table_by_app_version(
    reader: queries.Reader, filters: Filters, unit: str
) -> None:
    """Cohorts of the people acquired on the filters' platform and version: that table's rows summed over the
    versions (and platforms) the filters leave open, the percent recomputed from the sums."""
    table, cohort = queries.RETENTION_BY_APP_VERSION[unit]
    first = WEEK.first - timedelta(days=WEEK.first.weekday()) if unit == "week" else WEEK.first
    kept = [
        row
        for row in report_rows()[table]
        if first <= row[cohort] <= WEEK.last
        and filters.platform in (None, row["platform"])
        and filters.app_version in (None, row["app_version"])
    ]
    sizes: dict[date, int] = defaultdict(int)
    back: dict[tuple[date, int], int] = defaultdict(int)
    for row in kept:
        if row["period"] == 0:
            sizes[row[cohort]] += row["cohort_size"]
        back[(row[cohort], row["period"])] += row["retained"]
    result = queries.retention(reader, WEEK, unit, "first_seen", filters)
    assert result is not None and kept
    assert result.cohorts == sorted(sizes) and result.sizes == [sizes[c] for c in sorted(sizes)]
    for i, c in enumerate(result.cohorts):
        for p, retained in enumerate(result.retained[i]):
            assert retained == back.get((c, p)), (c, p)
            if retained is not None:
                percent = float((Decimal(100 * retained) / sizes[c]).quantize(Decimal("0.1"), ROUND_HALF_UP))
                assert result.percent[i][p] == percent
    # The filter changes the numbers: ios is not everyone (the unfiltered heatmap is the total table's).
    whole = queries.retention(reader, WEEK, unit, "first_seen")
    assert whole is not None and whole.sizes != result.sizes


@pytest.mark.parametrize("unit", ["day", "week"])
@pytest.mark.parametrize(
    "filters", [Filters(platform="ios"), Filters(platform="ios", app_version="2.0")], ids=["ios", "ios-2.0"]
)
def test_lifecycle_of_a_platform_or_its_app_version_is_its_tables_rows(
    reader: queries.Reader, filters: Filters, unit: str
) -> None:
    """States judged on the platform (version) alone: that table's rows, one per period, dormant negative."""
    table = queries.LIFECYCLE_BY[(unit, "app_version" if filters.app_version else "platform")]
    column = "week_start" if unit == "week" else "event_date"
    first = WEEK.first - timedelta(days=WEEK.first.weekday()) if unit == "week" else WEEK.first
    kept = sorted(
        (
            row
            for row in report_rows()[table]
            if first <= row[column] <= WEEK.last
            and row["platform"] == filters.platform
            and filters.app_version in (None, row.get("app_version"))
        ),
        key=lambda row: row[column],
    )
    result = queries.lifecycle(reader, WEEK, unit, filters)
    assert result is not None and kept
    assert result.labels == [row[column].isoformat() for row in kept]
    assert result.states == {
        "new": [row["new_users"] for row in kept],
        "returning": [row["returning_users"] for row in kept],
        "resurrecting": [row["resurrecting_users"] for row in kept],
        "dormant": [-row["dormant_users"] for row in kept],
    }
    whole = queries.lifecycle(reader, WEEK, unit)
    assert whole is not None and whole.states != result.states
    # An app version across platforms has no states: nothing shown (the page says why).
    across = queries.lifecycle(reader, WEEK, unit, Filters(app_version="2.0"))
    assert across is not None and across.labels == []


def test_a_persons_sessions_and_days_follow_the_platform_and_app_version(reader: queries.Reader) -> None:
    rows = report_rows()[schema.person_sessions]
    period = Period(FIRST, LAST)
    for filters in (Filters(platform="web"), Filters(platform="ios", app_version="2.0"), Filters(app_version="5.1")):
        kept = [
            row
            for row in rows
            if filters.platform in (None, row["platform"]) and filters.app_version in (None, row["app_version"])
        ]
        person = queries.person(reader, period, "user-7", filters=filters)
        assert person is not None and person.sessions is not None
        assert person.sessions.total == len(kept) > 0, filters
        assert {row["platform"] for row in person.sessions.rows} == {row["platform"] for row in kept}
        # The days are the kept sessions' days, not person_days (which counts every platform).
        per_day: dict = {}
        for row in kept:
            day = per_day.setdefault(row["session_date"], {"sessions": 0, "events": 0})
            day["sessions"] += 1
            day["events"] += row["events"]
        assert {row["event_date"]: {"sessions": row["sessions"], "events": row["events"]} for row in person.days} == (
            per_day
        )
        first = min(row["session_start"] for row in kept if row["session_date"] == FIRST)
        assert next(row for row in person.days if row["event_date"] == FIRST)["first_event_at"] == first
    # Without the filters, the days are person_days' own.
    unfiltered = queries.person(reader, period, "user-7")
    assert unfiltered is not None and len(unfiltered.days) == 2 and unfiltered.sessions.total == SESSIONS


def test_segment_sizes_over_time_count_the_filters_people_as_the_table_does(reader: queries.Reader) -> None:
    on_web = queries.segments(reader, Filters(platform="web"), Period(FIRST, LAST))
    assert on_web is not None
    # user-0..5 use the web last; person_segments holds the last day only, so that is the one day over time.
    assert {row["description"]: row["people"] for row in on_web.segments} == {SEGMENTS[0]: 3, SEGMENTS[1]: 3}
    assert on_web.history_days == [str(LAST)]
    assert on_web.history == {SEGMENTS[0]: [3], SEGMENTS[1]: [3]}
    on_ios = queries.segments(reader, Filters(platform="ios", app_version="2.0"), Period(FIRST, LAST))
    assert on_ios is not None and on_ios.history == {SEGMENTS[0]: [2], SEGMENTS[1]: [2]}


@pytest.mark.parametrize(
    "filters",
    [
        Filters(platform="ios", app_version="2.0"),
        Filters(app_version="1.9"),
        Filters(platform="web", app_version="5.1"),
    ],
    ids=["ios-2.0", "any-1.9", "web-5.1"],
)
def test_funnels_of_an_app_version_equal_the_table_by_app_version(reader: queries.Reader, filters: Filters) -> None:
    """With an app version (and its platform, or not), the funnels are that table's rows: no filter is ignored."""
    table = in_period(
        report_rows()[schema.funnel_steps_daily_by_app_version],
        WEEK,
        app_version=filters.app_version,
        **({"platform": filters.platform} if filters.platform else {}),
    )
    result = queries.funnels(reader, filters, WEEK)
    assert result is not None and table
    expected = []
    for step in sorted({row["step"] for row in table}):
        of_step = [row for row in table if row["step"] == step]
        medians = [
            row["median_seconds_from_previous"] for row in of_step if row["median_seconds_from_previous"] is not None
        ]
        expected.append(
            (
                step,
                sum(row["entered"] for row in of_step),
                sum(row["reached"] for row in of_step),
                median(medians) if medians else None,
            )
        )
    assert [(s.step, s.entered, s.reached, s.median_seconds_from_previous) for s in result["signup"]] == expected
    # Not the platform's numbers: the versions of iOS differ from iOS as a whole.
    if filters.platform == "ios":
        whole = queries.funnels(reader, Filters(platform="ios"), WEEK)
        assert whole is not None and [s.entered for s in whole["signup"]] != [s.entered for s in result["signup"]]


def test_funnels_sum_the_days_recompute_the_rates_and_take_the_median_of_the_days_medians(
    reader: queries.Reader,
) -> None:
    days = WEEK.days
    result = queries.funnels(reader, Filters(), WEEK)
    assert result is not None
    steps = result["signup"]
    assert [(s.step, s.name, s.entered, s.reached) for s in steps] == [
        (1, "Home", 16 * days, 16 * days),
        (2, "Pricing", 16 * days, 8 * days),
        (3, "Signed Up", 16 * days, 4 * days),
    ]
    assert [s.conversion_from_start for s in steps] == [1.0, 0.5, 0.25]
    assert [s.conversion_from_previous for s in steps] == [1.0, 0.5, 0.5]
    offsets = sorted((day - FIRST).days for day in WEEK.each_day())
    assert [s.median_seconds_from_previous for s in steps] == [None, 120 + mean(offsets), 180 + mean(offsets)]
    # A platform reads its own table.
    ios = queries.funnels(reader, Filters(platform="ios"), WEEK)
    assert ios is not None
    assert [(s.entered, s.reached) for s in ios["signup"]] == [
        (6 * days, 6 * days),
        (6 * days, 2 * days),
        (6 * days, days),
    ]
