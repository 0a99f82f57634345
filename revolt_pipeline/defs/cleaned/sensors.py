"""When a raw day succeeds, rebuild every event day it touched (late events reopen older days).

A run status sensor rather than an asset sensor: an asset sensor sees only the latest
materialization when several land between ticks (dagster issue 32853), and a run status sensor on
SUCCESS launches nothing after a failure. The run key is the raw run's id, so a tick evaluated again
never launches the same work twice.
"""

import dagster as dg

from revolt_pipeline.defs.cascade import partition_range_tags, rebuild_range, touched_event_dates
from revolt_pipeline.defs.jobs import clean_job, raw_job


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[raw_job],
    request_job=clean_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="After raw_job succeeds, run clean_job over the event days the raw days touched.",
)
def clean_after_raw(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    run = context.dagster_run
    touched = touched_event_dates(context.instance, run.run_id)
    days = rebuild_range(touched)
    if days is None:
        return dg.SkipReason(f"raw run {run.run_id} touched no event day inside the partitions")
    return dg.RunRequest(run_key=f"clean-after-{run.run_id}", tags=partition_range_tags(*days))
