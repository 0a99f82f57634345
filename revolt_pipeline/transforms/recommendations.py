"""Recommendations' input: who used which item (a path step: `screen: Timesheet`, `track: Invoice Sent`) on which day.

Items are named as paths name steps (`transforms/paths.py`: identify, alias and group are none), and bound for
the report database's `item` column as paths bind `step`. People are stitched `person_id`s, re-mapped through
every identity link known when the model is built (as funnels and retention do), in the report tables' form of
an id (a NUL made storable, `transforms/people_reports.py`).
"""

from revolt_pipeline.transforms.engine import parquet
from revolt_pipeline.transforms.paths import step_sql
from revolt_pipeline.transforms.people import restitched_sql
from revolt_pipeline.transforms.people_reports import _id as storable_id
from revolt_pipeline.transforms.report_text import ReportText

ITEM = ReportText("item", "item")
NO_INTERACTIONS = (
    "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS event_date, NULL::VARCHAR AS item, NULL::BIGINT AS events "
    "WHERE false)"
)


def person_item_days_query(event_files: list[str], person_map: str) -> str:
    """One row per person, day (UTC) and item used that day, with its number of events, from sessionized events."""
    if not event_files:
        return NO_INTERACTIONS
    events = restitched_sql(parquet(event_files), person_map)
    return f"""
    SELECT {storable_id("person_id")} AS person_id, event_date, {ITEM.sql} AS item, count(*) AS events
    FROM (SELECT person_id, CAST(event_time AS DATE) AS event_date, {step_sql()} AS item FROM {events})
    WHERE item IS NOT NULL AND person_id IS NOT NULL
    GROUP BY ALL
    ORDER BY person_id, event_date, item
    """
