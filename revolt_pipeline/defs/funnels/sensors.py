"""When sessions change, rebuild the funnel days whose windows read them; when people are re-stitched, every
funnel day from when they were first seen."""

from collections.abc import Iterable
from datetime import date

import dagster as dg

from revolt_pipeline.defs.cascade import Cascade, cascade_sensor, materialized_partition
from revolt_pipeline.defs.jobs import FUNNEL_ASSETS, funnels_job
from revolt_pipeline.defs.people.sensors import restitched_since
from revolt_pipeline.transforms.rules import PipelineRules


def build_funnels_after_clean(partitions: dg.PartitionsDefinition, rules: PipelineRules) -> dg.SensorDefinition:
    """`funnels_after_clean`: funnels_job over the days sessionized_events changed and the days before whose
    conversion windows reach them (`PipelineRules.funnel_days_to_rebuild`)."""

    def days_affected(record: dg.EventLogRecord) -> Iterable[date]:
        return rules.funnel_days_to_rebuild(set(materialized_partition(record)))

    return cascade_sensor(
        Cascade(
            name="funnels_after_clean",
            upstream="sessionized_events",
            job=funnels_job.name,
            downstream=FUNNEL_ASSETS,
            days_affected=days_affected,
            description="When sessionized_events days are materialized (by any job, backfill or the UI), run "
            "funnels_job over them and the days before whose funnels' conversion windows reach them.",
        ),
        partitions,
    )


def build_funnels_after_restitch(partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """`funnels_after_restitch`: funnels_job from the day people found re-stitched were first seen."""

    return cascade_sensor(
        Cascade(
            name="funnels_after_restitch",
            upstream="people",
            job=funnels_job.name,
            downstream=FUNNEL_ASSETS,
            days_affected=restitched_since,
            description="When a people snapshot finds people of earlier days now stitched into others (a late "
            "identify or alias), run funnels_job from the day they were first seen through the last funnel day "
            "built: their attempts there become one person's.",
            through_latest="funnel_progress",
        ),
        partitions,
    )
