"""The cascade against a real instance: whatever materialized a layer, the right days follow, once each."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.defs.cascade import tagged_days
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, running_pipeline, track

DAY = date(2026, 11, 18)
MORNING = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    settings = pipeline_environment(monkeypatch, tmp_path)
    with running_pipeline(settings, MORNING) as running:
        yield running


def launched(runs: list[tuple[dg.RunRequest, dg.ExecuteInProcessResult]]) -> list[tuple[str, tuple[str, str] | None]]:
    """What the cascade launched: each run's job and days, all of them successful."""
    assert all(result.success for _, result in runs), [request.job_name for request, result in runs]
    return [(request.job_name or "", tagged_days(request.tags)) for request, _ in runs]


def materialize_from_the_ui(pipeline: Pipeline, assets: list[str], first: str, last: str) -> dg.ExecuteInProcessResult:
    """What the UI's Materialize button (or an asset backfill's single run) executes: `__ASSET_JOB`."""
    job = pipeline.definitions.resolve_implicit_global_asset_job_def()
    tags = (
        {"dagster/partition": first}
        if first == last
        else {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }
    )
    return job.execute_in_process(
        instance=pipeline.instance,
        asset_selection=[dg.AssetKey(asset) for asset in assets],
        tags=tags,
        raise_on_error=False,
    )


def tick(pipeline: Pipeline, sensor: str, cursor: str | None) -> Any:
    context = dg.build_sensor_context(instance=pipeline.instance, cursor=cursor, definitions=pipeline.definitions)
    return pipeline.definitions.resolve_sensor_def(sensor).evaluate_tick(context)


@pytest.mark.slow
def test_a_late_event_reaches_its_days_reports_through_the_cascade(pipeline: Pipeline) -> None:
    pipeline.send(MORNING, [track("a1", "ada", MORNING), track("b1", "bob", MORNING + timedelta(minutes=3))])
    pipeline.complete(DAY)
    assert pipeline.run("raw_job", DAY.isoformat()).success
    assert launched(pipeline.follow_cascade()) == [
        ("clean_job", ("2026-11-17", "2026-11-19")),  # the day, and the days whose sessions read it
        ("catalog_job", ("2026-11-18", "2026-11-18")),
        ("report_job", ("2026-11-17", "2026-11-19")),
        ("people_job", ("2026-11-17", "2026-11-19")),
        ("funnels_job", ("2026-11-17", "2026-11-19")),
    ]
    assert pipeline.dau("2026-11-18") == 2

    # Two days later an offline phone delivers an event from the 18th: its device clock says so.
    later = MORNING + timedelta(days=2)
    offline = track("c1", "cyd", MORNING + timedelta(hours=2))
    pipeline.send(later, [offline, track("d1", "dan", later)], sent_at=later)
    pipeline.complete(date(2026, 11, 20))
    assert pipeline.run("raw_job", "2026-11-20").success
    assert launched(pipeline.follow_cascade()) == [
        ("clean_job", ("2026-11-17", "2026-11-21")),
        ("catalog_job", ("2026-11-20", "2026-11-20")),
        ("report_job", ("2026-11-17", "2026-11-21")),
        ("people_job", ("2026-11-17", "2026-11-21")),
        ("funnels_job", ("2026-11-17", "2026-11-21")),
    ]
    assert pipeline.dau("2026-11-18") == 3
    assert pipeline.dau("2026-11-20") == 1
    assert pipeline.follow_cascade() == []  # nothing new: nothing launched

    # Re-running any partition leaves the report tables exactly as they are.
    before = pipeline.report_rows()
    assert pipeline.run("raw_job", "2026-11-18").success
    assert pipeline.run("clean_job", "2026-11-17", "2026-11-21").success
    assert pipeline.run("report_job", "2026-11-18").success
    pipeline.follow_cascade()
    assert pipeline.report_rows() == before


def test_materializing_raw_events_from_the_ui_cascades_like_raw_job(pipeline: Pipeline) -> None:
    pipeline.send(MORNING, [track("a1", "ada", MORNING), track("b1", "bob", MORNING + timedelta(minutes=3))])
    pipeline.complete(DAY)
    result = materialize_from_the_ui(pipeline, ["raw_events"], DAY.isoformat(), DAY.isoformat())
    assert result.success and result.dagster_run.job_name == "__ASSET_JOB"
    assert launched(pipeline.follow_cascade()) == [
        ("clean_job", ("2026-11-17", "2026-11-19")),
        ("catalog_job", ("2026-11-18", "2026-11-18")),
        ("report_job", ("2026-11-17", "2026-11-19")),
        ("people_job", ("2026-11-17", "2026-11-19")),
        ("funnels_job", ("2026-11-17", "2026-11-19")),
    ]
    assert pipeline.dau("2026-11-18") == 2
    # Cleaning from the UI as well: the reports follow.
    pipeline.send(MORNING + timedelta(days=1), [track("c1", "cyd", MORNING + timedelta(days=1))])
    pipeline.complete(DAY + timedelta(days=1))
    assert pipeline.run("raw_job", "2026-11-19").success
    cursor = pipeline.cascade.cursors["reports_after_clean"]
    cleaned = materialize_from_the_ui(
        pipeline,
        ["events", "events_quarantine", "sessionized_events", "sessions", "daily_aggregates"],
        "2026-11-19",
        "2026-11-19",
    )
    assert cleaned.success
    requests = tick(pipeline, "reports_after_clean", cursor).run_requests
    assert [(r.job_name, tagged_days(r.tags)) for r in requests] == [("report_job", ("2026-11-19", "2026-11-19"))]


def test_a_run_that_rebuilt_every_layer_itself_is_not_cascaded_again(pipeline: Pipeline) -> None:
    pipeline.send(MORNING, [track("a1", "ada", MORNING)])
    pipeline.complete(DAY + timedelta(days=1))
    everything = ["raw_events", "events", "events_quarantine", "sessionized_events", "sessions", "daily_aggregates"]
    assert materialize_from_the_ui(pipeline, everything, "2026-11-17", "2026-11-19").success
    # Its raw days reach the catalog; every cleaned day they affect was rebuilt after them, in the run itself.
    assert launched(pipeline.follow_cascade()) == [
        ("catalog_job", ("2026-11-17", "2026-11-19")),
        ("report_job", ("2026-11-17", "2026-11-19")),
        ("people_job", ("2026-11-17", "2026-11-19")),
        ("funnels_job", ("2026-11-17", "2026-11-19")),
    ]


def test_one_tick_answers_every_run_since_the_last_and_never_twice(pipeline: Pipeline) -> None:
    cursor = pipeline.cascade.cursors["clean_after_raw"]
    for offset in range(3):  # a backfill of three daily runs
        day = DAY + timedelta(days=offset)
        moment = MORNING + timedelta(days=offset)
        pipeline.send(moment, [track(f"m{offset}", "ada", moment)])
        pipeline.complete(day)
        assert pipeline.run("raw_job", day.isoformat()).success
    first = tick(pipeline, "clean_after_raw", cursor)
    assert [tagged_days(r.tags) for r in first.run_requests] == [("2026-11-17", "2026-11-21")]  # one range, one run
    again = tick(pipeline, "clean_after_raw", cursor)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]
    assert not tick(pipeline, "clean_after_raw", first.cursor).run_requests


def test_the_cascade_waits_for_runs_writing_the_same_days(pipeline: Pipeline) -> None:
    cursor = pipeline.cascade.cursors["clean_after_raw"]
    pipeline.send(MORNING, [track("a1", "ada", MORNING)])
    pipeline.complete(DAY)
    assert pipeline.run("raw_job", DAY.isoformat()).success
    queued = pipeline.instance.create_run_for_job(
        pipeline.definitions.resolve_job_def("clean_job"), tags={"dagster/partition": "2026-11-10"}
    )
    waiting = tick(pipeline, "clean_after_raw", cursor)
    assert not waiting.run_requests and queued.run_id in (waiting.skip_message or "")
    pipeline.instance.report_run_canceled(queued)
    assert [tagged_days(r.tags) for r in tick(pipeline, "clean_after_raw", cursor).run_requests] == [
        ("2026-11-17", "2026-11-19")
    ]


def test_the_cascade_waits_for_a_backfill_to_launch_all_its_runs(pipeline: Pipeline) -> None:
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

    cursor = pipeline.cascade.cursors["clean_after_raw"]
    pipeline.send(MORNING, [track("a1", "ada", MORNING)])
    pipeline.complete(DAY)
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id="raw-backfill",
        asset_graph=pipeline.definitions.resolve_asset_graph(),
        partition_names=[DAY.isoformat()],
        asset_selection=[dg.AssetKey("raw_events")],
        backfill_timestamp=MORNING.timestamp(),
        tags={},
        dynamic_partitions_store=pipeline.instance,
        all_partitions=False,
        title=None,
        description=None,
        run_config=None,
    )
    pipeline.instance.add_backfill(backfill)
    run = pipeline.definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=pipeline.instance,
        asset_selection=[dg.AssetKey("raw_events")],
        partition_key=DAY.isoformat(),
        tags={"dagster/backfill": "raw-backfill"},
    )
    assert run.success
    waiting = tick(pipeline, "clean_after_raw", cursor)
    assert not waiting.run_requests and run.run_id in (waiting.skip_message or "")
    pipeline.instance.update_backfill(backfill.with_status(BulkActionStatus.COMPLETED_SUCCESS))
    assert [tagged_days(r.tags) for r in tick(pipeline, "clean_after_raw", cursor).run_requests] == [
        ("2026-11-17", "2026-11-19")
    ]


def test_a_failed_raw_run_launches_nothing_downstream(pipeline: Pipeline) -> None:
    pipeline.send(MORNING, [track("a1", "ada", MORNING)])
    # The day is not over on the collector's clock: its watermark has not passed midnight.
    result = pipeline.run("raw_job", DAY.isoformat(), raw_events={"config": {"watermark_retries": 0}})
    assert not result.success
    assert pipeline.follow_cascade() == []


def test_a_received_day_of_late_events_only_gets_its_catalog_and_an_empty_event_day(pipeline: Pipeline) -> None:
    # On the 21st an offline phone delivers only events from the 18th, three days late but on time.
    later = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    pipeline.send(
        later,
        [track("l1", "ada", MORNING, properties={"project": "apollo"}), track("l2", "bob", MORNING)],
        sent_at=later,
    )
    pipeline.complete(date(2026, 11, 21))
    assert pipeline.run("raw_job", "2026-11-21").success
    assert launched(pipeline.follow_cascade()) == [
        ("clean_job", ("2026-11-17", "2026-11-19")),
        # No event of the 21st: its event day is built empty (not left missing), and no session around it.
        ("clean_job", ("2026-11-21", "2026-11-21")),
        ("catalog_job", ("2026-11-21", "2026-11-21")),
        ("report_job", ("2026-11-17", "2026-11-19")),
        ("report_job", ("2026-11-21", "2026-11-21")),
        # People from the first day changed through the last: the 20th, never built, had no one active.
        ("people_job", ("2026-11-17", "2026-11-21")),
        # Funnels only on the days whose events changed (no funnel is configured: no window reaches further).
        ("funnels_job", ("2026-11-17", "2026-11-19")),
        ("funnels_job", ("2026-11-21", "2026-11-21")),
    ]
    the_21st = dg.AssetRecordsFilter(asset_key=dg.AssetKey("events"), asset_partitions=["2026-11-21"])
    [built] = pipeline.instance.fetch_materializations(the_21st, limit=2).records
    assert built.asset_materialization is not None
    assert built.asset_materialization.metadata["dagster/row_count"].value == 0
    catalog = {
        (row["received_date"].isoformat(), row["event_name"], row["property"])
        for row in pipeline.report_rows()["event_catalog"]
    }
    assert catalog == {("2026-11-21", "Timer Started", "project")}
    assert pipeline.dau("2026-11-18") == 2


def test_the_schedule_builds_yesterdays_raw_day_after_midnight(pipeline: Pipeline) -> None:
    context = dg.build_schedule_context(
        instance=pipeline.instance, scheduled_execution_time=datetime(2026, 11, 21, 0, 15, tzinfo=UTC)
    )
    schedule = pipeline.definitions.resolve_schedule_def("raw_job_schedule")
    assert schedule.cron_schedule == "15 0 * * *"
    assert [request.partition_key for request in schedule.evaluate_tick(context).run_requests] == ["2026-11-20"]
    assert schedule.job_name == "raw_job"
