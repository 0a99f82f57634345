"""What the Spark job and the assets exchange survives its trip as JSON, and the job refuses to run without Dagster."""

import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.layers.cleaned import AggregateDay, CleanDay, SessionDay
from revolt_pipeline.pipes import spark_job
from revolt_pipeline.pipes.messages import (
    BuiltDay,
    JobRequest,
    built_day_from_message,
    built_day_to_message,
    summarize_day,
)
from revolt_pipeline.transforms.paths import PathBalance
from revolt_pipeline.transforms.rules import PipelineRules

DAY = date(2026, 11, 20)


def _parquet(folder: Path, name: str) -> str:
    path = str(folder / f"{name}.parquet")
    rows = pa.table({"message_id": ["m1", "m2", "m3"], "event_name": ["A", None, "C"], "n": [1, 2, 3]})
    pq.write_table(rows, path)
    return path


def _trip(step: str, built: BuiltDay) -> BuiltDay:
    """Through JSON text, as Pipes carries a custom message."""
    return built_day_from_message(json.loads(json.dumps(built_day_to_message(step, built))))


def test_a_request_travels_as_extras_with_its_rules() -> None:
    rules = PipelineRules(
        lateness=timedelta(days=2, hours=12), session_timeout=timedelta(minutes=45), retention_start_event="Signup"
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
    assert JobRequest.from_extras(json.loads(json.dumps(request.to_extras()))) == request


def test_a_job_launched_without_a_request_says_where_it_comes_from() -> None:
    with pytest.raises(ValueError, match="lack step, days, storage_url, rules: launch this job from the Dagster"):
        JobRequest.from_extras({})
    with pytest.raises(ValueError, match="unknown step 'raw'"):
        JobRequest("raw", [DAY], "file:///lake", PipelineRules())


def test_each_steps_day_comes_back_as_the_layer_library_returns_it(tmp_path: Path) -> None:
    cleaned = CleanDay(
        DAY, 5, 3, 3, {"person_id": 0}, {"duplicate": 2}, _parquet(tmp_path, "e"), _parquet(tmp_path, "q")
    )
    sessions = SessionDay(DAY, 3, 3, 0, 2, 0, _parquet(tmp_path, "se"), _parquet(tmp_path, "s"))
    balance = PathBalance("path_steps", 2, 2, 2, 3, 1, [], ["Home: 2 != 1"])
    aggregates = AggregateDay(DAY, {"daily_active_users": _parquet(tmp_path, "dau")}, {"event_name": 1}, [balance])
    previews = {"events": ["message_id", "event_name"]}
    for step, result in (("events", cleaned), ("sessionized", sessions), ("daily_aggregates", aggregates)):
        built = BuiltDay(result, summarize_day(result, previews), {"step": 1.5})
        back = _trip(step, built)
        assert back.seconds == {"step": 1.5}
        assert back.summaries.keys() == built.summaries.keys()
        for name, summary in built.summaries.items():
            assert back.summaries[name].rows == summary.rows == 3
            assert back.summaries[name].schema == summary.schema
            assert back.summaries[name].preview.equals(summary.preview)
        # Everything but the job's local paths, which mean nothing where the asset runs.
        local = {"events_path", "quarantine_path", "sessions_path"}
        assert {k: v for k, v in vars(back.result).items() if k not in local | {"outputs"}} == {
            k: v for k, v in vars(result).items() if k not in local | {"outputs"}
        }
    assert back.result.outputs == {"daily_active_users": ""}
    assert built.summaries["daily_active_users"].preview.column_names == ["message_id", "event_name", "n"]
    assert _trip("events", BuiltDay(cleaned, summarize_day(cleaned, previews))).summaries[
        "events"
    ].preview.column_names == ["message_id", "event_name"]


def test_the_job_refuses_to_run_when_dagster_did_not_launch_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    assert spark_job.main(["spark_job.py", "--JOB_NAME", "revolt"]) == 2
    assert "found no Dagster Pipes parameters" in capsys.readouterr().err
