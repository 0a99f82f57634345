"""Daily aggregates by platform and app version, the shape the report tables take.

Grouping sets add totals: `platform = 'all'` rows for the whole day and `app_version = 'all'` rows for
a platform, because distinct users cannot be added up across groups. Missing platforms or versions
are reported as 'unknown', never dropped. Names and versions are made fit for the report database
(`report_text`) before grouping, so they merge rather than collide.
"""

from datetime import date

import duckdb

from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.report_text import ReportText, made_safe_counts_query

ALL = "all"
UNKNOWN = "unknown"
DURATION_BUCKETS = [  # (label, upper bound in seconds, exclusive)
    ("0s", 1),
    ("1s-1m", 60),
    ("1-5m", 300),
    ("5-15m", 900),
    ("15-30m", 1800),
    ("30-60m", 3600),
    ("1-2h", 7200),
    ("2h+", None),
]

_GROUPS = f"""
    CASE WHEN grouping(platform_) = 1 THEN '{ALL}' ELSE platform_ END AS platform,
    CASE WHEN grouping(app_version_) = 1 THEN '{ALL}' ELSE app_version_ END AS app_version
"""
_SETS = "GROUPING SETS ((platform_, app_version_), (platform_), ())"


# The text of events and sessions that reaches report columns; `all` is reserved for the total rows.
PLATFORM = ReportText("platform", f"coalesce(platform, '{UNKNOWN}')", reserved=(ALL,))
APP_VERSION = ReportText("app_version", f"coalesce(app_version, '{UNKNOWN}')", reserved=(ALL,))
EVENT_TYPE = ReportText("event_type", "type")
EVENT_NAME = ReportText("event_name", "coalesce(event_name, type)")
EVENT_TEXT = (PLATFORM, APP_VERSION, EVENT_TYPE, EVENT_NAME)


def _dimensions(source: str) -> str:
    return f"(SELECT *, {PLATFORM.sql} AS platform_, {APP_VERSION.sql} AS app_version_ FROM {source})"


def made_safe_query(events: str) -> str:
    """How many distinct values of each report column the day's events had made safe (one row).

    Sessions take their platform and version from their first event, one of the day's: counting the
    events counts the sessions' values too.
    """
    return made_safe_counts_query(events, EVENT_TEXT)


def count_made_safe(connection: duckdb.DuckDBPyConnection, events_file: str) -> dict[str, int]:
    """`made_safe_query` of a day's sessionized events: report column -> distinct values changed."""
    cursor = connection.execute(made_safe_query(parquet(events_file)))
    return dict(zip([column[0] for column in cursor.description], cursor.fetchone(), strict=True))


def _day(value: date) -> str:
    return f"DATE {sql_string(value.isoformat())}"


def daily_active_users_query(events: str, event_date: date) -> str:
    identified = "user_id IS NOT NULL OR person_id IS DISTINCT FROM anonymous_id"
    return f"""
    SELECT {_day(event_date)} AS event_date, {_GROUPS},
           count(DISTINCT person_id) AS active_users,
           count(DISTINCT person_id) FILTER (WHERE {identified}) AS identified_users,
           count(DISTINCT person_id) FILTER (WHERE NOT ({identified})) AS anonymous_users
    FROM {_dimensions(events)}
    GROUP BY {_SETS}
    ORDER BY ALL
    """


def sessions_daily_query(sessions: str, session_date: date) -> str:
    return f"""
    SELECT {_day(session_date)} AS session_date, {_GROUPS},
           count(*) AS sessions,
           count(DISTINCT person_id) AS users,
           CAST(coalesce(sum(events), 0) AS BIGINT) AS events,
           coalesce(sum(duration_seconds), 0.0) AS total_duration_seconds,
           coalesce(avg(duration_seconds), 0.0) AS avg_duration_seconds,
           coalesce(quantile_cont(duration_seconds, 0.5), 0.0) AS median_duration_seconds,
           coalesce(quantile_cont(duration_seconds, 0.9), 0.0) AS p90_duration_seconds,
           count(*) FILTER (WHERE events = 1) AS single_event_sessions,
           count(*) FILTER (WHERE split) AS split_sessions
    FROM {_dimensions(sessions)}
    GROUP BY {_SETS}
    ORDER BY ALL
    """


def events_daily_query(events: str, event_date: date) -> str:
    return f"""
    SELECT {_day(event_date)} AS event_date, {_GROUPS},
           event_type_ AS event_type, event_name_ AS event_name,
           count(*) AS events,
           count(DISTINCT person_id) AS users
    FROM (SELECT *, {EVENT_TYPE.sql} AS event_type_, {EVENT_NAME.sql} AS event_name_ FROM {_dimensions(events)})
    GROUP BY GROUPING SETS ((platform_, app_version_, event_type_, event_name_),
                            (platform_, event_type_, event_name_),
                            (event_type_, event_name_))
    ORDER BY ALL
    """


def session_duration_histogram_query(sessions: str, session_date: date) -> str:
    cases = " ".join(
        f"WHEN duration_seconds < {upper} THEN '{label}'" for label, upper in DURATION_BUCKETS if upper is not None
    )
    order = " ".join(f"WHEN '{label}' THEN {n}" for n, (label, _) in enumerate(DURATION_BUCKETS))
    return f"""
    SELECT {_day(session_date)} AS session_date, {_GROUPS}, bucket, CASE bucket {order} END AS bucket_order,
           count(*) AS sessions
    FROM (SELECT *, CASE {cases} ELSE '{DURATION_BUCKETS[-1][0]}' END AS bucket FROM {_dimensions(sessions)})
    GROUP BY GROUPING SETS ((platform_, app_version_, bucket), (platform_, bucket), (bucket))
    ORDER BY platform, app_version, bucket_order
    """


# Each aggregate, by the name of its report table, and what it is computed from: the day's sessionized
# events or its sessions.
AGGREGATES = {
    "daily_active_users": (daily_active_users_query, "events"),
    "sessions_daily": (sessions_daily_query, "sessions"),
    "events_daily": (events_daily_query, "events"),
    "session_duration_histogram": (session_duration_histogram_query, "sessions"),
}


def aggregate_query(name: str, sessionized_events_file: str, sessions_file: str, day: date) -> str:
    """The aggregate `name` (a key of AGGREGATES) of one day, from that day's files."""
    build, source = AGGREGATES[name]
    return build(parquet(sessionized_events_file if source == "events" else sessions_file), day)
