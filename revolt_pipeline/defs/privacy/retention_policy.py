"""`retention_policy_job` and `retention_policy_schedule`: every day, the landing objects and raw days received more
than REVOLT_RAW_RETENTION_DAYS days ago are deleted (`layers/retention_policy.py`; docs/privacy.md, Retention policy).

A job of one op rather than an asset: it builds nothing, and its runs say what each deleted, per layer and day. The
privacy audit table of deletion requests is not written: the run's metadata is the record.
"""

from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import dagster as dg

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.layers.retention_policy import RetentionRun, apply_retention_policy, check_retention_days
from revolt_pipeline.transforms.rules import PipelineRules

# 03:30 UTC: after raw_job (00:15) and the cascade it starts, so that a day is never deleted while read.
RETENTION_POLICY_CRON = "30 3 * * *"


def build_retention_policy(days: int, rules: PipelineRules) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The job deleting what expired under a limit of `days` (0: keep forever; the schedule then starts stopped),
    refusing at load a limit shorter than what `rules` still read."""
    check_retention_days(days, rules)

    class RetentionPolicyConfig(dg.Config):
        """The day (UTC, YYYY-MM-DD) the limit counts back from; empty: today. The schedule passes its own."""

        today: str = ""

    @dg.op(
        name="delete_expired_data",
        description=f"Delete landing objects and raw days received more than {days} days ago "
        "(REVOLT_RAW_RETENTION_DAYS; 0 keeps everything), keeping identity links and profiles.",
        tags={"kind": "privacy"},
    )
    def delete_expired_data(
        context: dg.OpExecutionContext, config: RetentionPolicyConfig, lake: LakeResource
    ) -> dg.Output[None]:
        today = date.fromisoformat(config.today) if config.today else datetime.now(UTC).date()
        work = partial(apply_retention_policy, lake.store, today, days, rules)
        run = lake.retrying(context, "applying the retention policy", work)
        metadata = _metadata(run, days)
        context.log.info(
            f"retention policy ({days} days, received before {run.cutoff}): {run.deleted_objects} objects deleted"
        )
        if run.unbuilt:
            raise dg.Failure(
                description=f"landed days older than the limit were never built into raw_events, so were kept: "
                f"{', '.join(run.unbuilt)}. Build them (raw_job), or delete them from landing/ by hand; everything "
                "else that expired was deleted.",
                metadata=metadata,
            )
        return dg.Output(None, metadata=metadata)

    @dg.job(
        name="retention_policy_job",
        description="Delete the landing objects and raw Parquet received more than REVOLT_RAW_RETENTION_DAYS days ago "
        "(docs/privacy.md, Retention policy).",
    )
    def retention_policy_job() -> None:
        delete_expired_data()

    @dg.schedule(
        name="retention_policy_schedule",
        job=retention_policy_job,
        cron_schedule=RETENTION_POLICY_CRON,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING if days else dg.DefaultScheduleStatus.STOPPED,
        description="Every day at 03:30 UTC, retention_policy_job for that day.",
    )
    def retention_policy_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        today = context.scheduled_execution_time.date().isoformat()
        return dg.RunRequest(
            run_key=f"retention_policy_{today}",
            run_config={"ops": {"delete_expired_data": {"config": {"today": today}}}},
        )

    return retention_policy_job, retention_policy_schedule


def _metadata(run: RetentionRun, days: int) -> dict[str, Any]:
    return {
        "retention_days": days,
        "expired_before": run.cutoff.isoformat(),
        "deleted_objects": run.deleted_objects,
        "deleted": dg.MetadataValue.json(
            {"landing": run.landing, "quarantine": run.quarantine, "raw_events": run.raw_events}
        ),
        "kept_unbuilt_landing_days": dg.MetadataValue.json(run.unbuilt),
    }
