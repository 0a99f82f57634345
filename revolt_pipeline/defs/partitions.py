"""The one daily partitioning every layer shares (UTC), so partition keys line up by construction.

Raw partitions are days events were received; cleaned and report partitions are days events
happened (sessions: the day they started). The first day is the setting REVOLT_PARTITIONS_START,
passed in by `build_definitions`.
"""

import dagster as dg


def daily_partitions(start: str) -> dg.DailyPartitionsDefinition:
    """Every day from `start` to yesterday (UTC): a day is a partition once it is over."""
    return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC", end_offset=0)
