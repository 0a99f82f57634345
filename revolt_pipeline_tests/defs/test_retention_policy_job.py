"""`retention_policy_job` deletes what expired and says what, per layer and day; its schedule runs it daily for its
day; a limit shorter than what the pipeline reads stops the code location loading."""

import gzip
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import orjson
import pytest

from revolt_pipeline.definitions import build_definitions
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage.layout import LANDING, landed_object_key, raw_events_key
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import at, landed

BUILT = [date(2026, 11, 2), date(2026, 11, 5)]
TODAY = "2026-11-10"  # with 6 days, received before the 4th expires


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
    monkeypatch.setenv("REVOLT_ADMIN_TOKEN", "token")
    monkeypatch.setenv("REVOLT_RAW_RETENTION_DAYS", "6")
    return Settings.from_env()


def land(settings: Settings, day: date) -> None:
    received = at(f"{day} 10:00")
    record = orjson.dumps(landed(f"m-{day}", received)) + b"\n"
    settings.store.put(landed_object_key(LANDING, received, "c1", "000001"), gzip.compress(record))


def run_policy(definitions: dg.Definitions) -> dg.ExecuteInProcessResult:
    job = definitions.resolve_job_def("retention_policy_job")
    config = {"ops": {"delete_expired_data": {"config": {"today": TODAY}}}}
    return job.execute_in_process(run_config=config, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def step_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    for event in result.all_events:
        if event.event_type_value == "STEP_OUTPUT":
            return {key: value.value for key, value in event.event_specific_data.metadata.items()}
        if event.event_type_value == "STEP_FAILURE":
            failure = event.event_specific_data.user_failure_data
            return {key: value.value for key, value in failure.metadata.items()}
    raise AssertionError("the op neither output nor failed")


def test_the_job_deletes_what_expired_and_says_what_per_layer_and_day(settings: Settings, tmp_path: Path) -> None:
    for day in BUILT:
        land(settings, day)
    DayBuilder(settings.store, PipelineRules(), tmp_path).raw_days(BUILT)
    definitions = build_definitions(settings)

    result = run_policy(definitions)
    assert result.success
    metadata = step_metadata(result)
    assert metadata["deleted"] == {"landing": {"2026-11-02": 1}, "quarantine": {}, "raw_events": ["2026-11-02"]}
    assert (metadata["expired_before"], metadata["deleted_objects"], metadata["retention_days"]) == ("2026-11-04", 2, 6)
    assert not settings.store.exists(raw_events_key(BUILT[0])) and settings.store.exists(raw_events_key(BUILT[1]))

    # A landed day the pipeline never built is kept, and the run fails saying so.
    land(settings, date(2026, 11, 1))
    failed = run_policy(definitions)
    assert not failed.success
    assert step_metadata(failed)["kept_unbuilt_landing_days"] == ["2026-11-01"]


def test_the_schedule_runs_the_job_daily_for_its_day_and_starts_stopped_when_everything_is_kept(
    settings: Settings,
) -> None:
    schedule = build_definitions(settings).resolve_schedule_def("retention_policy_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 3 * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 10, 3, 30, tzinfo=UTC))
    (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.run_config == {"ops": {"delete_expired_data": {"config": {"today": TODAY}}}}
    assert request.run_key == f"retention_policy_{TODAY}"

    kept = build_definitions(replace(settings, raw_retention_days=0)).resolve_schedule_def("retention_policy_schedule")
    assert kept.default_status == dg.DefaultScheduleStatus.STOPPED


def test_a_limit_shorter_than_what_the_pipeline_reads_stops_the_definitions_loading(settings: Settings) -> None:
    with pytest.raises(ValueError, match="at least 6 days"):
        build_definitions(replace(settings, raw_retention_days=5))
    with pytest.raises(ValueError, match="at least 13 days"):
        build_definitions(replace(settings, raw_retention_days=7, lateness_days=10))
