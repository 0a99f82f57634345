"""When sessions change, or a snapshot finds people stitched into others, rebuild people through the last day.

A people snapshot reads the one before it, so a day changed reopens every later day already built: both
cascades run people_job from the first day affected through the latest day of `people` materialized.
"""

from collections.abc import Iterable
from datetime import date

import dagster as dg

from revolt_pipeline.defs.cascade import Cascade, cascade_sensor, materialized_partition
from revolt_pipeline.defs.jobs import PEOPLE_ASSETS, people_job
from revolt_pipeline.defs.people.assets import RESTITCHED_SINCE


def build_people_after_clean(partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """`people_after_clean`: people_job from the first day `sessions` was materialized for, through the last built."""
    return cascade_sensor(
        Cascade(
            name="people_after_clean",
            upstream="sessions",
            job=people_job.name,
            downstream=PEOPLE_ASSETS,
            days_affected=materialized_partition,
            description="When sessions days are materialized (by any job, backfill or the UI), run people_job from "
            "the first of them through the last day of people built: each snapshot reads the one before.",
            through_latest="people",
        ),
        partitions,
    )


def restitched_since(record: dg.EventLogRecord) -> Iterable[date]:
    """The day people a `people` snapshot found re-stitched were first seen, from its metadata (none if none)."""
    materialization = record.asset_materialization
    since = materialization.metadata.get(RESTITCHED_SINCE) if materialization is not None else None
    return [date.fromisoformat(since.value)] if since is not None else []


def build_people_after_restitch(partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    """`people_after_restitch`: people_job from the day people found re-stitched were first seen."""

    return cascade_sensor(
        Cascade(
            name="people_after_restitch",
            upstream="people",
            job=people_job.name,
            downstream=PEOPLE_ASSETS,
            days_affected=restitched_since,
            description="When a people snapshot finds people of earlier days now stitched into others (a late "
            "identify or alias), run people_job from the day they were first seen through the last day built.",
            through_latest="people",
        ),
        partitions,
    )
