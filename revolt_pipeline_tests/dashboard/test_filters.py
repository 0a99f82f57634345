"""The filters of a dashboard URL: read leniently (a bad value is reported and left out), resolved to a period."""

from datetime import date, timedelta

from revolt_pipeline.dashboard.filters import DEFAULT_DAYS, MAX_DAYS, Filters, Period
from revolt_pipeline.dashboard.urls import page_url


def test_a_url_reproduces_its_filters() -> None:
    filters = Filters.from_query({"from": "2026-11-02", "to": "2026-11-08", "platform": "web", "app_version": "4.2"})
    assert filters == Filters(date(2026, 11, 2), date(2026, 11, 8), "web", "4.2")
    assert filters.query() == "from=2026-11-02&to=2026-11-08&platform=web&app_version=4.2"
    url = page_url(
        "http://127.0.0.1:3030", "events", from_="2026-11-02", to="2026-11-08", platform="web", app_version="4.2"
    )
    assert url.endswith("/events?" + filters.query())


def test_values_that_cannot_be_read_are_reported_and_left_out() -> None:
    filters = Filters.from_query({"from": "last week", "to": "0001-01-01", "platform": "x" * 500})
    assert (filters.first, filters.last, filters.platform) == (None, None, None)
    assert len(filters.errors) == 3
    swapped = Filters.from_query({"from": "2026-11-08", "to": "2026-11-02"})
    assert (swapped.first, swapped.last) == (date(2026, 11, 2), date(2026, 11, 8)) and swapped.errors


def test_the_default_period_ends_on_the_datas_latest_day() -> None:
    latest = date(2026, 11, 28)
    period = Period.resolve(Filters(), latest)
    assert (period.first, period.last, period.days) == (latest - timedelta(days=DEFAULT_DAYS - 1), latest, DEFAULT_DAYS)
    assert period.previous == Period(period.first - timedelta(days=DEFAULT_DAYS), period.first - timedelta(days=1))
    assert Period.resolve(Filters(first=date(2027, 1, 1)), latest).first == date(2027, 1, 1)


def test_the_default_period_starts_no_earlier_than_the_datas_first_day() -> None:
    latest, earliest = date(2026, 11, 28), date(2026, 11, 21)
    assert Period.resolve(Filters(), latest, earliest) == Period(earliest, latest)
    # Older data than DEFAULT_DAYS: the default is the DEFAULT_DAYS, as without a first day.
    long_ago = latest - timedelta(days=400)
    assert Period.resolve(Filters(), latest, long_ago) == Period.resolve(Filters(), latest)
    # Asked-for ends are never moved.
    asked = Filters(first=date(2026, 11, 1), last=date(2026, 11, 28))
    assert Period.resolve(asked, latest, earliest) == Period(date(2026, 11, 1), latest)


def test_a_period_is_at_most_max_days_long() -> None:
    period = Period.resolve(Filters(first=date(1970, 1, 1), last=date(2026, 11, 28)), None)
    assert period.days == MAX_DAYS and period.last == date(2026, 11, 28)
