"""When raw days are materialized, rebuild every event day they touched (late events reopen older days),
and their own (`PipelineRules.days_to_clean`); when the people layer finds a cleaned day's events stitched to
another person now (a late identify or alias), clean that day again (`PipelineRules.days_to_rebuild`)."""

from collections.abc import Iterable
from datetime import date

import dagster as dg

from revolt_pipeline.defs.cascade import Cascade, cascade_sensor, materialized_partition
from revolt_pipeline.defs.jobs import CLEANED_ASSETS, clean_job
from revolt_pipeline.defs.people.assets import RESTITCHED_EVENTS
from revolt_pipeline.defs.raw.assets import EVENT_DATES
from revolt_pipeline.transforms.rules import PipelineRules


def build_clean_after_raw(partitions: dg.PartitionsDefinition, rules: PipelineRules) -> dg.SensorDefinition:
    """`clean_after_raw`: clean_job over the event days raw days touched, and the days whose sessions read them."""

    def days_affected(record: dg.EventLogRecord) -> Iterable[date]:
        materialization = record.asset_materialization
        touched = materialization.metadata.get(EVENT_DATES) if materialization is not None else None
        if touched is None:
            return []
        return rules.days_to_clean(set(materialized_partition(record)), {date.fromisoformat(d) for d in touched.value})

    return cascade_sensor(
        Cascade(
            name="clean_after_raw",
            upstream="raw_events",
            job=clean_job.name,
            downstream=CLEANED_ASSETS,
            days_affected=days_affected,
            description="When raw_events days are materialized (by any job, backfill or the UI), run clean_job over "
            "the event days their rows belong to, with the days whose sessions read them, and the raw days' own.",
        ),
        partitions,
    )


def build_clean_after_restitch(partitions: dg.PartitionsDefinition, rules: PipelineRules) -> dg.SensorDefinition:
    """`clean_after_restitch`: clean_job over the event days whose cleaned events the identity links now stitch to
    another person (`restitched_events` of `person_days`), and the days whose sessions read them.

    Cleaning stitches with the links it knows when it runs: a late identify leaves the anonymous `person_id` in the
    days cleaned before, so their sessions and aggregates (`daily_active_users`) count one person under two ids,
    while the people layer, which re-maps through every link, counts one. `people_after_restitch` rebuilds the
    person days from the re-stitched people's first day on, each counting the events it finds stitched otherwise;
    cleaning those days again makes both layers agree (and the cascade follows: reports, people, funnels).
    """

    def days_affected(record: dg.EventLogRecord) -> Iterable[date]:
        materialization = record.asset_materialization
        restitched = materialization.metadata.get(RESTITCHED_EVENTS) if materialization is not None else None
        if restitched is None or not restitched.value:
            return []
        return rules.days_to_rebuild(set(materialized_partition(record)))

    return cascade_sensor(
        Cascade(
            name="clean_after_restitch",
            upstream="person_days",
            job=clean_job.name,
            downstream=CLEANED_ASSETS,
            days_affected=days_affected,
            description="When a person_days day finds cleaned events that the identity links now stitch to another "
            "person (a late identify or alias), run clean_job over that day and the days whose sessions read it, "
            "so the cleaned layer and its aggregates count that person once, as the people layer does.",
        ),
        partitions,
    )
