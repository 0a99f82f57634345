"""Lifecycle and retention through Dagster: people_job builds them after people, and the cascade that rebuilds
people after a late identify rebuilds them too."""

from datetime import timedelta
from typing import Any

import pytest

from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, read_rows
from revolt_pipeline_tests.pipeline.harness import Pipeline, rfc3339, track
from revolt_pipeline_tests.pipeline.test_people_cascade import START, deliver, page, pipeline  # noqa: F401


def tables(pipeline: Pipeline) -> dict[str, list[dict[str, Any]]]:  # noqa: F811
    engine = create_engine(pipeline.settings.report_db_url)
    try:
        return {table.name: read_rows(engine, table) for table in schema.RETENTION_TABLES}
    finally:
        engine.dispose()


def cohorts(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[int]]:
    """Each first_seen day cohort's `retained` by period."""
    cells: dict[str, list[int]] = {}
    for row in sorted(rows["retention_daily"], key=lambda row: (row["cohort_date"], row["period"])):
        cells.setdefault(row["cohort_date"].isoformat(), []).append(row["retained"])
    return cells


@pytest.mark.slow
def test_a_late_identify_rebuilds_lifecycle_and_retention_with_people(pipeline: Pipeline) -> None:  # noqa: F811
    day = START.date()
    deliver(pipeline, day, [page("p1", "anon-1", START)])
    deliver(pipeline, day + timedelta(days=1), [page("p2", "anon-1", START + timedelta(days=1))])
    deliver(pipeline, day + timedelta(days=2), [track("t1", "ada", START + timedelta(days=2))])
    before = tables(pipeline)
    assert cohorts(before) == {"2026-11-16": [1, 1, 0, 0], "2026-11-18": [1, 0]}  # built through the 19th
    lifecycle = {row["event_date"].isoformat(): row for row in before["lifecycle_daily"]}
    assert (lifecycle["2026-11-18"]["new_users"], lifecycle["2026-11-18"]["dormant_users"]) == (1, 1)

    identify = {
        "type": "identify",
        "messageId": "i1",
        "userId": "ada",
        "anonymousId": "anon-1",
        "originalTimestamp": rfc3339(START + timedelta(days=4)),
    }
    deliver(pipeline, day + timedelta(days=4), [identify])
    after = tables(pipeline)
    # One person from the 16th: active on the 16th, 17th, 18th and 20th; the 18th's cohort is gone.
    assert cohorts(after) == {"2026-11-16": [1, 1, 1, 0, 1, 0]}
    lifecycle = {row["event_date"].isoformat(): row for row in after["lifecycle_daily"]}
    assert (lifecycle["2026-11-18"]["new_users"], lifecycle["2026-11-18"]["returning_users"]) == (0, 1)
    assert lifecycle["2026-11-20"]["resurrecting_users"] == 1
    (week,) = [row for row in after["lifecycle_weekly"] if row["week_start"].isoformat() == "2026-11-16"]
    assert (week["active_users"], week["new_users"], week["as_of"].isoformat()) == (1, 1, "2026-11-21")
    checks = pipeline.metadata("cohort_activity", "2026-11-20")
    assert checks["lifecycle/active_users"] == 1
    assert pipeline.follow_cascade() == []
