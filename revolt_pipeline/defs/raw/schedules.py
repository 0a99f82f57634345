"""Shortly after midnight UTC, build yesterday's raw partition (the latest complete received day)."""

import dagster as dg

from revolt_pipeline.defs.jobs import raw_job

raw_job_schedule = dg.build_schedule_from_partitioned_job(
    raw_job,
    name="raw_job_schedule",
    hour_of_day=0,
    minute_of_hour=15,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Yesterday's raw_events at 00:15 UTC; collectors' watermarks have passed midnight by then.",
)
