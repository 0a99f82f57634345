"""Active users of a day: DAU, WAU (7 days), MAU (a configurable window, 30 days by default), stickiness, new users.

Exact distinct counts over the person days of a fixed window of days ending on the day (`D-29 … D` for
MAU): one day reads the same number of person days whatever the history, so its cost never grows with it.
People are re-stitched through the person map (`people.stitch_people`) as the person days are read, so a
person identified after an anonymous visit counts once in every window built after the link is known.

Tables of one grain each like the aggregates' (`aggregates.GRAINS` and `DIMENSION_GRAINS`), so a BI tool's
SUM never adds totals to breakdowns:
- totals: one row per day;
- by platform: one row per day and platform people were active on in the window (a person active on two
  platforms counts in both: rows of a day do not add up to the total);
- by app version: one row per day, platform and app version, likewise;
- by OS, device type, country, locale, source and SDK library: one row per day and value, likewise. Each
  person day lists the values the person was active with (`people.DIMENSION_LISTS`).
New users are people first seen on the day (`people.first_seen`); in a breakdown, those of them active on
that platform or app version that day.
"""

from datetime import date

import duckdb

from revolt_pipeline.transforms.aggregates import DIMENSION_TEXT, Grain
from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.people import DIMENSION_LISTS, restitched_sql, with_later_dimension_lists
from revolt_pipeline.transforms.rules import DayWindow

WAU_DAYS = 7
# The rule of every report column, as the aggregates apply it: missing is 'unknown', values made to fit.
_SAFE = {name: text.sql for name, text in DIMENSION_TEXT.items()}
# The person days' list of each grain's dimensions.
_LIST_OF = {dimensions: column for column, dimensions in DIMENSION_LISTS.items()}


def stage_window(
    connection: duckdb.DuckDBPyConnection, person_days: dict[date, str], day: date, person_map: str
) -> str:
    """The person days of `day`'s window (`person_days`, which must hold the day's), the person re-stitched,
    with every list a breakdown unnests, as a temporary table (its name) that every grain's query reads.

    Reading and re-stitching the window once per day, not once per table, keeps the day's cost that of one
    pass over its window however many breakdowns there are."""
    if day not in person_days:
        raise ValueError(f"the person days of {day} are needed for its active users")
    lists = ", ".join(DIMENSION_LISTS)
    parts = [
        f"SELECT DATE {sql_string(d.isoformat())} AS day, person_id, {lists} "
        f"FROM {with_later_dimension_lists(parquet(path))}"
        for d, path in sorted(person_days.items())
    ]
    rows = restitched_sql(f"({' UNION ALL '.join(parts)})", person_map)
    connection.execute(f"CREATE OR REPLACE TEMP TABLE actives_window AS {rows}")
    return "actives_window"


def _grain_rows(window: str, grain: Grain) -> str:
    """The window's rows at `grain`: (day, person, the grain's dimensions).

    A person day lists the values of each breakdown the person was active with (platforms, platform and app
    version pairs, countries, ...): a breakdown unnests them, so a person active on two platforms is a row
    of each."""
    if not grain.dimensions:
        return f"(SELECT day, person_id FROM {window})"
    if len(grain.dimensions) == 1:
        unnest, columns = f"unnest({_LIST_OF[grain.dimensions]}) AS {grain.dimensions[0]}", f", {grain.dimensions[0]}"
    else:
        unnest = f"unnest({_LIST_OF[grain.dimensions]}) AS pair"
        columns = "".join(f", pair.{name}" for name in grain.dimensions)
    return f"(SELECT day, person_id{columns} FROM (SELECT day, person_id, {unnest} FROM {window}))"


def active_users_query(window_rows: str, people_file: str, day: date, window: DayWindow, grain: Grain) -> str:
    """The actives of `day` at `grain` from `window_rows` (`stage_window`'s table: the person days of
    `window`, MAU's, which holds WAU's and DAU's days; days before the first day built are simply absent)."""
    day_sql = f"DATE {sql_string(day.isoformat())}"
    dimensions = "".join(f", {_SAFE[name]} AS {name}" for name in grain.dimensions)
    select = "".join(f"{name}, " for name in grain.dimensions)
    group = f"GROUP BY {', '.join(grain.dimensions)}" if grain.dimensions else ""
    wau_from = f"{day_sql} - INTERVAL {WAU_DAYS - 1} DAY"
    mau_from = f"{day_sql} - INTERVAL {window.before} DAY"
    new_people = f"(SELECT person_id FROM {parquet(people_file)} WHERE first_seen = {day_sql})"
    return f"""
    WITH rows AS (
        SELECT day, person_id{dimensions} FROM {_grain_rows(window_rows, grain)}
        WHERE day BETWEEN {mau_from} AND {day_sql}
    )
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
