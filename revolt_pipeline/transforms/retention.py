"""Lifecycle and retention of stitched people, per day and per ISO week (Monday to Sunday), built incrementally.

Lifecycle of a period (a day, or an ISO week as of its last day built) sorts the people active in it, or in the
period before, into four states that never overlap:
- new: active in the period and first seen in it;
- returning: active in the period and in the previous one;
- resurrecting: active in the period, not in the previous one, first seen before the period;
- dormant: active in the previous period, not in this one.
So new + returning + resurrecting = the period's active people, and returning + dormant = the previous period's.
Lifecycle reads the person days of the period and the one before, and the people snapshot (first seen).

Retention follows cohorts: the people whose start falls on a day (periods: days 0..30 after it) or in an ISO
week (periods: weeks 0..12). `retained` counts those active in exactly period N, `retained_or_later` those
active in period N or any later period of the horizon (day 30, week 12), as of the last day built. Two
definitions: `first_seen` (start: first seen; return: any activity) and, when configured, `anchored` (start:
the first day the person sent the start event; return: a day they sent the return event, on the start day
too; either event unset means first seen, or any activity).

Cost independent of history: `cohort_activity` of day D is the one of D-1 (re-stitched) merged with the day's
person days (and, anchored, the day's events): one row per definition and person whose cohort is still in the
horizon (anchored people stay once started, so a second start event never opens a second cohort), with their
active days within it. Retention rows of D are computed from that snapshot alone.
"""

from datetime import date, timedelta

from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.people import restitched_sql

DAY_PERIODS = 30  # day cohorts: days 0..30
WEEK_PERIODS = 12  # week cohorts: weeks 0..12
FIRST_SEEN = "first_seen"
ANCHORED = "anchored"
# A day the cleaned layer never built: no event.
NO_NAMED_EVENTS = "(SELECT NULL::VARCHAR AS person_id, NULL::VARCHAR AS type, NULL::VARCHAR AS event_name WHERE false)"
_EMPTY_STATE = (
    "(SELECT NULL::VARCHAR AS definition, NULL::VARCHAR AS person_id, NULL::DATE AS cohort_date, "
    "NULL::DATE[] AS active_days WHERE false)"
)


def week_start(day: date) -> date:
    """The Monday of the ISO week of `day`."""
    return day - timedelta(days=day.weekday())


def horizon_start(day: date) -> date:
    """The first day of the earliest cohort still open on `day`: week cohorts reach back 12 weeks (which holds
    the 30 days of day cohorts)."""
    return week_start(day) - timedelta(weeks=WEEK_PERIODS)


def day_cohorts(day: date) -> list[date]:
    """The day cohorts whose rows `day` changes: the 31 days ending on it."""
    return [day - timedelta(days=n) for n in range(DAY_PERIODS, -1, -1)]


def week_cohorts(day: date) -> list[date]:
    """The week cohorts (their Mondays) whose rows `day` changes: the 13 weeks ending with its own."""
    monday = week_start(day)
    return [monday - timedelta(weeks=n) for n in range(WEEK_PERIODS, -1, -1)]


def _day(value: date) -> str:
    return f"DATE {sql_string(value.isoformat())}"


def _week_of(column: str) -> str:
    return f"CAST(date_trunc('week', {column}) AS DATE)"


def _named(column: str, event: str | None) -> str:
    """Whether an event matches a configured event name (its name, or its type for identify and the like);
    unset: any event."""
    return "true" if event is None else f"coalesce({column}, type) = {sql_string(event)}"


def day_activity_query(
    day: date,
    person_days_file: str,
    events: str | None,
    person_map: str,
    start_event: str | None,
    return_event: str | None,
) -> str:
    """The rows a day adds to `cohort_activity`: each person active on it (first_seen), and with `events` (the
    day's sessionized events, when anchored) each person who sent the start or the return event."""
    seen = f"""SELECT '{FIRST_SEEN}' AS definition, person_id, NULL::DATE AS cohort_date, [{_day(day)}] AS active_days
               FROM {restitched_sql(parquet(person_days_file), person_map)}"""
    if events is None:
        return seen
    return f"""{seen}
    UNION ALL
    SELECT '{ANCHORED}', person_id, CASE WHEN started THEN {_day(day)} END,
           CASE WHEN returned THEN [{_day(day)}] ELSE [] END
    FROM (SELECT person_id, bool_or({_named("event_name", start_event)}) AS started,
                 bool_or({_named("event_name", return_event)}) AS returned
          FROM {restitched_sql(events, person_map)} GROUP BY person_id)
    WHERE started OR returned
    """


def cohort_activity_query(
    previous_file: str | None,
    day_rows: list[str],
    people_file: str,
    day: date,
    person_map: str,
    start_event: str | None,
) -> str:
    """`cohort_activity` of `day`: the snapshot of the day before (re-stitched) merged with `day_rows` (queries of
    `day_activity_query`: the day's own, or every day of the horizon when no snapshot came before).

    A first_seen cohort is the person's `first_seen` in the people snapshot of the day (a person merged into
    one seen earlier moves to that cohort, or leaves the horizon); an anchored one the earliest start day
    known, or first seen when no start event is configured. Active days before the cohort or after its
    horizon are dropped."""
    previous = (
        "SELECT definition, person_id, cohort_date, active_days "
        f"FROM {restitched_sql(parquet(previous_file), person_map)}"
        if previous_file
        else f"SELECT * FROM {_EMPTY_STATE}"
    )
    rows = " UNION ALL ".join([f"({previous})", *(f"({query})" for query in day_rows)])
    by_first_seen = f"definition = '{FIRST_SEEN}'" + ("" if start_event else f" OR definition = '{ANCHORED}'")
    horizon_end = f"{_week_of('cohort_date')} + INTERVAL {(WEEK_PERIODS + 1) * 7} DAY"
    return f"""
    WITH merged AS (
        SELECT definition, person_id, min(cohort_date) AS cohort_date,
               list_distinct(flatten(list(active_days))) AS active_days
        FROM ({rows}) GROUP BY definition, person_id
    ),
    dated AS (
        SELECT merged.definition, merged.person_id,
               CASE WHEN {by_first_seen} THEN people.first_seen ELSE merged.cohort_date END AS cohort_date,
               merged.active_days,
               ({by_first_seen}) AS leaves_with_horizon
        FROM merged LEFT JOIN {parquet(people_file)} AS people USING (person_id)
    )
    SELECT {_day(day)} AS snapshot_date, definition, person_id, cohort_date,
           list_sort(list_filter(active_days, lambda d: d >= cohort_date AND d < {horizon_end})) AS active_days
    FROM dated
    WHERE cohort_date IS NOT NULL AND (NOT leaves_with_horizon OR cohort_date >= {_day(horizon_start(day))})
    ORDER BY definition, person_id
    """


def _cells(state_file: str, day: date, *, weekly: bool, start_event: str | None, return_event: str | None) -> str:
    periods = WEEK_PERIODS if weekly else DAY_PERIODS
    cohort = _week_of("cohort_date") if weekly else "cohort_date"
    period_of = (
        f"CAST(datediff('day', cohort, {_week_of('active_day')}) // 7 AS INTEGER)"
        if weekly
        else "CAST(datediff('day', cohort, active_day) AS INTEGER)"
    )
    first = _day(week_cohorts(day)[0] if weekly else day_cohorts(day)[0])
    period_start = f"cohort + INTERVAL (period * {7 if weekly else 1}) DAY"
    last_day = f"cohort + INTERVAL ({(periods + 1) * 7 - 1 if weekly else periods}) DAY"
    anchors = {
        FIRST_SEEN: ("NULL::VARCHAR", "NULL::VARCHAR"),
        ANCHORED: (
            sql_string(start_event) if start_event else "NULL::VARCHAR",
            sql_string(return_event) if return_event else "NULL::VARCHAR",
        ),
    }
    events = " UNION ALL ".join(
        f"SELECT '{name}' AS definition, {start} AS start_event, {back} AS return_event"
        for name, (start, back) in anchors.items()
    )
    key = "cohort_week" if weekly else "cohort_date"
    complete = f"CAST({period_start} + INTERVAL 6 DAY AS DATE) <= {_day(day)} AS period_complete, " if weekly else ""
    return f"""
    WITH people AS (
        SELECT definition, person_id, {cohort} AS cohort, active_days FROM {parquet(state_file)}
        WHERE {cohort} >= {first}
    ),
    periods AS (
        SELECT definition, person_id, cohort, {period_of} AS period
        FROM (SELECT definition, person_id, cohort, unnest(active_days) AS active_day FROM people)
    ),
    reached AS (
        SELECT definition, cohort, period, count(DISTINCT person_id) AS retained FROM periods
        WHERE period <= {periods} GROUP BY ALL
    ),
    furthest AS (
        SELECT definition, cohort, person_id, max(period) AS last_period FROM periods WHERE period <= {periods}
        GROUP BY ALL
    ),
    cohorts AS (SELECT definition, cohort, count(*) AS cohort_size FROM people GROUP BY ALL),
    grid AS (
        SELECT definition, cohort, cohort_size, CAST(period AS INTEGER) AS period
        FROM cohorts, range(0, {periods + 1}) AS r(period)
        WHERE {period_start} <= {_day(day)}
    ),
    later AS (
        SELECT grid.definition, grid.cohort, grid.period, count(furthest.person_id) AS retained_or_later
        FROM grid LEFT JOIN furthest
          ON furthest.definition = grid.definition AND furthest.cohort = grid.cohort
         AND furthest.last_period >= grid.period
        GROUP BY ALL
    )
    SELECT CAST(cohort AS DATE) AS {key}, definition, period,
           {_day(day)} AS as_of, anchors.start_event, anchors.return_event,
           CAST(cohort_size AS INTEGER) AS cohort_size,
           CAST(coalesce(reached.retained, 0) AS INTEGER) AS retained,
           CAST(later.retained_or_later AS INTEGER) AS retained_or_later,
           {complete}CAST({last_day} AS DATE) <= {_day(day)} AS final
    FROM grid
    LEFT JOIN reached USING (definition, cohort, period)
    JOIN later USING (definition, cohort, period)
    JOIN ({events}) AS anchors USING (definition)
    ORDER BY {key}, definition, period
    """


def retention_daily_query(state_file: str, day: date, start_event: str | None, return_event: str | None) -> str:
    """Cells of the day cohorts open on `day` (the 31 days ending on it), periods 0 .. the day reached."""
    return _cells(state_file, day, weekly=False, start_event=start_event, return_event=return_event)


def retention_weekly_query(state_file: str, day: date, start_event: str | None, return_event: str | None) -> str:
    """Cells of the week cohorts open on `day` (its ISO week and the 12 before), periods 0 .. the week reached."""
    return _cells(state_file, day, weekly=True, start_event=start_event, return_event=return_event)


def _lifecycle(
    person_days: dict[date, str], people_file: str, person_map: str, first: date, previous_first: date, day: date
) -> str:
    """Counts of the period [first, day] against the previous one [previous_first, first - 1]."""
    parts = [
        f"SELECT {_day(d)} AS day, person_id FROM {parquet(path)}"
        for d, path in sorted(person_days.items())
        if previous_first <= d <= day
    ] or ["SELECT NULL::DATE AS day, NULL::VARCHAR AS person_id WHERE false"]
    seen = restitched_sql(f"({' UNION ALL '.join(parts)})", person_map)
    return f"""
    WITH people_active AS (
        SELECT person_id, bool_or(day >= {_day(first)}) AS now, bool_or(day < {_day(first)}) AS before
        FROM {seen} GROUP BY person_id
    ),
    states AS (
        SELECT now, before, people.first_seen >= {_day(first)} AS first_seen_in_period
        FROM people_active LEFT JOIN {parquet(people_file)} AS people USING (person_id)
    )
    SELECT CAST(count(*) FILTER (WHERE now) AS INTEGER) AS active_users,
           CAST(count(*) FILTER (WHERE now AND NOT before AND first_seen_in_period) AS INTEGER) AS new_users,
           CAST(count(*) FILTER (WHERE now AND before) AS INTEGER) AS returning_users,
           CAST(count(*) FILTER (WHERE now AND NOT before AND first_seen_in_period IS NOT TRUE) AS INTEGER)
               AS resurrecting_users,
           CAST(count(*) FILTER (WHERE before AND NOT now) AS INTEGER) AS dormant_users,
           CAST(count(*) FILTER (WHERE before) AS INTEGER) AS previous_active_users
    FROM states
    """


def lifecycle_daily_query(person_days: dict[date, str], people_file: str, person_map: str, day: date) -> str:
    """The lifecycle row of `day` (against the day before) from the person days of both."""
    counts = _lifecycle(person_days, people_file, person_map, day, day - timedelta(days=1), day)
    return f"SELECT {_day(day)} AS event_date, * FROM ({counts})"


def lifecycle_weekly_query(person_days: dict[date, str], people_file: str, person_map: str, day: date) -> str:
    """The lifecycle row of the ISO week of `day` as of `day` (against the whole week before)."""
    monday = week_start(day)
    counts = _lifecycle(person_days, people_file, person_map, monday, monday - timedelta(weeks=1), day)
    sunday = monday + timedelta(days=6)
    return f"""SELECT {_day(monday)} AS week_start, {_day(day)} AS as_of, {(day - monday).days + 1} AS days_built,
                      {"true" if day == sunday else "false"} AS final, *
               FROM ({counts})"""


def lifecycle_window(day: date) -> list[date]:
    """The person days lifecycle of `day` reads: the week before its ISO week, through the day."""
    first = week_start(day) - timedelta(weeks=1)
    return [first + timedelta(days=n) for n in range((day - first).days + 1)]
