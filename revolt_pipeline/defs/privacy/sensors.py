"""When a deletion request is recorded, run `privacy_job`; when a deletion changed days, rebuild them.

`privacy_after_request` polls the report database's `privacy_requests` for requests to carry out (new ones, and
those a crash or an error cut short, up to `AUTOMATIC_ATTEMPTS` runs each), and launches nothing while another run is
queued or running: the erasure rewrites every layer, and a run writing a day meanwhile could
put the person back (the check `nothing_remains` would then fail, and a re-run finish the job).
`clean_after_deletion` is a `Cascade` (defs/cascade.py): clean_job over the event days the erasure changed, and
the days whose sessions read them; the cascade then reloads the report tables and rebuilds people (their
rolling windows through the latest day), funnels and retention from there. `catalog_after_deletion` loads the
property catalog of the received days whose raw profiles the erasure counted again.
"""

from collections.abc import Iterable
from datetime import date

import dagster as dg

from revolt_pipeline.defs.cascade import IN_PROGRESS, Cascade, cascade_sensor
from revolt_pipeline.defs.jobs import CLEANED_ASSETS, catalog_job, clean_job, privacy_job
from revolt_pipeline.defs.privacy.assets import EVENT_DAYS, PRIVACY_DELETIONS, RECEIVED_DAYS
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.layers.deletion import AUTOMATIC_ATTEMPTS, requests_to_carry_out
from revolt_pipeline.retrying import RetriesExhausted
from revolt_pipeline.transforms.rules import PipelineRules

POLL_SECONDS = 30


def build_privacy_after_request() -> dg.SensorDefinition:
    """`privacy_after_request`: privacy_job once per set of requests to carry out, when no other run is going."""

    @dg.sensor(
        name="privacy_after_request",
        job_name=privacy_job.name,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=POLL_SECONDS,
        description="When deletion requests are pending in privacy_requests (`revolt privacy delete`), or one was "
        f"cut short fewer than {AUTOMATIC_ATTEMPTS} times, run privacy_job, once no other run is queued or running.",
    )
    def privacy_after_request(
        context: dg.SensorEvaluationContext, reports: ReportDatabaseResource
    ) -> dg.RunRequest | dg.SkipReason:
        try:
            waiting = requests_to_carry_out(reports.engine)
        except dg.Failure as exc:  # the report database cannot be opened: the resource says why
            return dg.SkipReason(f"cannot read the deletion requests: {exc.description}")
        except RetriesExhausted as exc:
            return dg.SkipReason(f"cannot read the deletion requests: {exc}")
        if not waiting:
            return dg.SkipReason("no deletion request to carry out")
        going = context.instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS), limit=1)
        if going:
            return dg.SkipReason(
                f"{len(waiting)} deletion requests wait for run {going[0].run_id} ({going[0].job_name}) to finish"
            )
        # Each request's attempts in the key: a request cut short is launched again once per attempt.
        attempts = ",".join(f"{request_id}:{tried}" for request_id, tried in waiting)
        return dg.RunRequest(run_key=f"privacy_after_request:{attempts}", job_name=privacy_job.name)

    return privacy_after_request


def build_clean_after_deletion(partitions: dg.PartitionsDefinition, rules: PipelineRules) -> dg.SensorDefinition:
    """`clean_after_deletion`: clean_job over the event days a deletion changed, and the days whose sessions read
    them, so the aggregates no longer count the person (the cascade follows: reports, people, funnels)."""

    def days_affected(record: dg.EventLogRecord) -> Iterable[date]:
        materialization = record.asset_materialization
        changed = materialization.metadata.get(EVENT_DAYS) if materialization is not None else None
        if changed is None or not changed.value:
            return []
        return rules.days_to_rebuild({date.fromisoformat(day) for day in changed.value})

    return cascade_sensor(
        Cascade(
            name="clean_after_deletion",
            upstream=PRIVACY_DELETIONS,
            job=clean_job.name,
            downstream=CLEANED_ASSETS,
            days_affected=days_affected,
            description="When privacy_deletions erased a person, run clean_job over the event days it changed and "
            "the days whose sessions read them: the aggregates are counted again without the person, and the "
            "cascade reloads the report tables and rebuilds people, funnels and retention from there.",
        ),
        partitions,
    )


def build_catalog_after_deletion(partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """`catalog_after_deletion`: catalog_job over the received days whose raw profiles a deletion counted again."""

    def days_affected(record: dg.EventLogRecord) -> Iterable[date]:
        materialization = record.asset_materialization
        recounted = materialization.metadata.get(RECEIVED_DAYS) if materialization is not None else None
        return [date.fromisoformat(day) for day in recounted.value] if recounted is not None else []

    return cascade_sensor(
        Cascade(
            name="catalog_after_deletion",
            upstream=PRIVACY_DELETIONS,
            job=catalog_job.name,
            downstream=("event_catalog",),
            days_affected=days_affected,
            description="When privacy_deletions erased a person, run catalog_job over the received days whose raw "
            "profiles it counted again, so event_catalog no longer counts the person's events.",
        ),
        partitions,
    )
