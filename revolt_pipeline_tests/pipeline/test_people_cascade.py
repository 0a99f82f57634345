"""People and active users through Dagster: the cascade after cleaning, and after a late identify."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, read_rows
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, rfc3339, running_pipeline, track
from revolt_pipeline_tests.pipeline.test_cascade import launched

START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, START) as running:
        yield running


def page(message_id: str, anonymous_id: str, moment: datetime) -> dict[str, Any]:
    return {
        "type": "page",
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "name": "Pricing",
        "originalTimestamp": rfc3339(moment),
    }


def deliver(pipeline: Pipeline, day: date, messages: list[dict[str, Any]]) -> list[tuple[str, tuple[str, str] | None]]:
    moment = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    pipeline.send(moment, messages)
    pipeline.complete(day)
    assert pipeline.run("raw_job", day.isoformat()).success
    return launched(pipeline.follow_cascade())


def actives(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    engine = create_engine(pipeline.settings.report_db_url)
    try:
        rows = read_rows(engine, schema.active_users_daily)
    finally:
        engine.dispose()
    return {row["event_date"].isoformat(): row for row in rows}


@pytest.mark.slow
def test_a_late_identify_reopens_people_from_the_first_anonymous_day(pipeline: Pipeline) -> None:
    day = START.date()
    first = deliver(pipeline, day, [page("p1", "anon-1", START)])
    assert ("people_job", ("2026-11-15", "2026-11-17")) in first
    deliver(pipeline, day + timedelta(days=1), [page("p2", "anon-1", START + timedelta(days=1))])
    deliver(pipeline, day + timedelta(days=2), [track("t1", "ada", START + timedelta(days=2))])
    before = actives(pipeline)
    assert (before["2026-11-18"]["wau"], before["2026-11-18"]["new_users"]) == (2, 1)

    # On the 20th the anonymous visitor of the 16th and 17th signs in as ada.
    identify = {
        "type": "identify",
        "messageId": "i1",
        "userId": "ada",
        "anonymousId": "anon-1",
        "traits": {"email": "ada@example.com", "plan": "team"},
        "originalTimestamp": rfc3339(START + timedelta(days=4)),
    }
    runs = deliver(pipeline, day + timedelta(days=4), [identify])
    assert ("people_job", ("2026-11-16", "2026-11-21")) in runs, runs
    # The visitor's cleaned days hold the anonymous id: cleaned again (with the days whose sessions read them).
    assert ("clean_job", ("2026-11-15", "2026-11-18")) in runs, runs
    after = actives(pipeline)
    assert {d: (row["dau"], row["wau"], row["new_users"]) for d, row in after.items() if d >= "2026-11-16"} == {
        "2026-11-16": (1, 1, 1),
        "2026-11-17": (1, 1, 0),
        "2026-11-18": (1, 1, 0),  # ada was the anonymous visitor: one person, not new any more
        "2026-11-19": (0, 1, 0),
        "2026-11-20": (1, 1, 0),
        "2026-11-21": (0, 1, 0),
    }
    people = pipeline.metadata("people", "2026-11-21")
    assert people["dagster/row_count"] == 1
    assert pipeline.metadata("people", "2026-11-20").get("restitched_since") is None  # rebuilt: nothing stale
    # The report tables of people, loaded by the same runs: the visitor is ada, in every day and in `people`.
    engine = create_engine(pipeline.settings.report_db_url)
    try:
        person_days = read_rows(engine, schema.person_days)
        people_table = read_rows(engine, schema.people)
    finally:
        engine.dispose()
    assert {(row["event_date"].isoformat(), row["person_id"]) for row in person_days} == {
        ("2026-11-16", "ada"),
        ("2026-11-17", "ada"),
        ("2026-11-18", "ada"),
        ("2026-11-20", "ada"),
    }
    ((person, first_seen, plan, as_of),) = [
        (row["person_id"], row["first_seen"].isoformat(), row["plan"], row["snapshot_date"].isoformat())
        for row in people_table
    ]
    assert (person, first_seen, plan, as_of) == ("ada", "2026-11-16", "team", "2026-11-21")
    loaded = pipeline.metadata("people_table", "2026-11-16")
    assert (loaded["snapshot_date"], loaded["dagster/row_count"]) == ("2026-11-21", 1)
    assert pipeline.follow_cascade() == []


@pytest.mark.slow
def test_after_a_late_identify_the_cleaned_days_dau_agrees_with_active_users_daily(pipeline: Pipeline) -> None:
    """On the 16th the visitor browsed anonymously and used the app as ada: two ids of one person that day. The
    identify arrives on the 20th; the cascade cleans the 16th again, so `daily_active_users` counts her once there,
    as `active_users_daily` does, on every day."""
    day = START.date()
    deliver(pipeline, day, [page("p1", "anon-1", START), track("t1", "ada", START + timedelta(hours=2))])
    deliver(pipeline, day + timedelta(days=2), [track("t2", "bob", START + timedelta(days=2))])
    assert dau(pipeline)["2026-11-16"] == (2, 2)

    identify = {
        "type": "identify",
        "messageId": "i1",
        "userId": "ada",
        "anonymousId": "anon-1",
        "originalTimestamp": rfc3339(START + timedelta(days=4)),
    }
    runs = deliver(pipeline, day + timedelta(days=4), [identify])
    assert ("clean_job", ("2026-11-15", "2026-11-17")) in runs, runs
    counts = dau(pipeline)
    assert counts["2026-11-16"] == (1, 1)
    assert all(cleaned == people for cleaned, people in counts.values()), counts
    assert pipeline.metadata("person_days", "2026-11-16").get("restitched_events", 0) == 0  # cleaned again
    assert pipeline.follow_cascade() == []


def dau(pipeline: Pipeline) -> dict[str, tuple[int, int]]:
    """Each day's active people in `daily_active_users` (cleaned layer) and `active_users_daily` (people layer)."""
    engine = create_engine(pipeline.settings.report_db_url)
    try:
        cleaned = {
            row["event_date"].isoformat(): row["active_users"] for row in read_rows(engine, schema.daily_active_users)
        }
    finally:
        engine.dispose()
    people = {day: row["dau"] for day, row in actives(pipeline).items()}
    return {day: (cleaned.get(day, 0), people[day]) for day in sorted(people)}
