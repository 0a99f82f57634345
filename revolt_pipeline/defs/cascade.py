"""What a finished run means for the next layer: which days to rebuild, as one partition range.

Shared by the sensors and by `revolt demo`, so the demo cascades exactly as production does.
"""

from collections.abc import Iterable
from datetime import date, timedelta

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from revolt_pipeline.defs.partitions import daily_partitions


def run_partition_range(run: dg.DagsterRun) -> tuple[str, str] | None:
    """The first and last partition a run covered, from its tags (one partition or a range)."""
    tags = run.tags
    if PARTITION_NAME_TAG in tags:
        return tags[PARTITION_NAME_TAG], tags[PARTITION_NAME_TAG]
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        return tags[ASSET_PARTITION_RANGE_START_TAG], tags[ASSET_PARTITION_RANGE_END_TAG]
    return None


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    if first == last:
        return {PARTITION_NAME_TAG: first}
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def touched_event_dates(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    """Event days a raw run's rows belong to, as recorded in its raw_events materialization."""
    touched: set[str] = set()
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        if materialization is None or materialization.asset_key != dg.AssetKey("raw_events"):
            continue
        value = materialization.metadata.get("event_dates")
        if value is not None:
            touched.update(value.value)
    return touched


def rebuild_range(event_dates: Iterable[str]) -> tuple[str, str] | None:
    """The days to rebuild for changed event days: one day more on each side, since a session can
    start the day before or end the day after. Clipped to the days that exist as partitions."""
    days = sorted(date.fromisoformat(day) for day in event_dates)
    if not days:
        return None
    keys = daily_partitions.get_partition_keys()
    if not keys:
        return None
    first = max(days[0] - timedelta(days=1), date.fromisoformat(keys[0]))
    last = min(days[-1] + timedelta(days=1), date.fromisoformat(keys[-1]))
    if first > last:
        return None
    return first.isoformat(), last.isoformat()
