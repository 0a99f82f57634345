"""A Spark job that fails fails its asset's step, with the job's own error carried back through Pipes."""

import dagster as dg

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import SparkLayerRunner
from revolt_pipeline.defs.spark.resources import SubprocessSparkLauncher
from revolt_pipeline_tests.pipes.conftest import materialize_day


def test_a_job_that_cannot_open_the_store_fails_the_step_with_its_error() -> None:
    """The job opens the store before it starts Spark: it fails in a second, and its exception reaches the run."""
    instance = dg.DagsterInstance.ephemeral()
    runner = SparkLayerRunner(launcher=SubprocessSparkLauncher())
    lake = LakeResource(url="ftp://nowhere/lake")
    run = materialize_day(runner, lake, instance, ["events", "events_quarantine"], raise_on_error=False)

    assert not run.success
    [failure] = [event for event in run.all_events if event.is_step_failure]
    assert failure.step_failure_data.error.cause.cls_name == "DagsterPipesExecutionError"
    events = [record.dagster_event for record in instance.all_logs(run.run_id) if record.dagster_event]
    [closed] = [event for event in events if event.is_engine_event and "closed with exception" in (event.message or "")]
    assert "storage URL must start with file:// or s3://, got 'ftp://nowhere/lake'" in (
        closed.engine_event_data.error.message
    )
    assert not [event for event in run.all_events if event.is_step_materialization]
