"""Segments' input: how each person used the product each day, by platform (events and sessions).

With the items of `transforms/recommendations.py` (which features a person uses), this is the behaviour profile
the segments cluster: how often a person comes, how much they do in a session, and on which platforms. People
are stitched and their ids storable, as there.
"""

from revolt_pipeline.transforms.engine import parquet
from revolt_pipeline.transforms.people import restitched_sql
from revolt_pipeline.transforms.people_reports import _id as storable_id

NO_ACTIVITY = (
    "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS event_date, NULL::VARCHAR AS platform, NULL::BIGINT AS events, "
    "NULL::BIGINT AS sessions WHERE false)"
)


def person_platform_days_query(event_files: list[str], person_map: str) -> str:
    """One row per person, day (UTC) and platform used that day: its events and the sessions they belong to."""
    if not event_files:
        return NO_ACTIVITY
    events = restitched_sql(parquet(event_files), person_map)
    return f"""
    SELECT {storable_id("person_id")} AS person_id, CAST(event_time AS DATE) AS event_date,
           coalesce(platform, 'unknown') AS platform, count(*) AS events, count(DISTINCT session_id) AS sessions
    FROM {events}
    WHERE person_id IS NOT NULL
    GROUP BY ALL
    ORDER BY person_id, event_date, platform
    """
