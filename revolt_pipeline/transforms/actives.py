"""Active users of a day: DAU, WAU (7 days), MAU (a configurable window, 30 days by default), stickiness, new users.

Exact distinct counts over the person days of a fixed window of days ending on the day (`D-29 … D` for
MAU): one day reads the same number of person days whatever the history, so its cost never grows with it.
People are re-stitched through the person map (`people.stitch_people`) as the person days are read, so a
person identified after an anonymous visit counts once in every window built after the link is known.

Three tables, one grain each, so a BI tool's SUM never adds totals to breakdowns:
- totals: one row per day;
- by platform: one row per day and platform the people were active on (a person active on two platforms
  counts in both: rows of a day do not add up to the total);
- by app version: one row per day and app version, likewise.
New users are people first seen on the day (`people.first_seen`); in a breakdown, those of them active on
that platform or app version that day.
"""

from datetime import date

from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.people import restitched_sql
from revolt_pipeline.transforms.report_text import ReportText
from revolt_pipeline.transforms.rules import DayWindow

WAU_DAYS = 7
# Breakdown -> the list column of person_days it unnests. No row of these tables is a total, so no value is reserved.
ACTIVES_BREAKDOWNS = {"platform": "platforms", "app_version": "app_versions"}


def _window(person_days: dict[date, str], person_map: str, column: str | None) -> str:
    """Person days of the window: (day, person, dimension value) with the person re-stitched."""
    parts = []
    for day, path in sorted(person_days.items()):
        value = f", unnest({column}) AS value" if column else ""
        parts.append(f"SELECT DATE {sql_string(day.isoformat())} AS day, person_id{value} FROM {parquet(path)}")
    union = " UNION ALL ".join(parts)
    return restitched_sql(f"({union})", person_map)


def active_users_query(
    person_days: dict[date, str], people_file: str, day: date, window: DayWindow, person_map: str, breakdown: str | None
) -> str:
    """The actives of `day` from the person days of `window` (MAU's, which holds WAU's and DAU's days).

    `breakdown` None gives the totals, else a key of ACTIVES_BREAKDOWNS. Days of the window before the
    first day built are simply absent from `person_days`.
    """
    day_sql = f"DATE {sql_string(day.isoformat())}"
    if day not in person_days:
        raise ValueError(f"the person days of {day} are needed for its active users")
    if breakdown is None:
        source, value, group, select = _window(person_days, person_map, None), "", "", ""
    else:
        source = _window(person_days, person_map, ACTIVES_BREAKDOWNS[breakdown])
        # The rule of every report column: values made to fit it (person days say 'unknown' for missing ones).
        safe = ReportText(breakdown, "value").sql
        value, group, select = f", {safe} AS {breakdown}", f"GROUP BY {breakdown}", f"{breakdown}, "
    wau_from = f"{day_sql} - INTERVAL {WAU_DAYS - 1} DAY"
    mau_from = f"{day_sql} - INTERVAL {window.before} DAY"
    new_people = f"(SELECT person_id FROM {parquet(people_file)} WHERE first_seen = {day_sql})"
    return f"""
    WITH rows AS (SELECT day, person_id{value} FROM {source} WHERE day BETWEEN {mau_from} AND {day_sql})
    SELECT {day_sql} AS event_date, {select}
           count(DISTINCT person_id) FILTER (WHERE day = {day_sql}) AS dau,
           count(DISTINCT person_id) FILTER (WHERE day >= {wau_from}) AS wau,
           count(DISTINCT person_id) AS mau,
           coalesce(count(DISTINCT person_id) FILTER (WHERE day = {day_sql})
                    / nullif(count(DISTINCT person_id), 0), 0.0) AS stickiness,
           count(DISTINCT person_id) FILTER (WHERE day = {day_sql} AND person_id IN {new_people}) AS new_users
    FROM rows
    {group}
    ORDER BY ALL
    """
