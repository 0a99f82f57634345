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
activity as two fixed-width bitmaps (days 0..30, weeks 0..12 of the cohort). Retention rows of D are computed
from that snapshot alone.

Retention by app version splits each cohort by what its people were acquired on: the platform and app version
of the event that put them in it (their first event; anchored, their first start event), kept in the snapshot
with its time (`acquired_at`, so re-stitching keeps the earliest of the merged people's). Returns count on any
platform, so a cohort's platforms and versions add up exactly to the cohort.
"""

from datetime import date, timedelta

from revolt_pipeline.transforms.aggregates import APP_VERSION, PLATFORM, UNKNOWN
from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.people import restitched_sql

DAY_PERIODS = 30  # day cohorts: days 0..30
WEEK_PERIODS = 12  # week cohorts: weeks 0..12
FIRST_SEEN = "first_seen"
ANCHORED = "anchored"
# A day the cleaned layer never built: no event.
NO_NAMED_EVENTS = (
    "(SELECT NULL::VARCHAR AS person_id, NULL::VARCHAR AS type, NULL::VARCHAR AS event_name, "
    "NULL::VARCHAR AS message_id, NULL::TIMESTAMPTZ AS event_time, NULL::VARCHAR AS platform, "
    "NULL::VARCHAR AS app_version WHERE false)"
)
# What acquired a person (`cohort_activity`'s columns): absent from snapshots and person days written before
# retention was split by it, which then read NULL (their people count as `unknown` until people_job rebuilds).
_ACQUISITION = "NULL::TIMESTAMPTZ AS acquired_at, NULL::VARCHAR AS platform, NULL::VARCHAR AS app_version"
_EMPTY_STATE = (
    "(SELECT NULL::VARCHAR AS definition, NULL::VARCHAR AS person_id, NULL::DATE AS ref_date, "
    f"NULL::DATE AS start_date, NULL::BIGINT AS day_bits, NULL::BIGINT AS week_bits, {_ACQUISITION} WHERE false)"
)
# The breakdowns of the retention and lifecycle tables by platform (lifecycle) and by app version (both).
BY_PLATFORM = ("platform",)
BY_APP_VERSION = ("platform", "app_version")


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


def _with_acquisition(snapshot: str) -> str:
    """A `cohort_activity` relation sure to have the acquisition's columns (NULL in one written before them)."""
    return f"(SELECT * FROM {snapshot} UNION ALL BY NAME (SELECT {_ACQUISITION} WHERE false))"


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
    """The rows a day adds to `cohort_activity`, their bitmaps relative to the day itself (`ref_date`): each
    person active on it (first_seen), and with `events` (the day's sessionized events, when anchored) each
    person who sent the start event (a start candidate) or the return event (bit 0). Each row says what the
    person was acquired on if the day starts their cohort: the day's first event (first_seen; a person day
    written before `first_event_app_version` existed gives its first app version sent), the first start event
    (anchored); NULL on an anchored row that only returns."""
    person_days = (
        f"(SELECT * FROM {parquet(person_days_file)} UNION ALL BY NAME "
        "(SELECT NULL::VARCHAR AS first_event_app_version WHERE false))"
    )
    first_version = f"coalesce(first_event_app_version, first_app_version, '{UNKNOWN}')"
    seen = f"""SELECT '{FIRST_SEEN}' AS definition, person_id, {_day(day)} AS ref_date, NULL::DATE AS start_date,
                      CAST(1 AS BIGINT) AS day_bits, CAST(1 AS BIGINT) AS week_bits,
                      first_event_time AS acquired_at, {PLATFORM.sql} AS platform, {APP_VERSION.sql} AS app_version
               FROM (SELECT person_id, first_event_time, first_platform AS platform, {first_version} AS app_version
                     FROM {restitched_sql(person_days, person_map)})"""
    if events is None:
        return seen
    starts = _named("event_name", start_event)
    first_start = f"FILTER (WHERE {starts})"
    position = "struct_pack(t := event_time, m := message_id)"
    return f"""{seen}
    UNION ALL
    SELECT '{ANCHORED}', person_id, {_day(day)}, CASE WHEN started THEN {_day(day)} END,
           CAST(returned AS BIGINT), CAST(returned AS BIGINT), acquired_at, platform, app_version
    FROM (SELECT person_id, bool_or({starts}) AS started,
                 bool_or({_named("event_name", return_event)}) AS returned,
                 min(event_time) {first_start} AS acquired_at,
                 arg_min({PLATFORM.sql}, {position}) {first_start} AS platform,
                 arg_min({APP_VERSION.sql}, {position}) {first_start} AS app_version
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

    A person's activity is two bitmaps relative to their cohort: `day_bits` bit N (0..30) set when active
    on the cohort's day + N, `week_bits` bit N (0..12) when active in the cohort's ISO week + N (from the
    cohort's day on). A first_seen cohort is the person's `first_seen` in the people snapshot of the day (a
    person merged into one seen earlier moves to that cohort, or leaves the horizon); an anchored one the
    earliest start day known, or first seen when no start event is configured. Merging shifts each row's
    bitmaps from its own reference day to the cohort's; activity beyond the horizon falls off. What acquired
    the person is their rows' earliest (`acquired_at`), `unknown` when none says."""
    # A row written before the acquisition was kept knows none: acquired at its cohort's midnight on `unknown`, so
    # a later day's first event does not pass for what acquired the person.
    previous = (
        "SELECT definition, person_id, cohort_date AS ref_date, cohort_date AS start_date, day_bits, week_bits, "
        "coalesce(acquired_at, CAST(cohort_date AS TIMESTAMPTZ)) AS acquired_at, "
        f"coalesce(platform, '{UNKNOWN}') AS platform, coalesce(app_version, '{UNKNOWN}') AS app_version "
        f"FROM {restitched_sql(_with_acquisition(parquet(previous_file)), person_map)}"
        if previous_file
        else f"SELECT * FROM {_EMPTY_STATE}"
    )
    rows = " UNION ALL ".join([f"({previous})", *(f"({query})" for query in day_rows)])
    by_first_seen = f"definition = '{FIRST_SEEN}'" + ("" if start_event else f" OR definition = '{ANCHORED}'")
    days_after = "datediff('day', dated.cohort_date, rows.ref_date)"
    weeks_after = f"datediff('day', {_week_of('dated.cohort_date')}, {_week_of('rows.ref_date')}) // 7"
    open_cohort = f"dated.cohort_date >= {_day(horizon_start(day))}"
    # Ties (one instant on two devices) broken by the values, so every engine keeps the same.
    acquisition = "struct_pack(t := acquired_at, p := platform, v := app_version)"
    return f"""
    WITH rows AS ({rows}),
    started AS (
        SELECT definition, person_id, min(start_date) AS start_date,
               min(acquired_at) AS acquired_at,
               arg_min(platform, {acquisition}) FILTER (WHERE acquired_at IS NOT NULL) AS platform,
               arg_min(app_version, {acquisition}) FILTER (WHERE acquired_at IS NOT NULL) AS app_version
        FROM rows GROUP BY definition, person_id
    ),
    dated AS (
        SELECT started.definition, started.person_id,
               CASE WHEN {by_first_seen} THEN people.first_seen ELSE started.start_date END AS cohort_date,
               ({by_first_seen}) AS leaves_with_horizon,
               started.acquired_at, coalesce(started.platform, '{UNKNOWN}') AS platform,
               coalesce(started.app_version, '{UNKNOWN}') AS app_version
        FROM started LEFT JOIN {parquet(people_file)} AS people USING (person_id)
    )
    SELECT {_day(day)} AS snapshot_date, dated.definition, dated.person_id, dated.cohort_date,
           -- Anchored people stay once started (a later start event opens no second cohort), without activity.
           CASE WHEN {open_cohort} THEN bit_or(CASE WHEN {days_after} BETWEEN 0 AND {DAY_PERIODS}
               THEN (rows.day_bits << {days_after}) & {(1 << (DAY_PERIODS + 1)) - 1} ELSE 0 END) ELSE 0 END
               AS day_bits,
           CASE WHEN {open_cohort} THEN bit_or(CASE WHEN {weeks_after} BETWEEN 0 AND {WEEK_PERIODS}
               THEN (rows.week_bits << {weeks_after}) & {(1 << (WEEK_PERIODS + 1)) - 1} ELSE 0 END) ELSE 0 END
               AS week_bits,
           dated.acquired_at, dated.platform, dated.app_version
    FROM dated JOIN rows USING (definition, person_id)
    WHERE dated.cohort_date IS NOT NULL AND (NOT dated.leaves_with_horizon OR {open_cohort})
    GROUP BY dated.definition, dated.person_id, dated.cohort_date, dated.acquired_at, dated.platform,
             dated.app_version
    ORDER BY 2, 3
    """


def _cells(
    state_file: str,
    day: date,
    *,
    weekly: bool,
    start_event: str | None,
    return_event: str | None,
    by: tuple[str, ...] = (),
) -> str:
    periods = WEEK_PERIODS if weekly else DAY_PERIODS
    cohort = _week_of("cohort_date") if weekly else "cohort_date"
    bits = "week_bits" if weekly else "day_bits"
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
    listed = "".join(f"{column}, " for column in by)
    # A snapshot written before the breakdown's columns existed reads them as NULL: `unknown`.
    state = _with_acquisition(parquet(state_file))
    breakdown = "".join(f"coalesce({column}, '{UNKNOWN}') AS {column}, " for column in by)
    return f"""
    WITH people AS (
        SELECT definition, {breakdown}{cohort} AS cohort, {bits} AS bits FROM {state} WHERE {cohort} >= {first}
    ),
    cells AS (
        SELECT definition, {listed}cohort, CAST(period AS INTEGER) AS period, count(*) AS cohort_size,
               count(*) FILTER (WHERE (bits >> CAST(period AS INTEGER)) & 1 = 1) AS retained,
               count(*) FILTER (WHERE (bits >> CAST(period AS INTEGER)) <> 0) AS retained_or_later
        FROM people, range(0, {periods + 1}) AS r(period)
        WHERE {period_start} <= {_day(day)}
        GROUP BY ALL
    )
    SELECT CAST(cohort AS DATE) AS {key}, definition, {listed}period,
           {_day(day)} AS as_of, anchors.start_event, anchors.return_event,
           CAST(cohort_size AS INTEGER) AS cohort_size,
           CAST(retained AS INTEGER) AS retained,
           CAST(retained_or_later AS INTEGER) AS retained_or_later,
           {complete}CAST({last_day} AS DATE) <= {_day(day)} AS final
    FROM cells JOIN ({events}) AS anchors USING (definition)
    ORDER BY {key}, definition, {listed}period
    """


def retention_daily_query(
    state_file: str, day: date, start_event: str | None, return_event: str | None, by: tuple[str, ...] = ()
) -> str:
    """Cells of the day cohorts open on `day` (the 31 days ending on it), periods 0 .. the day reached; with
    `by` (BY_APP_VERSION), each cohort split by the platform and app version its people were acquired on."""
    return _cells(state_file, day, weekly=False, start_event=start_event, return_event=return_event, by=by)


def retention_weekly_query(
    state_file: str, day: date, start_event: str | None, return_event: str | None, by: tuple[str, ...] = ()
) -> str:
    """Cells of the week cohorts open on `day` (its ISO week and the 12 before), periods 0 .. the week reached;
    with `by`, split as `retention_daily_query` says."""
    return _cells(state_file, day, weekly=True, start_event=start_event, return_event=return_event, by=by)


def _platform_versions(person_days: str) -> str:
    """Each (day, person, platform, app version) of person days (a relation of day, person_id and
    platform_versions), the values as the report columns hold them (as active users count them)."""
    return f"""(SELECT day, person_id, {PLATFORM.sql} AS platform, {APP_VERSION.sql} AS app_version
               FROM (SELECT day, person_id, pair.platform, pair.app_version
                     FROM (SELECT day, person_id, unnest(platform_versions) AS pair FROM {person_days})))"""


def person_platforms_query(previous_file: str | None, person_days: dict[date, str], day: date, person_map: str) -> str:
    """`person_platforms` of `day`: each person's platforms and app versions and the first day they were active
    with each, as of `day` (what lifecycle by platform calls new): the snapshot of the day before, re-stitched,
    merged with `person_days` (the day's; or every day built through it when no snapshot came before)."""
    parts = " UNION ALL ".join(
        f"SELECT {_day(d)} AS day, person_id, platform_versions FROM {parquet(path)}"
        for d, path in sorted(person_days.items())
    )
    added = (
        "SELECT person_id, platform, app_version, day AS first_seen "
        f"FROM {_platform_versions(restitched_sql(f'({parts})', person_map))}"
    )
    previous = (
        "SELECT person_id, platform, app_version, first_seen "
        f"FROM {restitched_sql(parquet(previous_file), person_map)} UNION ALL "
        if previous_file
        else ""
    )
    return f"""
    SELECT {_day(day)} AS snapshot_date, person_id, platform, app_version, min(first_seen) AS first_seen
    FROM ({previous}{added})
    GROUP BY person_id, platform, app_version
    ORDER BY person_id, platform, app_version
    """


def _lifecycle(
    person_days: dict[date, str],
    people_file: str,
    person_map: str,
    first: date,
    previous_first: date,
    day: date,
    by: tuple[str, ...] = (),
) -> str:
    """Counts of the period [first, day] against the previous one [previous_first, first - 1]; with `by`
    (platform, or platform and app version), per value, judged on the activity with it alone: `people_file`
    is then `person_platforms` (first seen with each value)."""
    parts = [
        f"SELECT {_day(d)} AS day, person_id{', platform_versions' if by else ''} FROM {parquet(path)}"
        for d, path in sorted(person_days.items())
        if previous_first <= d <= day
    ]
    if not parts:
        raise ValueError(f"no person days of {day}: lifecycle needs them")
    seen = restitched_sql(f"({' UNION ALL '.join(parts)})", person_map)
    keys = "".join(f"{column}, " for column in by)
    firsts = (
        f"(SELECT person_id, {keys}min(first_seen) AS first_seen FROM {parquet(people_file)} GROUP BY ALL)"
        if by
        else parquet(people_file)
    )
    return f"""
    WITH people_active AS (
        SELECT person_id, {keys}bool_or(day >= {_day(first)}) AS now, bool_or(day < {_day(first)}) AS before
        FROM {_platform_versions(seen) if by else seen} GROUP BY person_id{"".join(f", {c}" for c in by)}
    ),
    states AS (
        SELECT {"".join(f"people_active.{c}, " for c in by)}now, before,
               people.first_seen >= {_day(first)} AS first_seen_in_period
        FROM people_active LEFT JOIN {firsts} AS people USING (person_id{"".join(f", {c}" for c in by)})
    )
    SELECT {keys}CAST(count(*) FILTER (WHERE now) AS INTEGER) AS active_users,
           CAST(count(*) FILTER (WHERE now AND NOT before AND first_seen_in_period) AS INTEGER) AS new_users,
           CAST(count(*) FILTER (WHERE now AND before) AS INTEGER) AS returning_users,
           CAST(count(*) FILTER (WHERE now AND NOT before AND first_seen_in_period IS NOT TRUE) AS INTEGER)
               AS resurrecting_users,
           CAST(count(*) FILTER (WHERE before AND NOT now) AS INTEGER) AS dormant_users,
           CAST(count(*) FILTER (WHERE before) AS INTEGER) AS previous_active_users
    FROM states
    {f"GROUP BY {', '.join(by)} ORDER BY {', '.join(by)}" if by else ""}
    """


def lifecycle_daily_query(
    person_days: dict[date, str], people_file: str, person_map: str, day: date, by: tuple[str, ...] = ()
) -> str:
    """The lifecycle row of `day` (against the day before) from the person days of both; with `by` (platform,
    or platform and app version), a row per value someone was active with on either day, the states judged on
    that value's activity alone (`people_file`: the day's `person_platforms`)."""
    counts = _lifecycle(person_days, people_file, person_map, day, day - timedelta(days=1), day, by)
    return f"SELECT {_day(day)} AS event_date, * FROM ({counts})"


def lifecycle_weekly_query(
    person_days: dict[date, str], people_file: str, person_map: str, day: date, by: tuple[str, ...] = ()
) -> str:
    """The lifecycle row of the ISO week of `day` as of `day` (against the whole week before); `by` as in
    `lifecycle_daily_query`."""
    monday = week_start(day)
    counts = _lifecycle(person_days, people_file, person_map, monday, monday - timedelta(weeks=1), day, by)
    sunday = monday + timedelta(days=6)
    return f"""SELECT {_day(monday)} AS week_start, {_day(day)} AS as_of, {(day - monday).days + 1} AS days_built,
                      {"true" if day == sunday else "false"} AS final, *
               FROM ({counts})"""


def lifecycle_window(day: date) -> list[date]:
    """The person days lifecycle of `day` reads: the week before its ISO week, through the day."""
    first = week_start(day) - timedelta(weeks=1)
    return [first + timedelta(days=n) for n in range((day - first).days + 1)]
