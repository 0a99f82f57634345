"""`revolt demo` end to end: the report tables equal what the traffic generator knows happened."""

from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from revolt_pipeline.cli import main
from revolt_pipeline.demo.generator import plan_traffic
from revolt_pipeline.demo.pipeline import DemoResult, run_demo
from revolt_pipeline.settings import Settings
from revolt_pipeline.transforms.aggregates import DURATION_BUCKETS, PERCENTILES
from revolt_pipeline.transforms.engine import duckdb_connection, sql_list
from revolt_pipeline_tests.fixtures.collector import read_landed
from revolt_pipeline_tests.pipeline.harness import pipeline_environment

# Shares the session's demo runs (conftest.py): one worker builds them.
pytestmark = pytest.mark.xdist_group("demo")

if TYPE_CHECKING:
    from revolt_pipeline_tests.pipeline.conftest import DemoRun

START = date(2026, 11, 2)
USERS = 40


def demo(settings: Settings) -> DemoResult:
    """`revolt demo`'s week from START, its days received up to its last delivery, not up to yesterday.

    Every day received after the last delivery is empty and costs each job a partition (the people step more, the
    longer the window): received up to yesterday, the demo took more than twice the CPU at the end of November, and
    more every day after. Ending with the traffic, every demo receives the same days whatever the date, as the
    embedded and the production demo, compared row for row, must; empty event days still follow the week."""
    traffic = plan_traffic(seed=3, users=USERS, days=7, start=START)
    today = traffic.end.date() + timedelta(days=1)  # so the last day received is the last delivery's
    return run_demo(
        settings, seed=3, users=USERS, days=7, start=START, say=lambda text: None, traffic=traffic, today=today
    )


def report_rows(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    from revolt_pipeline.reports import schema
    from revolt_pipeline.reports.loader import create_engine, read_rows

    engine = create_engine(settings.report_db_url)
    try:
        return {table.name: read_rows(engine, table) for table in schema.metadata.sorted_tables}
    finally:
        engine.dispose()


def lake_counts(settings: Settings, area: str, group: str | None = None) -> Counter:
    store = settings.store
    keys = [info.key for info in store.list(area) if info.key.endswith(".parquet")]
    local = [store.local_path(key) for key in keys]
    with duckdb_connection(threads=1) as connection:
        if group is None:
            return Counter(
                {"rows": connection.execute(f"SELECT count(*) FROM read_parquet({sql_list(local)})").fetchone()[0]}
            )
        rows = connection.execute(
            f"SELECT {group}, count(*) FROM read_parquet({sql_list(local)}) GROUP BY 1"
        ).fetchall()
    return Counter(dict(rows))


def test_demo_reports_equal_the_ground_truth(embedded_demo: "DemoRun") -> None:
    settings, result, rows = embedded_demo.settings, embedded_demo.result, embedded_demo.rows
    truth = result.truth
    # A BI tool's plain SUM over a total table gives the ground truth: no row counts a day twice.
    dau = {r["event_date"].isoformat(): r["active_users"] for r in rows["daily_active_users"]}
    sessions = {r["session_date"].isoformat(): r["sessions"] for r in rows["sessions_daily"]}
    events = Counter()
    for row in rows["events_daily"]:
        events[row["event_date"].isoformat()] += row["events"]
    assert len(dau) == len(rows["daily_active_users"]) and len(sessions) == len(rows["sessions_daily"])
    assert sum(dau.values()) == sum(expected["daily_active_users"] for expected in truth["days"].values())
    for day, expected in truth["days"].items():
        assert dau[day] == expected["daily_active_users"], day
        assert sessions[day] == expected["sessions"], day
        assert events[day] == expected["events"], day  # duplicates counted once
    assert sum(sessions.values()) == truth["totals"]["sessions"]
    assert all(value == 0 for day, value in dau.items() if day not in truth["days"])
    assert_breakdowns_add_up_where_they_should(rows)
    assert_session_lengths_match_the_sessions(settings, rows)

    totals = truth["totals"]
    assert lake_counts(settings, "raw_events")["rows"] == totals["messages_sent"]
    assert lake_counts(settings, "events")["rows"] == totals["on_time_unique"]
    quarantined = lake_counts(settings, "events_quarantine", "reason")
    assert set(quarantined) == {"duplicate", "too_late"}
    assert quarantined["too_late"] >= totals["too_late"] > 0  # a late message delivered twice is late twice
    assert sum(quarantined.values()) == totals["messages_sent"] - totals["on_time_unique"]
    store = settings.store
    refused = Counter(record["reason"] for record in read_landed(store, "quarantine"))
    assert refused == totals["malformed_by_reason"]

    # Every asset check of every day passed: reconciliation, and schema drift on the demo's healthy variation
    # (Android's new release sends fractional minutes; a quiet day has no sign-up and so no `signed_up` trait).
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(result.instance_home)) as instance:
        for run_id in result.run_ids.values():
            for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
                evaluation = record.dagster_event.asset_check_evaluation_data
                assert evaluation.passed, (evaluation.asset_key, evaluation.check_name, evaluation.partition)


def by_key(rows: list[dict[str, Any]], key: tuple[str, ...], column: str) -> Counter:
    """`column` added up over the rows of each `key`."""
    totals: Counter = Counter()
    for row in rows:
        totals[tuple(row[name] for name in key)] += row[column]
    return totals


def assert_breakdowns_add_up_where_they_should(rows: dict[str, list[dict[str, Any]]]) -> None:
    """Counts of events and sessions add up from versions to platforms to the day; distinct people do not."""
    for subject, key, columns in (
        ("sessions_daily", ("session_date",), ("sessions", "events", "single_event_sessions", "split_sessions")),
        ("events_daily", ("event_date", "event_type", "event_name"), ("events",)),
        ("session_duration_histogram", ("session_date", "bucket"), ("sessions",)),
        ("session_duration_percentiles", ("session_date",), ("sessions",)),
    ):
        total, platforms, versions = (rows[subject + suffix] for suffix in ("", "_by_platform", "_by_app_version"))
        with_platform = ("platform", *key)
        for column in columns:
            totals = +by_key(total, key, column)
            assert totals or column != columns[0], (subject, column)  # the demo has no split session
            assert +by_key(platforms, key, column) == totals, (subject, column)
            assert +by_key(versions, with_platform, column) == +by_key(platforms, with_platform, column), subject
    # People active on two platforms the same day (the demo's multi-device people) are one active user.
    day_total = by_key(rows["daily_active_users"], ("event_date",), "active_users")
    by_platform = by_key(rows["daily_active_users_by_platform"], ("event_date",), "active_users")
    assert all(by_platform[day] >= users for day, users in day_total.items())
    assert sum(by_platform.values()) > sum(day_total.values())


def assert_session_lengths_match_the_sessions(settings: Settings, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The histogram and the percentiles describe the lake's sessions exactly, and agree with sessions_daily."""
    store = settings.store
    paths = [store.local_path(info.key) for info in store.list("sessions") if info.key.endswith(".parquet")]
    with duckdb_connection(threads=1) as connection:
        sessions = f"read_parquet({sql_list(paths)}, hive_partitioning = true)"  # session_date from the path
        durations = connection.execute(
            f"SELECT CAST(session_date AS DATE), duration_seconds FROM {sessions}"
        ).fetchall()
    per_day: dict[date, list[float]] = {}
    for day, seconds in durations:
        per_day.setdefault(day, []).append(seconds)
    histogram = {(r["session_date"], r["bucket_order"]): r for r in rows["session_duration_histogram"]}
    for day, seconds in per_day.items():
        for order in range(len(DURATION_BUCKETS)):
            bucket = histogram[(day, order)]
            upper = bucket["upper_seconds"]
            inside = [s for s in seconds if s >= bucket["lower_seconds"] and (upper is None or s < upper)]
            assert bucket["sessions"] == len(inside), (day, bucket)
    percentiles = {r["session_date"]: r for r in rows["session_duration_percentiles"]}
    for day, seconds in per_day.items():
        row = percentiles[day]
        assert row["sessions"] == len(seconds)
        assert (row["min_duration_seconds"], row["max_duration_seconds"]) == (min(seconds), max(seconds))
        for p in PERCENTILES:  # percentile_cont: linear between the closest ranks
            assert row[f"p{p}_duration_seconds"] == pytest.approx(interpolated(sorted(seconds), p / 100)), (day, p)
    for row in rows["sessions_daily"]:
        if row["sessions"]:
            same_day = percentiles[row["session_date"]]
            assert same_day["p50_duration_seconds"] == row["median_duration_seconds"]
            assert same_day["p90_duration_seconds"] == row["p90_duration_seconds"]


def interpolated(ordered: list[float], fraction: float) -> float:
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def test_s3_and_postgres_give_the_same_report_rows_as_the_embedded_default(
    embedded_demo: "DemoRun", production_demo: "DemoRun"
) -> None:
    expected = embedded_demo.rows
    assert production_demo.rows == expected
    # Every table the default demo fills (the models' tables are filled by `revolt demo --ml`, never by default).
    models = {"churn_scores", "recommendations", "person_segments", "segment_sizes"}
    assert all(expected[table] for table in expected if table not in models)
    store = production_demo.settings.store
    assert any(info.key.startswith("events/event_date=") for info in store.list("events"))


def test_the_demo_command_refuses_to_mix_with_a_previous_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline_environment(monkeypatch, tmp_path)
    (tmp_path / "store" / "landing").mkdir(parents=True)
    result = CliRunner().invoke(main, ["demo", "--users", "5"])
    assert result.exit_code != 0
    assert "revolt demo --reset" in result.output
