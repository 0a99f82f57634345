"""The people layer's rows in the shape of the report tables `person_days` and `people`.

The lake keeps person days and snapshots as DuckDB writes them (lists, structs, JSON); the report database
holds what SQLite and PostgreSQL both store: platforms as text, traits as JSON text, timestamps in UTC, and
client text made storable. The columns are chosen here, one by one, so a column added to the lake reaches
BI tools only once it is named here and in `reports/schema.py`.

Client text: NUL (which PostgreSQL text refuses) becomes U+FFFD, as `report_text` does. In an id, that
could make two people one key: an id that held a NUL also gets `…` and the first 8 hex digits of its MD5.
In the traits' JSON text, the escape `\\u0000` (which PostgreSQL's jsonb refuses) becomes `\\ufffd`.
Platforms and app versions follow the aggregates' rule (`aggregates.PLATFORM`, `APP_VERSION`), so they
join with the breakdown tables' values.
"""

from datetime import date

from revolt_pipeline.transforms.aggregates import APP_VERSION, PLATFORM
from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.report_text import DIGEST_CHARS, MARKER, REPLACEMENT, ReportText

# Separates the platforms of a person day in `person_days.platforms` (sorted): `android,web`.
PLATFORM_SEPARATOR = ","


def _text(expression: str) -> str:
    """Free client text (traits, OS, locale), NUL replaced; NULL stays NULL."""
    return f"replace({expression}, chr(0), '{REPLACEMENT}')"


def _id(expression: str) -> str:
    """An id as a key: NUL replaced, and then told apart from an id that held U+FFFD there."""
    return (
        f"(CASE WHEN contains({expression}, chr(0)) THEN {_text(expression)} || '{MARKER}' || "
        f"left(md5({expression}), {DIGEST_CHARS}) ELSE {expression} END)"
    )


def _json(expression: str) -> str:
    """JSON text without the `\\u0000` escape (an escaped backslash before it is kept as it is).

    Two passes: a match takes the character before the escape, so of adjacent escapes every other one
    is replaced by the first pass, the rest by the second."""
    pattern = "'((?:^|[^\\\\])(?:\\\\\\\\)*)\\\\u0000', '\\1\\\\ufffd', 'g'"
    once = f"regexp_replace(CAST({expression} AS VARCHAR), {pattern})"
    return f"regexp_replace({once}, {pattern})"


def _platform(expression: str) -> str:
    return ReportText("platform", expression, PLATFORM.reserved).sql


def _app_version(expression: str) -> str:
    return ReportText("app_version", expression, APP_VERSION.reserved).sql


def person_days_report_query(person_days_file: str) -> str:
    """A day's person days as `person_days` report rows: one per person, platforms as sorted text."""
    platforms = (
        f"array_to_string(list_sort(list_distinct(list_transform(platforms, lambda p: {_platform('p')}))), "
        f"'{PLATFORM_SEPARATOR}')"
    )
    return f"""
    SELECT event_date, {_id("person_id")} AS person_id, {_id("user_id")} AS user_id, identified,
           CAST(events AS INTEGER) AS events, CAST(sessions AS INTEGER) AS sessions,
           CAST(seconds AS DOUBLE) AS seconds, {platforms} AS platforms,
           first_event_time AS first_event_at, last_event_time AS last_event_at
    FROM {parquet(person_days_file)}
    ORDER BY person_id
    """


def people_report_query(people_file: str) -> str:
    """A people snapshot as `people` report rows: one per person as of the snapshot's day."""
    return f"""
    SELECT {_id("person_id")} AS person_id, {_id("user_id")} AS user_id, identified,
           first_seen, last_seen, first_seen_at, last_seen_at,
           {_platform("first_platform")} AS first_platform, {_platform("last_platform")} AS latest_platform,
           {_app_version("app_version")} AS latest_app_version,
           {_text("os_name")} AS latest_os_name, {_text("os_version")} AS latest_os_version,
           {_text("locale")} AS latest_locale, {_text("country")} AS latest_country,
           {_text("country_method")} AS latest_country_method,
           {_app_version("first_app_version")} AS first_app_version,
           {_text("first_os_name")} AS first_os_name, {_text("first_os_version")} AS first_os_version,
           {_text("first_locale")} AS first_locale, {_text("first_country")} AS first_country,
           {_text("first_country_method")} AS first_country_method,
           {_text("email")} AS email, {_text("name")} AS name, {_text("plan")} AS plan, {_text("team")} AS team,
           created_at, {_json("traits")} AS traits, traits_at AS traits_updated_at,
           CAST(sessions AS BIGINT) AS sessions, CAST(events AS BIGINT) AS events,
           CAST(days_active AS INTEGER) AS days_active, snapshot_date
    FROM {parquet(people_file)}
    ORDER BY person_id
    """


# A day with no sessions layer built (nothing received): no session, in the columns the query below reads.
NO_PERSON_SESSIONS = (
    "(SELECT NULL::VARCHAR AS session_id, NULL::VARCHAR AS person_id, NULL::TIMESTAMPTZ AS session_start, "
    "NULL::TIMESTAMPTZ AS session_end, NULL::DOUBLE AS duration_seconds, NULL::BIGINT AS events, "
    "NULL::VARCHAR AS platform, NULL::VARCHAR AS app_version, NULL::VARCHAR AS os_name, "
    "NULL::VARCHAR AS entry_event, NULL::VARCHAR AS exit_event WHERE false)"
)


def person_sessions_report_query(sessions: str, session_date: date) -> str:
    """A day's sessions as `person_sessions` report rows. `sessions` is the day's sessions relation with its
    `person_id` already re-stitched (`people.restitched_sql`), as `person_days` counts them; platform and app
    version as the breakdowns write them, so a timeline's values join with theirs.

    A sessions file without the descriptive columns (the ML history's shortcut, `demo/ml_history.py`, writes only
    ids, times and counts) reads them as NULL: platform and app version `unknown`."""
    sessions = f"({NO_PERSON_SESSIONS} UNION ALL BY NAME SELECT * FROM {sessions})"
    return f"""
    SELECT DATE {sql_string(session_date.isoformat())} AS session_date, session_id, {_id("person_id")} AS person_id,
           session_start, session_end, CAST(duration_seconds AS DOUBLE) AS duration_seconds,
           CAST(events AS INTEGER) AS events, {PLATFORM.sql} AS platform, {APP_VERSION.sql} AS app_version,
           {_text("os_name")} AS os_name, {_text("entry_event")} AS entry_event, {_text("exit_event")} AS exit_event
    FROM {sessions}
    ORDER BY session_start, session_id
    """
