"""The one daily partitioning every layer shares (UTC), so partition keys line up by construction.

Raw partitions are days events were received; cleaned and report partitions are days events
happened (sessions: the day they started). The first day comes from REVOLT_PARTITIONS_START.
"""

import dagster as dg

from revolt_pipeline.settings import Settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start, timezone="UTC", end_offset=0
)
