"""When cleaning succeeds, load the same days into the report tables."""

import dagster as dg

from revolt_pipeline.defs.cascade import partition_range_tags, run_partition_range
from revolt_pipeline.defs.jobs import clean_job, report_job


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[clean_job],
    request_job=report_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="After clean_job succeeds, run report_job over the same days.",
)
def reports_after_clean(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    run = context.dagster_run
    days = run_partition_range(run)
    if days is None:
        return dg.SkipReason(f"clean run {run.run_id} had no partitions")
    return dg.RunRequest(run_key=f"reports-after-{run.run_id}", tags=partition_range_tags(*days))
