"""People: who was active each day (`person_days`), and each person as of a day (`people`), built incrementally.

`person_days` of day D groups the day's sessionized events and the sessions starting that day by person. The
`people` snapshot of D is the snapshot of D-1 merged with the person days of D (and the day's identify traits),
so a day costs O(people), never O(history).

A person is the stitched `person_id`, re-mapped through the identity links of every raw day built so far (the
same map cleaning uses, `identities.person_map_query`). Cleaning stitches with the links it knows when it runs,
so an anonymous visit identified days later keeps its anonymous `person_id` in the cleaned days built before
the identify arrived. Re-mapping here makes a person day and a snapshot right as soon as they are built; the
snapshot of D also reports the people of D-1 it merged into someone else (`restitched`), and the earliest day
they were seen, from which the people layer must be built again (see `PeopleCounts`).
"""

from dataclasses import dataclass
from datetime import date

import duckdb

from revolt_pipeline.transforms.aggregates import UNKNOWN
from revolt_pipeline.transforms.countries import with_country_columns
from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.identities import NO_LINKS, person_id_sql, person_map_query

# Traits with a column of their own in `people`; every trait stays in `traits` (JSON) as well.
TYPED_TRAITS = {
    "email": ("$.email", "VARCHAR"),
    "name": ("$.name", "VARCHAR"),
    "plan": ("$.plan", "VARCHAR"),
    "team": ("$.team", "VARCHAR"),
    "created_at": ("$.createdAt", "TIMESTAMPTZ"),
}
IDENTIFIED_SQL = "(user_id IS NOT NULL OR person_id IS DISTINCT FROM anonymous_id)"

# The values of the breakdowns' dimensions a person was active with on a day (actives unnest them), as lists
# of person days: list column -> the event columns it holds ('unknown' for a missing value). A list of one
# dimension holds text, of several a struct of them.
DIMENSION_LISTS = {
    "platforms": ("platform",),
    "platform_versions": ("platform", "app_version"),
    "os_versions": ("os_name", "os_version"),
    "device_types": ("device_type",),
    "country_methods": ("country", "country_method"),
    "locales": ("locale",),
    "sources": ("source",),
    "libraries": ("library_name", "library_version"),
}
# Lists added after the first person days were written, with their types: an older day reads them as NULL (no
# value: its people count in no row of that breakdown until people_job builds the day again).
LATER_DIMENSION_LISTS = {"country_methods": "STRUCT(country VARCHAR, country_method VARCHAR)[]"}


def with_later_dimension_lists(person_days: str) -> str:
    """`person_days` (a relation) sure to have every list of `LATER_DIMENSION_LISTS`."""
    empty = ", ".join(f"NULL::{kind} AS {name}" for name, kind in LATER_DIMENSION_LISTS.items())
    return f"(SELECT * FROM {person_days} UNION ALL BY NAME (SELECT {empty} WHERE false))"


_EVENT_TEXT_COLUMNS = (
    "message_id", "type", "person_id", "user_id", "anonymous_id", "platform", "app_version", "os_name", "os_version",
    "locale", "device_type", "country", "country_method", "source", "library_name", "library_version", "traits",
)  # fmt: skip
# A day the cleaned layer never built (nothing was received for it): no event, no session.
NO_EVENTS = (
    f"(SELECT {', '.join(f'NULL::VARCHAR AS {name}' for name in _EVENT_TEXT_COLUMNS)}, "
    "NULL::TIMESTAMPTZ AS event_time WHERE false)"
)
NO_SESSIONS = "(SELECT NULL::VARCHAR AS person_id, NULL::DOUBLE AS duration_seconds WHERE false)"


def stitch_people(connection: duckdb.DuckDBPyConnection, link_files: list[str]) -> str:
    """The person map of the identity links of every raw day built so far, as a temporary table (its name):
    computed once for a run's days, read by every query below as `person_map`."""
    links = parquet(link_files) if link_files else f"(SELECT {NO_LINKS})"
    connection.execute(f"CREATE OR REPLACE TEMP TABLE person_map AS {person_map_query(links)}")
    return "person_map"


def restitched_sql(relation: str, person_map: str) -> str:
    """`relation` with `person_id` re-mapped to the person the links make it now."""
    return f"""(SELECT rows.* REPLACE (coalesce(stitch.person_id, rows.person_id) AS person_id)
                FROM {relation} AS rows
                LEFT JOIN {person_map} AS stitch ON stitch.identity = rows.person_id)"""


def _traits_fold(traits: str, order: str) -> str:
    """The traits of several identify calls merged key by key, the latest value of each key winning (a key sent
    as null is removed, as JSON merge patch does)."""
    return (
        f"list_reduce(list({traits} ORDER BY {order}) FILTER (WHERE {traits} IS NOT NULL), "
        "lambda a, b: json_merge_patch(a, b))"
    )


def _dimension_list(column: str, dimensions: tuple[str, ...]) -> str:
    values = [f"coalesce({name}, 'unknown')" for name in dimensions]
    value = (
        values[0]
        if len(values) == 1
        else f"struct_pack({', '.join(f'{n} := {v}' for n, v in zip(dimensions, values, strict=True))})"
    )
    return f"list_sort(list(DISTINCT {value})) AS {column}"


def person_days_query(events: str, sessions: str, day: date, person_map: str) -> str:
    """One row per person active on `day`: events, sessions started, seconds of them, the values of each
    breakdown's dimensions (`DIMENSION_LISTS`), the day's first and last app version, OS, country and locale,
    traits.

    `events` and `sessions` are relations: the day's sessionized events and sessions, or NO_EVENTS and
    NO_SESSIONS for a day never built."""
    order = "event_time, message_id"
    last = "struct_pack(t := event_time, m := message_id)"
    return f"""
    WITH events AS (SELECT * FROM {restitched_sql(with_country_columns(events), person_map)}),
    sessions AS (SELECT * FROM {restitched_sql(sessions, person_map)}),
    by_events AS (
        SELECT person_id,
               -- A stitched person's id is the user id its ids lead to (identities.person_id_sql).
               CASE WHEN bool_or({IDENTIFIED_SQL}) THEN person_id END AS user_id,
               bool_or({IDENTIFIED_SQL}) AS identified,
               count(*) AS events,
               {", ".join(_dimension_list(column, names) for column, names in DIMENSION_LISTS.items())},
               min(event_time) AS first_event_time,
               max(event_time) AS last_event_time,
               arg_min(platform, {last}) AS first_platform,
               arg_max(platform, {last}) AS last_platform,
               arg_max(app_version, {last}) FILTER (WHERE app_version IS NOT NULL) AS last_app_version,
               arg_max(os_name, {last}) FILTER (WHERE os_name IS NOT NULL) AS last_os_name,
               arg_max(os_version, {last}) FILTER (WHERE os_version IS NOT NULL) AS last_os_version,
               arg_max(locale, {last}) FILTER (WHERE locale IS NOT NULL) AS last_locale,
               arg_max(country, {last}) FILTER (WHERE country IS NOT NULL) AS last_country,
               arg_max(country_method, {last}) FILTER (WHERE country IS NOT NULL) AS last_country_method,
               arg_min(app_version, {last}) FILTER (WHERE app_version IS NOT NULL) AS first_app_version,
               -- The first event's own, none sent included: with first_platform, what retention splits cohorts by.
               arg_min(coalesce(app_version, '{UNKNOWN}'), {last}) AS first_event_app_version,
               arg_min(os_name, {last}) FILTER (WHERE os_name IS NOT NULL) AS first_os_name,
               arg_min(os_version, {last}) FILTER (WHERE os_version IS NOT NULL) AS first_os_version,
               arg_min(locale, {last}) FILTER (WHERE locale IS NOT NULL) AS first_locale,
               arg_min(country, {last}) FILTER (WHERE country IS NOT NULL) AS first_country,
               arg_min(country_method, {last}) FILTER (WHERE country IS NOT NULL) AS first_country_method,
               CAST({_traits_fold("CASE WHEN type = 'identify' THEN CAST(traits AS JSON) END", order)} AS JSON)
                   AS traits,
               max(event_time) FILTER (WHERE type = 'identify' AND traits IS NOT NULL) AS traits_at
        FROM events
        GROUP BY person_id
    ),
    by_sessions AS (
        SELECT person_id, count(*) AS sessions, sum(duration_seconds) AS seconds
        FROM sessions GROUP BY person_id
    )
    SELECT DATE {sql_string(day.isoformat())} AS event_date,
           by_events.person_id, user_id, identified, events,
           coalesce(by_sessions.sessions, 0) AS sessions, coalesce(by_sessions.seconds, 0.0) AS seconds,
           {", ".join(DIMENSION_LISTS)}, first_event_time, last_event_time, first_platform, last_platform,
           last_app_version, last_os_name, last_os_version, last_locale, last_country, last_country_method,
           first_app_version, first_os_name, first_os_version, first_locale, first_country, first_country_method,
           first_event_app_version, traits, traits_at
    FROM by_events LEFT JOIN by_sessions USING (person_id)
    ORDER BY person_id
    """


# Columns of `people` added after its first snapshots were written: an older snapshot reads them as NULL, so a
# person it holds takes the first value sent from the first day built with the column on (rebuilding people from
# its first day gives everyone the value they first sent).
_PEOPLE_DIMENSIONS_ADDED = (
    "country",
    "country_method",
    "first_os_name",
    "first_os_version",
    "first_country",
    "first_locale",
    "first_app_version",
    "first_country_method",
)


def people_query(previous_file: str | None, person_days_file: str, day: date, person_map: str) -> str:
    """The people snapshot of `day`: the snapshot of the day before, re-stitched, merged with the day's people.

    A person merged from several (an anonymous visitor identified as a user) takes the earliest first
    sighting, the latest last one, the sums, and traits merged in the order they were sent.
    """
    typed = ",\n".join(
        f"TRY_CAST(json_extract_string(traits, {sql_string(path)}) AS {kind}) AS {name}"
        for name, (path, kind) in TYPED_TRAITS.items()
    )
    first = "struct_pack(t := first_seen_at, p := person_id)"
    last = "struct_pack(t := last_seen_at, p := person_id)"
    day_sql = f"DATE {sql_string(day.isoformat())}"
    previous = (
        f"""SELECT person_id, user_id, identified, first_seen, last_seen, first_seen_at, last_seen_at,
                   first_platform, last_platform, app_version, os_name, os_version, locale, traits, traits_at,
                   sessions, events, days_active, {", ".join(_PEOPLE_DIMENSIONS_ADDED)}
            FROM ({restitched_sql(parquet(previous_file), person_map)} UNION ALL BY NAME
                  (SELECT {", ".join(f"NULL::VARCHAR AS {name}" for name in _PEOPLE_DIMENSIONS_ADDED)} WHERE false))"""
        if previous_file
        else "SELECT * FROM (SELECT NULL::VARCHAR AS person_id) WHERE false"
    )
    today = f"""
        SELECT person_id, user_id, identified, {day_sql} AS first_seen, {day_sql} AS last_seen,
               first_event_time AS first_seen_at, last_event_time AS last_seen_at,
               first_platform, last_platform, last_app_version AS app_version, last_os_name AS os_name,
               last_os_version AS os_version, last_locale AS locale, traits, traits_at,
               sessions, events, 1 AS days_active,
               last_country AS country, last_country_method AS country_method, first_os_name, first_os_version,
               first_country, first_locale, first_app_version, first_country_method
        FROM {parquet(person_days_file)}
    """
    union = f"({previous}) UNION ALL BY NAME ({today})" if previous_file else today
    return f"""
    WITH rows AS ({union}),
    merged AS (
        SELECT person_id,
               CASE WHEN bool_or(identified) THEN person_id END AS user_id,
               bool_or(identified) AS identified,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               min(first_seen_at) AS first_seen_at, max(last_seen_at) AS last_seen_at,
               arg_min(first_platform, {first}) AS first_platform,
               arg_max(last_platform, {last}) AS last_platform,
               arg_max(app_version, {last}) FILTER (WHERE app_version IS NOT NULL) AS app_version,
               arg_max(os_name, {last}) FILTER (WHERE os_name IS NOT NULL) AS os_name,
               arg_max(os_version, {last}) FILTER (WHERE os_version IS NOT NULL) AS os_version,
               arg_max(locale, {last}) FILTER (WHERE locale IS NOT NULL) AS locale,
               arg_max(country, {last}) FILTER (WHERE country IS NOT NULL) AS country,
               arg_max(country_method, {last}) FILTER (WHERE country IS NOT NULL) AS country_method,
               arg_min(first_os_name, {first}) FILTER (WHERE first_os_name IS NOT NULL) AS first_os_name,
               arg_min(first_os_version, {first}) FILTER (WHERE first_os_version IS NOT NULL) AS first_os_version,
               arg_min(first_country, {first}) FILTER (WHERE first_country IS NOT NULL) AS first_country,
               -- The method of that same first country: NULL where a snapshot from before recorded it without.
               nullif(arg_min(coalesce(first_country_method, ''), {first}) FILTER (WHERE first_country IS NOT NULL),
                      '') AS first_country_method,
               arg_min(first_locale, {first}) FILTER (WHERE first_locale IS NOT NULL) AS first_locale,
               arg_min(first_app_version, {first}) FILTER (WHERE first_app_version IS NOT NULL) AS first_app_version,
               CAST({_traits_fold("traits", "traits_at, person_id")} AS JSON) AS traits,
               max(traits_at) AS traits_at,
               CAST(sum(sessions) AS BIGINT) AS sessions, CAST(sum(events) AS BIGINT) AS events,
               CAST(sum(days_active) AS BIGINT) AS days_active,
               count(*) AS merged_rows
        FROM rows GROUP BY person_id
    )
    SELECT {day_sql} AS snapshot_date, person_id, user_id, identified,
           first_seen, last_seen, first_seen_at, last_seen_at,
           first_platform, last_platform, app_version, os_name, os_version, locale,
           country, country_method, first_os_name, first_os_version, first_country, first_country_method,
           first_locale, first_app_version, {typed},
           traits, traits_at, sessions, events, days_active
    FROM merged
    ORDER BY person_id
    """


@dataclass(frozen=True)
class PeopleCounts:
    """What a day's people snapshot holds, and what it found stale.

    `restitched`: people of the day before now stitched into another person (an identify or alias linked
    them); `restitched_since`: the earliest day any of them was seen. The person days and snapshots from
    that day on were built before the link was known: they are built again from that day (the cascade
    does it), while this snapshot is already right.
    """

    people: int
    distinct_people: int
    new_people: int
    identified: int
    restitched: int
    restitched_since: date | None


def count_people(
    connection: duckdb.DuckDBPyConnection, previous_file: str | None, people_file: str, day: date, person_map: str
) -> PeopleCounts:
    """Count a snapshot's people, its new and identified ones, and the people of `previous_file` re-stitched."""
    people, distinct, new, identified = connection.execute(
        f"""SELECT count(*), count(DISTINCT person_id),
                   count(*) FILTER (WHERE first_seen = DATE {sql_string(day.isoformat())}),
                   count(*) FILTER (WHERE identified) FROM {parquet(people_file)}"""
    ).fetchone()
    restitched, since = 0, None
    if previous_file:
        restitched, since = connection.execute(
            f"""SELECT count(*), min(first_seen) FROM {parquet(previous_file)} AS previous
                JOIN {person_map} AS stitch ON stitch.identity = previous.person_id
                WHERE stitch.person_id <> previous.person_id"""
        ).fetchone()
    return PeopleCounts(people, distinct, new, identified, restitched, since)


@dataclass(frozen=True)
class PersonDayCounts:
    """A day's person days against the sessionized events and sessions they were built from.

    `restitched_events`: events of the day whose ids the identity links now lead to another person than the
    cleaned layer recorded (a late identify or alias). The person days are right already (re-mapped); the
    cleaned day, its sessions and aggregates (`daily_active_users` counting two ids of one person) are stale
    until the day is cleaned again, which the cascade does.
    """

    events: int  # sum over person days
    sessions: int
    sessionized_events: int  # rows of the day's inputs
    day_sessions: int
    restitched_events: int = 0


def count_person_days(
    connection: duckdb.DuckDBPyConnection, person_days_file: str, events: str, sessions: str, person_map: str
) -> PersonDayCounts:
    """Events and sessions the person days hold, those of the day's `events` and `sessions` relations, and the
    events cleaning would now stitch to another person."""
    held_events, held_sessions = connection.execute(
        f"SELECT coalesce(sum(events), 0), coalesce(sum(sessions), 0) FROM {parquet(person_days_file)}"
    ).fetchone()
    (sessionized,) = connection.execute(f"SELECT count(*) FROM {events}").fetchone()
    (day_sessions,) = connection.execute(f"SELECT count(*) FROM {sessions}").fetchone()
    (restitched,) = connection.execute(restitched_events_query(events, person_map)).fetchone()
    return PersonDayCounts(int(held_events), int(held_sessions), sessionized, day_sessions, int(restitched))


def restitched_events_query(events: str, person_map: str) -> str:
    """How many of `events` (cleaned rows) cleaning would give another `person_id` now: the person their user id
    or anonymous id leads to through `person_map` (the same rule as cleaning's, `identities.person_id_sql`)."""
    stitched = person_id_sql("cleaned.user_id", "cleaned.anonymous_id", "by_user", "by_anonymous")
    return f"""
    SELECT count(*) FROM {events} AS cleaned
    LEFT JOIN {person_map} AS by_user ON by_user.identity = cleaned.user_id
    LEFT JOIN {person_map} AS by_anonymous ON by_anonymous.identity = cleaned.anonymous_id
    WHERE {stitched} IS DISTINCT FROM cleaned.person_id
    """
