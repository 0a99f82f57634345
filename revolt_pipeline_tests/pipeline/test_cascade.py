"""Sensors and schedule against a real instance: the right days, once each, nothing after a failure."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.defs.cleaned.sensors import clean_after_raw
from revolt_pipeline.defs.raw.schedules import raw_daily_schedule
from revolt_pipeline.defs.reports.sensors import reports_after_clean
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, running_pipeline, track

DAY = date(2026, 11, 18)
MORNING = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, MORNING) as running:
        yield running


def tick(sensor: dg.RunStatusSensorDefinition, pipeline: Pipeline, cursor: str | None) -> Any:
    context = dg.build_sensor_context(instance=pipeline.instance, cursor=cursor, definitions=pipeline.definitions)
    return sensor.evaluate_tick(context)


def partition_tags(request: dg.RunRequest) -> dict[str, str]:
    return {key: value for key, value in request.tags.items() if "partition" in key}


def follow_cascade(pipeline: Pipeline, sensor: dg.RunStatusSensorDefinition, cursor: str | None, job: str) -> tuple:
    """One sensor tick, and the run it requested executed like the daemon would."""
    result = tick(sensor, pipeline, cursor)
    requests = result.run_requests or []
    runs = []
    for request in requests:
        tags = request.tags
        first = tags.get("dagster/partition") or tags["dagster/asset_partition_range_start"]
        last = tags.get("dagster/partition") or tags["dagster/asset_partition_range_end"]
        runs.append(pipeline.run(job, first, last))
    return result, requests, runs


def test_a_late_event_reaches_its_days_reports_through_the_cascade(pipeline: Pipeline) -> None:
    raw_cursor = tick(clean_after_raw, pipeline, None).cursor
    report_cursor = tick(reports_after_clean, pipeline, None).cursor

    pipeline.send(MORNING, [track("a1", "ada", MORNING), track("b1", "bob", MORNING + timedelta(minutes=3))])
    pipeline.complete(DAY)
    assert pipeline.run("raw_job", DAY.isoformat()).success
    result, requests, runs = follow_cascade(pipeline, clean_after_raw, raw_cursor, "clean_job")
    assert [partition_tags(r) for r in requests] == [
        {"dagster/asset_partition_range_start": "2026-11-17", "dagster/asset_partition_range_end": "2026-11-19"}
    ]
    assert all(run.success for run in runs)
    again = tick(clean_after_raw, pipeline, raw_cursor)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in requests]  # same key: never launched twice
    raw_cursor = result.cursor
    result, report_requests, report_runs = follow_cascade(pipeline, reports_after_clean, report_cursor, "report_job")
    assert [partition_tags(r) for r in report_requests] == [partition_tags(r) for r in requests]
    assert all(run.success for run in report_runs)
    report_cursor = result.cursor
    assert pipeline.dau("2026-11-18") == 2

    # Two days later an offline phone delivers an event from the 18th: its device clock says so.
    later = MORNING + timedelta(days=2)
    offline = track("c1", "cyd", MORNING + timedelta(hours=2))
    pipeline.send(later, [offline, track("d1", "dan", later)], sent_at=later)
    pipeline.complete(date(2026, 11, 20))
    assert pipeline.run("raw_job", "2026-11-20").success
    _, requests, runs = follow_cascade(pipeline, clean_after_raw, raw_cursor, "clean_job")
    assert [partition_tags(r) for r in requests] == [
        {"dagster/asset_partition_range_start": "2026-11-17", "dagster/asset_partition_range_end": "2026-11-21"}
    ]
    assert all(run.success for run in runs)
    _, _, report_runs = follow_cascade(pipeline, reports_after_clean, report_cursor, "report_job")
    assert all(run.success for run in report_runs)
    assert pipeline.dau("2026-11-18") == 3
    assert pipeline.dau("2026-11-20") == 1

    # Re-running any partition leaves the report tables exactly as they are.
    before = pipeline.report_rows()
    assert pipeline.run("raw_job", "2026-11-18").success
    assert pipeline.run("clean_job", "2026-11-18").success
    assert pipeline.run("clean_job", "2026-11-16", "2026-11-21").success
    assert pipeline.run("report_job", "2026-11-17", "2026-11-21").success
    assert pipeline.run("report_job", "2026-11-18").success
    assert pipeline.report_rows() == before


def test_a_failed_raw_run_launches_nothing_downstream(pipeline: Pipeline) -> None:
    cursor = tick(clean_after_raw, pipeline, None).cursor
    pipeline.send(MORNING, [track("a1", "ada", MORNING)])
    # The day is not over on the collector's clock: its watermark has not passed midnight.
    result = pipeline.run("raw_job", DAY.isoformat(), raw_events={"config": {"watermark_retries": 0}})
    assert not result.success
    failed = tick(clean_after_raw, pipeline, cursor)
    assert not failed.run_requests


def test_the_schedule_builds_yesterdays_raw_day_after_midnight(pipeline: Pipeline) -> None:
    context = dg.build_schedule_context(
        instance=pipeline.instance, scheduled_execution_time=datetime(2026, 11, 21, 0, 15, tzinfo=UTC)
    )
    resolved = pipeline.definitions.resolve_schedule_def(raw_daily_schedule.name)
    assert resolved.cron_schedule == "15 0 * * *"
    data = resolved.evaluate_tick(context)
    assert [request.partition_key for request in data.run_requests] == ["2026-11-20"]
    assert resolved.job_name == "raw_job"
