"""The daily aggregates: one grain each, totals computed rather than summed, session lengths exact."""

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from revolt_pipeline.layers.checks import events_breakdown_check
from revolt_pipeline.layers.cleaned import AggregateDay
from revolt_pipeline.transforms.aggregates import (
    AGGREGATES,
    DIMENSION_TEXT,
    DURATION_BUCKETS,
    aggregate_query,
    events_balance,
)
from revolt_pipeline.transforms.engine import copy_to_parquet
from revolt_pipeline_tests.transforms.harness import at, duckdb_connection, landed, run_pipeline

DAY = date(2026, 11, 20)


def visits(user: str, start: datetime, gaps_seconds: list[float], platform: str = "web", **extra: Any) -> list[dict]:
    """One session of `user`: an event at `start`, then one after each gap (all within the session timeout)."""
    moments = [start]
    for gap in gaps_seconds:
        moments.append(moments[-1] + timedelta(seconds=gap))
    return [
        landed(f"{user}-{start:%H%M}-{n}", moment, user_id=user, platform=platform, **extra)
        for n, moment in enumerate(moments)
    ]


def aggregates(tmp_path: Path, records: list[dict]) -> dict[str, list[dict[str, Any]]]:
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        result = {}
        for name in AGGREGATES:
            cursor = connection.execute(aggregate_query(name, lake.sessionized[DAY], lake.sessions[DAY], DAY))
            names = [column[0] for column in cursor.description]
            result[name] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return result


def test_a_person_on_two_platforms_is_one_active_user_of_the_day_and_one_of_each_platform(tmp_path: Path) -> None:
    records = [
        *visits("ada", at("2026-11-20 09:00"), [10], platform="web"),
        *visits("ada", at("2026-11-20 20:00"), [], platform="ios"),
        *visits("bob", at("2026-11-20 10:00"), [], platform="web", app_version="2.0"),
    ]
    rows = aggregates(tmp_path, records)

    assert [(r["active_users"], r["identified_users"]) for r in rows["daily_active_users"]] == [(2, 2)]
    by_platform = {r["platform"]: r["active_users"] for r in rows["daily_active_users_by_platform"]}
    assert by_platform == {"ios": 1, "web": 2}  # 3 in all: distinct people do not add up across platforms
    by_version = {
        (r["platform"], r["app_version"]): r["active_users"] for r in rows["daily_active_users_by_app_version"]
    }
    assert by_version == {("ios", "1.0"): 1, ("web", "1.0"): 1, ("web", "2.0"): 1}
    # Events and sessions do add up, from versions to platforms to the day.
    assert [r["events"] for r in rows["events_daily"]] == [4]
    assert sum(r["events"] for r in rows["events_daily_by_platform"]) == 4
    assert [r["sessions"] for r in rows["sessions_daily"]] == [3]
    assert sum(r["sessions"] for r in rows["sessions_daily_by_app_version"]) == 3
    # Each aggregate has the columns of its grain and no other: no total row hides among the breakdowns.
    for name, (_, grain) in AGGREGATES.items():
        assert all(DIMENSION_TEXT.keys() & row.keys() == set(grain.dimensions) for row in rows[name]), name


def test_the_histogram_has_every_bucket_and_puts_boundaries_in_the_upper_one(tmp_path: Path) -> None:
    records = [
        *visits("zero", at("2026-11-20 01:00"), []),  # 0 s
        *visits("one", at("2026-11-20 02:00"), [1]),  # exactly 1 s: 1s-1m
        *visits("almost", at("2026-11-20 03:00"), [59.5]),  # 1s-1m
        *visits("minute", at("2026-11-20 04:00"), [60]),  # exactly 60 s: 1-5m
        *visits("long", at("2026-11-20 05:00"), [1200] * 6),  # exactly 2 h: 2h+
        *visits("ios", at("2026-11-20 06:00"), [400], platform="ios"),  # 5-15m
    ]
    rows = aggregates(tmp_path, records)

    histogram = rows["session_duration_histogram"]
    assert [(r["bucket"], r["bucket_order"]) for r in histogram] == [
        (label, n) for n, (label, _) in enumerate(DURATION_BUCKETS)
    ]
    assert {r["bucket"]: r["sessions"] for r in histogram} == {
        "0s": 1,
        "1s-1m": 2,
        "1-5m": 1,
        "5-15m": 1,
        "15-30m": 0,
        "30-60m": 0,
        "1-2h": 0,
        "2h+": 1,
    }
    assert [(r["lower_seconds"], r["upper_seconds"]) for r in histogram][:2] == [(0, 1), (1, 60)]
    assert (histogram[-1]["lower_seconds"], histogram[-1]["upper_seconds"]) == (7200, None)
    by_platform = rows["session_duration_histogram_by_platform"]
    assert len(by_platform) == 2 * len(DURATION_BUCKETS)  # every bucket of each platform with sessions
    assert {r["bucket"]: r["sessions"] for r in by_platform if r["platform"] == "ios" and r["sessions"]} == {"5-15m": 1}


def test_percentiles_are_exact_and_agree_with_the_sessions_median(tmp_path: Path) -> None:
    durations = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    records = [
        record
        for n, seconds in enumerate(durations)
        for record in visits(f"u{n}", at("2026-11-20 08:00") + timedelta(hours=n), [seconds] if seconds else [])
    ]
    rows = aggregates(tmp_path, records)

    [percentiles] = rows["session_duration_percentiles"]
    assert percentiles["sessions"] == 11
    assert (percentiles["min_duration_seconds"], percentiles["max_duration_seconds"]) == (0, 100)
    # Eleven evenly spaced sessions: percentile p lies at p% of the way from the shortest to the longest.
    assert [percentiles[f"p{p}_duration_seconds"] for p in (25, 50, 75, 90, 99)] == [25, 50, 75, 90, 99]
    [sessions] = rows["sessions_daily"]
    assert sessions["median_duration_seconds"] == percentiles["p50_duration_seconds"]
    assert sessions["p90_duration_seconds"] == percentiles["p90_duration_seconds"]


def test_a_day_without_sessions_has_a_total_row_of_zeros_and_no_percentiles(tmp_path: Path) -> None:
    # Only an event the next day: the 20th is built (the day before, for sessions) and holds nothing.
    rows = aggregates(tmp_path, visits("ada", at("2026-11-21 09:00"), []))

    assert [r["active_users"] for r in rows["daily_active_users"]] == [0]
    assert [r["sessions"] for r in rows["sessions_daily"]] == [0]
    [percentiles] = rows["session_duration_percentiles"]
    assert percentiles["sessions"] == 0 and percentiles["p50_duration_seconds"] is None
    assert {r["sessions"] for r in rows["session_duration_histogram"]} == {0}
    assert rows["daily_active_users_by_platform"] == rows["session_duration_histogram_by_platform"] == []


def test_events_by_os_and_country_add_up_per_app_version_and_the_check_finds_a_breakdown_that_does_not(
    tmp_path: Path,
) -> None:
    records = [
        *visits("ada", at("2026-11-20 09:00"), [10, 10], platform="ios", context={"os": {"name": "iOS"}}),
        *visits("bob", at("2026-11-20 10:00"), [5], platform="ios", app_version="2.0", context={"timezone": "UTC"}),
        *visits("cy", at("2026-11-20 11:00"), [], platform="web", context={"ip": "8.8.8.8"}),
    ]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        outputs = {}
        for name in AGGREGATES:
            outputs[name] = str(tmp_path / f"{name}.parquet")
            query = aggregate_query(name, lake.sessionized[DAY], lake.sessions[DAY], DAY)
            copy_to_parquet(connection, query, outputs[name])
        assert events_balance(connection, outputs) == []
        by_country = pq.read_table(outputs["events_daily_by_country"]).to_pylist()
        assert sorted((r["platform"], r["app_version"], r["country"], r["events"]) for r in by_country) == [
            ("ios", "1.0", "unknown", 3),
            ("ios", "2.0", "unknown", 2),
            ("web", "1.0", "US", 1),
        ]
        # As a faulty transform would write them: iOS 2.0's row of events by OS lost, a device type doubled.
        by_os = pq.read_table(outputs["events_daily_by_os"])
        pq.write_table(by_os.filter(pc.field("app_version") != "2.0"), outputs["events_daily_by_os"])
        by_device = pq.read_table(outputs["events_daily_by_device_type"])
        pq.write_table(pa.concat_tables([by_device, by_device.slice(0, 1)]), outputs["events_daily_by_device_type"])
        problems = events_balance(connection, outputs)
    outcome = events_breakdown_check(AggregateDay(DAY, outputs, {}, [], problems))
    assert (outcome.name, outcome.passed) == ("events_breakdowns_add_up", False)
    assert outcome.problems == [
        "events_daily_by_os: ios 2.0 track Timer Started: 0 events, events_daily_by_app_version 2",
        "events_daily_by_device_type: track Timer Started: 12 events, events_daily 6",
    ]
