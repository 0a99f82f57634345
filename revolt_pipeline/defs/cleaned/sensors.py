"""When raw days are materialized, rebuild every event day they touched (late events reopen older days),
and their own (`PipelineRules.days_to_clean`)."""

from collections.abc import Iterable
from datetime import date

import dagster as dg

from revolt_pipeline.defs.cascade import Cascade, cascade_sensor, materialized_partition
from revolt_pipeline.defs.jobs import CLEANED_ASSETS, clean_job
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
