"""The path report tables equal the demo's ground truth exactly, on SQLite and on PostgreSQL.

A week of demo traffic goes through a collector and every layer (the layer library's `DayBuilder`, in the
cascade's order), once per session (`demo_lake` in conftest.py); its lake days are then loaded into each report
database. The truth comes from the planned sessions (`paths_ground_truth` in demo/generator.py), never from the
SQL.
"""

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.layers.checks import events_breakdown_check, path_checks
from revolt_pipeline.reports import schema
from revolt_pipeline_tests.pipeline.conftest import DemoLake

pytestmark = pytest.mark.xdist_group("demo_lake")

PATH_TABLES = [table for name, table in schema.AGGREGATE_TABLES.items() if name.startswith("path_")]


def _path_rows(demo_lake: DemoLake, url: str) -> dict[str, list[dict[str, Any]]]:
    """The lake's days loaded into the report database at `url`; the path tables' rows, dates as text."""
    rows = demo_lake.load(url)
    return {
        table.name: [{**row, "session_date": row["session_date"].isoformat()} for row in rows[table.name]]
        for table in PATH_TABLES
    }


def test_the_demos_paths_have_steps_worth_reading(demo_lake: DemoLake) -> None:
    """The truth is not empty or trivial: immediate repeats happen (Slack commands), sessions end in many places."""
    truth = demo_lake.truth["paths"]
    assert all(truth[table.name] for table in PATH_TABLES)
    steps = truth["path_steps"]
    assert sum(row["events"] - row["occurrences"] for row in steps) > 0  # repeats collapsed
    exits = Counter()
    for row in steps:
        exits[row["step"]] += row["exits"]
    assert len(+exits) > 5
    # Every session of the demo has a step: entries and exits add up to the sessions of each day.
    for day, expected in demo_lake.truth["days"].items():
        day_steps = [row for row in steps if row["session_date"] == day]
        assert (
            sum(row["entries"] for row in day_steps) == sum(row["exits"] for row in day_steps) == expected["sessions"]
        )


def test_every_days_paths_pass_their_checks(demo_lake: DemoLake) -> None:
    assert demo_lake.built.aggregates
    for day in demo_lake.built.aggregates:
        outcomes = path_checks(day)
        assert [outcome.name for outcome in outcomes] == [
            "path_entries_and_exits_match_sessions",
            "path_transitions_balanced",
        ]
        assert all(outcome.passed for outcome in outcomes), (day.day, outcomes)
        # ... and every events breakdown adds up to the grain it breaks down.
        assert events_breakdown_check(day).passed, (day.day, day.unbalanced_events)


def test_the_path_tables_equal_the_ground_truth_on_sqlite(demo_lake: DemoLake, tmp_path: Path) -> None:
    rows = _path_rows(demo_lake, f"sqlite:///{tmp_path / 'reports.sqlite'}")
    for table in PATH_TABLES:
        assert rows[table.name] == demo_lake.truth["paths"][table.name], table.name


@pytest.mark.services
def test_the_path_tables_equal_the_ground_truth_on_postgres(demo_lake: DemoLake, postgres_url: str) -> None:
    rows = _path_rows(demo_lake, postgres_url)
    for table in PATH_TABLES:
        assert rows[table.name] == demo_lake.truth["paths"][table.name], table.name
