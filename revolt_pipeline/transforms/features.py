"""Features of each person as of a cutoff, and whether they churned after it: the tables the models learn from.

A cutoff is a midnight (UTC). Features read only what happened strictly before it: person days of the 28 days
before (`FEATURE_WINDOW_DAYS`), their sessionized events, and the people snapshot's first sighting. Every input
is filtered by the cutoff inside the query, so a caller that hands over later days, later events or a later
snapshot still gets the same features (a test hands them over). One row per person active in the window: who
was not active in the 28 days before a cutoff has churned already, and is nobody's prediction.

The churn label reads the other side of the cutoff: a person churned when no person day of theirs falls in the
`horizon_days` from the cutoff on.
"""

from datetime import date, timedelta

from revolt_pipeline.transforms.engine import sql_string

FEATURE_WINDOW_DAYS = 28
WINDOWS = (7, 14, 28)

# The numeric features, in the order the models take them: each is a column of `person_features_query`.
NUMERIC_FEATURES = (
    "days_since_last_active",
    "days_since_first_seen",
    *(f"active_days_{n}d" for n in WINDOWS),
    *(f"sessions_{n}d" for n in WINDOWS),
    *(f"events_{n}d" for n in WINDOWS),
    *(f"session_seconds_{n}d" for n in WINDOWS),
    *(f"mean_session_seconds_{n}d" for n in WINDOWS),
    "active_days_trend",
    "sessions_trend",
    "platforms_28d",
    "feature_events_28d",
    "distinct_features_28d",
    "on_latest_app_version",
    "identified",
    # Rhythm and shape, as a data scientist would derive them: scale-free trends (the last week's share of the four
    # weeks), the gaps between active days (is the current silence longer than the person's usual ones?), on how
    # many weekdays they come (a weekly habit), and whether their sessions got shorter.
    "sessions_share_7d",
    "active_days_share_7d",
    "longest_gap_days_28d",
    "mean_gap_days_28d",
    "silence_beyond_longest_gap",
    "active_weekdays_28d",
    "session_seconds_trend",
    "sessions_before_silence_7d",
    "trend_before_silence",
    "burst_before_silence",
)
# Descriptive columns, kept for people reading the table (and for segments), not fed to the churn model.
TEXT_FEATURES = ("primary_platform", "app_platform", "app_version")


# No person day built in the window: no one active, as a relation with every column the features read, typed as
# the people layer writes them (so the features of such a cutoff are an empty table of the usual schema).
NO_PERSON_DAYS = """(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS event_date, NULL::BOOLEAN AS identified,
    NULL::BIGINT AS events, NULL::BIGINT AS sessions, NULL::DOUBLE AS seconds, NULL::VARCHAR[] AS platforms,
    NULL::STRUCT(platform VARCHAR, app_version VARCHAR)[] AS platform_versions,
    NULL::TIMESTAMPTZ AS last_event_time, NULL::VARCHAR AS last_platform, NULL::VARCHAR AS last_app_version
    WHERE false)"""
NO_PEOPLE = "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS first_seen WHERE false)"
NO_EVENTS = """(SELECT NULL::VARCHAR AS person_id, NULL::TIMESTAMPTZ AS event_time, NULL::VARCHAR AS type,
    NULL::VARCHAR AS event_name WHERE false)"""


def _date(day: date) -> str:
    return f"DATE {sql_string(day.isoformat())}"


def _midnight(day: date) -> str:
    return f"TIMESTAMPTZ {sql_string(day.isoformat() + ' 00:00:00+00')}"


def person_features_query(person_days: str, people: str, events: str, cutoff: date) -> str:
    """One row per person active in the `FEATURE_WINDOW_DAYS` before `cutoff`, from those days only.

    `person_days`: relation of person days (`transforms/people.person_days_query`'s columns), any days;
    `people`: a people snapshot (`person_id`, `first_seen`), of the day before the cutoff or any later one;
    `events`: sessionized events (`person_id`, `event_time`, `type`, `event_name`) with ids as the person
    days have them (re-stitched: `people.restitched_sql`), any days.

    Recency and first sighting count days to the cutoff (a person active the day before has recency 1).
    Trends compare the last 7 days with the 21 before them, per week: negative when activity falls.
    `feature_usage_28d` maps each tracked event name to its count (for segments and recommendations).
    `on_latest_app_version` is 1 when the person's latest app version is the one of its platform that
    appeared last in the window (0 when older, NULL when no version was sent).
    """
    first_day = cutoff - timedelta(days=FEATURE_WINDOW_DAYS)
    in_window = f"event_date >= {_date(first_day)} AND event_date < {_date(cutoff)}"
    in_time = f"event_time >= {_midnight(first_day)} AND event_time < {_midnight(cutoff)}"

    def since(days: int) -> str:
        return f"event_date >= {_date(cutoff - timedelta(days=days))}"

    windowed = []
    for n in WINDOWS:
        recent = since(n)
        windowed += [
            f"count(*) FILTER (WHERE {recent}) AS active_days_{n}d",
            f"coalesce(sum(sessions) FILTER (WHERE {recent}), 0) AS sessions_{n}d",
            f"coalesce(sum(events) FILTER (WHERE {recent}), 0) AS events_{n}d",
            # Summed as exact decimals (durations are whole milliseconds): a sum of doubles depends on the order
            # DuckDB's threads add them in, and the same lake must give the same features, bit for bit.
            f"coalesce(CAST(sum(CAST(seconds AS DECIMAL(18, 3))) FILTER (WHERE {recent}) AS DOUBLE), 0.0) "
            f"AS session_seconds_{n}d",
        ]
    means = ",\n".join(
        f"coalesce(session_seconds_{n}d / nullif(sessions_{n}d, 0), 0.0) AS mean_session_seconds_{n}d" for n in WINDOWS
    )
    latest = "struct_pack(d := event_date, t := last_event_time)"
    return f"""
    WITH days AS (SELECT * FROM {person_days} WHERE {in_window}),
    versions AS (
        -- The app version of each platform that appeared last in the window is its newest.
        SELECT v.platform, arg_max(v.app_version, struct_pack(d := first_day, v := v.app_version)) AS newest
        FROM (SELECT pv.platform, pv.app_version, min(event_date) AS first_day
              FROM (SELECT event_date, unnest(platform_versions) AS pv FROM days)
              WHERE pv.app_version <> 'unknown'
              GROUP BY ALL) AS v
        GROUP BY v.platform
    ),
    by_days AS (
        SELECT person_id,
               date_diff('day', max(event_date), {_date(cutoff)}) AS days_since_last_active,
               date_diff('day', min(event_date), {_date(cutoff)}) AS days_since_first_active,
               {", ".join(windowed)},
               len(list_distinct(flatten(list(platforms)))) AS platforms_28d,
               mode(last_platform ORDER BY last_platform) AS primary_platform,
               arg_max(last_platform, {latest}) FILTER (WHERE last_app_version IS NOT NULL) AS app_platform,
               arg_max(last_app_version, {latest}) FILTER (WHERE last_app_version IS NOT NULL) AS app_version,
               bool_or(identified) AS identified,
               count(DISTINCT dayofweek(event_date)) AS active_weekdays_28d
        FROM days GROUP BY person_id
    ),
    before_silence AS (
        -- Sessions of the week up to the person's last active day, and of the week before it.
        SELECT days.person_id,
               coalesce(sum(sessions) FILTER (WHERE event_date > last_day - 7), 0) AS last_week,
               coalesce(sum(sessions) FILTER (WHERE event_date <= last_day - 7 AND event_date > last_day - 14), 0)
                   AS week_before
        FROM days JOIN (SELECT person_id, max(event_date) AS last_day FROM days GROUP BY person_id) USING (person_id)
        GROUP BY days.person_id
    ),
    gaps AS (
        -- Days from each active day to the next one of the same person (1: the next day).
        SELECT person_id, max(gap) AS longest_gap, avg(gap) AS mean_gap
        FROM (SELECT person_id,
                     date_diff('day', lag(event_date) OVER (PARTITION BY person_id ORDER BY event_date),
                               event_date) AS gap
              FROM days)
        WHERE gap IS NOT NULL
        GROUP BY person_id
    ),
    usage_counts AS (
        SELECT person_id, event_name, count(*) AS uses
        FROM {events}
        WHERE {in_time} AND type = 'track' AND event_name IS NOT NULL
        GROUP BY person_id, event_name
    ),
    usage AS (
        SELECT person_id, CAST(sum(uses) AS BIGINT) AS feature_events_28d, count(*) AS distinct_features_28d,
               map_from_entries(list(struct_pack(k := event_name, v := uses) ORDER BY event_name)) AS feature_usage_28d
        FROM usage_counts GROUP BY person_id
    ),
    first_seen AS (
        SELECT person_id, min(first_seen) AS first_seen FROM {people}
        WHERE first_seen < {_date(cutoff)} GROUP BY person_id
    )
    SELECT {_date(cutoff)} AS cutoff, by_days.person_id,
           CAST(days_since_last_active AS INTEGER) AS days_since_last_active,
           CAST(greatest(coalesce(date_diff('day', first_seen.first_seen, {_date(cutoff)}), 0),
                         days_since_first_active) AS INTEGER) AS days_since_first_seen,
           {", ".join(f"CAST(active_days_{n}d AS INTEGER) AS active_days_{n}d" for n in WINDOWS)},
           {", ".join(f"CAST(sessions_{n}d AS BIGINT) AS sessions_{n}d" for n in WINDOWS)},
           {", ".join(f"CAST(events_{n}d AS BIGINT) AS events_{n}d" for n in WINDOWS)},
           {", ".join(f"CAST(session_seconds_{n}d AS DOUBLE) AS session_seconds_{n}d" for n in WINDOWS)},
           {means},
           active_days_7d / 7.0 - (active_days_28d - active_days_7d) / 21.0 AS active_days_trend,
           sessions_7d - (sessions_28d - sessions_7d) / 3.0 AS sessions_trend,
           CAST(platforms_28d AS INTEGER) AS platforms_28d,
           coalesce(usage.feature_events_28d, 0) AS feature_events_28d,
           CAST(coalesce(usage.distinct_features_28d, 0) AS INTEGER) AS distinct_features_28d,
           CASE WHEN app_version IS NULL THEN NULL
                WHEN app_version = versions.newest THEN 1 ELSE 0 END AS on_latest_app_version,
           CAST(identified AS INTEGER) AS identified,
           coalesce(sessions_7d / nullif(sessions_28d, 0), 0.0) AS sessions_share_7d,
           active_days_7d / active_days_28d AS active_days_share_7d,
           CAST(coalesce(gaps.longest_gap - 1, 0) AS INTEGER) AS longest_gap_days_28d,
           CAST(gaps.mean_gap AS DOUBLE) AS mean_gap_days_28d,
           CAST(days_since_last_active - 1 - coalesce(gaps.longest_gap - 1, 0) AS INTEGER)
               AS silence_beyond_longest_gap,
           CAST(active_weekdays_28d AS INTEGER) AS active_weekdays_28d,
           mean_session_seconds_7d / nullif(mean_session_seconds_28d, 0) AS session_seconds_trend,
           CAST(before_silence.last_week AS BIGINT) AS sessions_before_silence_7d,
           coalesce((before_silence.last_week - before_silence.week_before)
                    / nullif(before_silence.last_week + before_silence.week_before, 0), 0.0) AS trend_before_silence,
           coalesce(before_silence.last_week / nullif(sessions_28d / 4.0, 0), 0.0) AS burst_before_silence,
           primary_platform, app_platform, app_version,
           coalesce(usage.feature_usage_28d, MAP {{}}::MAP(VARCHAR, BIGINT)) AS feature_usage_28d
    FROM by_days
    LEFT JOIN usage USING (person_id)
    LEFT JOIN first_seen USING (person_id)
    LEFT JOIN gaps USING (person_id)
    LEFT JOIN before_silence USING (person_id)
    LEFT JOIN versions ON versions.platform = by_days.app_platform
    ORDER BY by_days.person_id
    """


def churn_labels_query(features: str, person_days: str, cutoff: date, horizon_days: int) -> str:
    """Whether each person of `features` (as of `cutoff`) churned: no person day in the `horizon_days` from the
    cutoff on. The caller makes sure those days are built; a day never built counts as no one active."""
    last = cutoff + timedelta(days=horizon_days)
    return f"""
    SELECT features.person_id,
           CAST(NOT EXISTS (SELECT 1 FROM {person_days} AS later
                            WHERE later.person_id = features.person_id
                              AND later.event_date >= {_date(cutoff)} AND later.event_date < {_date(last)})
                AS INTEGER) AS churned
    FROM {features} AS features
    ORDER BY features.person_id
    """
