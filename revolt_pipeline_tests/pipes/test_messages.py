"""What the Spark job and the assets exchange survives its trip as JSON, and the job refuses to run without Dagster.

Every step's day is built for real (DuckDB, through the same `build_step` the job calls) and sent through the
message's JSON: the result comes back as the layer library returned it, but for the job's local paths."""

import dataclasses
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.pipes import spark_job
from revolt_pipeline.pipes.messages import JobRequest, built_day_from_message, built_day_to_message
from revolt_pipeline.pipes.steps import STEPS, BuiltDay, build_step
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.funnels import Funnel, FunnelStep, PropertyFilter
from revolt_pipeline.transforms.pii import PiiRules
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.pipes.conftest import DAY, RULES

FUNNEL = Funnel(
    "timer",
    (
        FunnelStep(("track",), "Timer Started", "Timer Started", (PropertyFilter("project", ("x", 1, True)),)),
        FunnelStep(("screen",), "Timesheet", "Timesheet"),
    ),
    timedelta(hours=1),
    description="started a timer, then looked at the timesheet",
)
# The steps in the order the jobs build them, each for the days it builds here.
ORDER = ["raw_events", "events", "sessionized", "daily_aggregates", "people", "funnel_progress", "cohort_activity"]


def _trip(step: str, built: BuiltDay, local_root: str) -> BuiltDay:
    """Through JSON text, as Pipes carries a custom message."""
    return built_day_from_message(json.loads(json.dumps(built_day_to_message(step, built, local_root))))


def _without_local_paths(value: Any, root: str) -> Any:
    """`value` with every text naming a file under `root` empty: what the asset gets of a day the job built."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: _without_local_paths(getattr(value, f.name), root) for f in dataclasses.fields(value)}
        )
    if isinstance(value, dict):
        return {key: _without_local_paths(item, root) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_without_local_paths(item, root) for item in value)
    return "" if isinstance(value, str) and value.startswith(root) else value


@pytest.fixture(scope="module")
def every_step(raw_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[BuiltDay], str]]:
    """Each step's days built on DuckDB from a copy of the raw lake, with the folder their files are in."""
    folder = tmp_path_factory.mktemp("every-step")
    store = ObjectStore(Path(shutil.copytree(raw_lake, folder / "store")).as_uri())
    rules = dataclasses.replace(RULES, funnels=(FUNNEL,))
    built = {}
    for step in [*ORDER, "person_features"]:
        workdir = folder / step
        workdir.mkdir()
        days = [DAY, DAY + timedelta(days=1)] if step == "raw_events" else [DAY]
        built[step] = (list(build_step(step, store, duckdb_connection, days, rules, workdir, {})), str(workdir))
    return built


def test_a_request_travels_as_extras_with_its_rules() -> None:
    rules = PipelineRules(
        lateness=timedelta(days=2, hours=12),
        session_timeout=timedelta(minutes=45),
        funnels=(FUNNEL,),
        retention_start_event="Signup",
        pii=PiiRules(hash_keys=("email", "traits.phone"), drop_keys=("password",), salt="the-salt"),
    )
    request = JobRequest(
        "sessionized",
        [DAY, DAY + timedelta(days=1)],
        "s3://lake/store",
        rules,
        s3_endpoint_url="http://127.0.0.1:9000",
        previews={"sessions": ["person_id"]},
        spark_master="local[1]",
        spark_conf={"spark.sql.shuffle.partitions": "1"},
    )
    back = JobRequest.from_extras(json.loads(json.dumps(request.to_extras())))
    assert back == request
    # Cleaning hashes with the salt and the funnels are counted from their steps: neither may be lost on the way.
    assert back.rules.pii.salt == "the-salt" and back.rules.funnels[0].steps[0].where[0].values == ("x", 1, True)


def test_a_job_launched_without_a_request_says_where_it_comes_from() -> None:
    with pytest.raises(ValueError, match="lack step, days, storage_url, rules: launch this job from the Dagster"):
        JobRequest.from_extras({})
    with pytest.raises(ValueError, match="unknown step 'churn_model': one of raw_events, events"):
        JobRequest("churn_model", [DAY], "file:///lake", PipelineRules())


def test_every_step_that_builds_lake_days_is_built_here(every_step: dict[str, Any]) -> None:
    """What the round trip below is worth: every step of the list, each with rows."""
    assert set(every_step) == set(STEPS)
    for step, (days, _) in every_step.items():
        assert days, step
        assert all(summary.rows > 0 for summary in days[0].summaries.values()) or step == "events", step
    [funnel_day] = every_step["funnel_progress"][0]
    assert funnel_day.result.entered == {"timer": 1}
    assert [(check.name, check.passed) for check in funnel_day.checks] == [("funnel_progress_consistent", True)]
    [features] = every_step["person_features"][0]
    assert features.day == DAY and [check.name for check in features.checks] == ["one_row_per_person"]


def test_each_steps_day_comes_back_as_the_layer_library_returns_it(every_step: dict[str, Any]) -> None:
    for step, (days, workdir) in every_step.items():
        for built in days:
            back = _trip(step, built, workdir)
            assert type(back.result) is STEPS[step].result_type, step
            assert back.result == _without_local_paths(built.result, workdir), step
            assert (back.day, back.seconds, back.checks) == (built.day, built.seconds, built.checks), step
            assert back.summaries.keys() == built.summaries.keys(), step
            for name, summary in built.summaries.items():
                assert back.summaries[name].rows == summary.rows
                assert back.summaries[name].schema == summary.schema
                assert back.summaries[name].preview.equals(summary.preview)


def test_a_message_names_no_file_of_the_jobs_machine(every_step: dict[str, Any]) -> None:
    for step, (days, workdir) in every_step.items():
        assert workdir not in json.dumps(built_day_to_message(step, days[0], workdir)), step


def test_the_job_refuses_to_run_when_dagster_did_not_launch_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    assert spark_job.main(["spark_job.py", "--JOB_NAME", "revolt"]) == 2
    assert "found no Dagster Pipes parameters" in capsys.readouterr().err
