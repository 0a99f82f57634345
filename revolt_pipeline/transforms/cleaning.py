"""Cleaning: an event day's rows from every raw day that can hold them, typed, deduplicated, stitched.

Every raw row assigned to the day (see `rules.assigned_date_sql`) ends up in exactly one of two
outputs: the cleaned events, or the quarantine with a reason. Nothing is dropped.

Reasons, in the order they are decided:
- `too_late`: received more than the lateness window after it happened;
- `missing_identity`, `missing_event_name`, `unknown_type`: not usable as an event;
- `duplicate`: another delivery of the same messageId was received first (the first one is kept,
  whichever raw day and event day it fell in).

Each event gets the dimensions reports break down by: its context's fields (OS, device, locale, library, ...),
its `ip` (the message's `context.ip`, else the address the collector received it from, as Segment fills it),
and its `country` with the `country_method` that found it (`countries.located_sql`: the country the collector
found from the full address, else the IP as landed, else the time zone).

Personal data configured in `rules.pii` is hashed or dropped from the properties, traits and `context.traits` of
events and from the quarantine's messages (`pii.py`); the raw layer keeps the message as sent.
"""

from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow.parquet as pq

from revolt_pipeline.transforms.countries import located_sql, register_country_lookups
from revolt_pipeline.transforms.engine import parquet, sql_string
from revolt_pipeline.transforms.identities import NO_LINKS, person_id_sql, person_map_query
from revolt_pipeline.transforms.pii import pseudonymized_sql, pseudonymized_text_sql, register_pii_functions
from revolt_pipeline.transforms.rules import PipelineRules, assigned_date_sql, event_time_sql, interval_ms

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
CONTEXT_FIELDS = {
    "app_name": "$.app.name",
    "app_version": "$.app.version",
    "app_build": "$.app.build",
    "device_id": "$.device.id",
    "device_manufacturer": "$.device.manufacturer",
    "device_model": "$.device.model",
    "device_type": "$.device.type",
    "os_name": "$.os.name",
    "os_version": "$.os.version",
    "locale": "$.locale",
    "timezone": "$.timezone",
    "library_name": "$.library.name",
    "library_version": "$.library.version",
    "ip": "$.ip",
    "user_agent": "$.userAgent",
}
REQUIRED_EVENT_COLUMNS = (
    "message_id",
    "type",
    "person_id",
    "event_time",
    "received_at",
    "source",
    "platform",
)


def raw_window(event_date: date, rules: PipelineRules) -> list[date]:
    """Received days whose raw rows can matter to an event day (`PipelineRules.cleaning_window`)."""
    return rules.cleaning_window.days(event_date)


@dataclass(frozen=True)
class CleaningResult:
    events_query: str
    quarantine_query: str
    assigned_rows: int


# Raw columns added since the first raw days were written: an older raw day reads them as NULL.
_LATER_RAW_COLUMNS = ("client_ip", "ip_country", "landed_file")


def _raw_union(raw_files: dict[date, str], columns: list[str] | None = None) -> str:
    """The raw days' rows with their received date and row number: every column, or `columns` only; a column an
    older raw day lacks (`_LATER_RAW_COLUMNS`) is NULL there."""
    parts = []
    for day, path in sorted(raw_files.items()):
        present = set(pq.read_schema(path).names)
        absent = {name: f"NULL::VARCHAR AS {name}" for name in _LATER_RAW_COLUMNS if name not in present}
        if columns is None:
            # `*` holds file_row_number already (read_parquet adds it): named once, as UNION BY NAME requires.
            selected = ", ".join(["* EXCLUDE (file_row_number)", *absent.values()])
        else:
            selected = ", ".join(absent.get(name, name) for name in columns)
        parts.append(
            f"SELECT {selected}, DATE {sql_string(day.isoformat())} AS received_date, file_row_number "
            f"FROM {parquet(path, row_numbers=True)}"
        )
    return (" UNION ALL BY NAME " if columns is None else " UNION ALL ").join(parts)


def clean_events(
    connection: duckdb.DuckDBPyConnection,
    *,
    event_date: date,
    raw_files: dict[date, str],
    link_files: list[str],
    rules: PipelineRules,
) -> CleaningResult:
    """Decide every assigned row's fate, and return the queries that write events and quarantine.

    `raw_files` maps received days of `raw_window(event_date)` to their raw Parquet files (missing
    days are simply absent); `link_files` are the identity-link files of every raw day so far.
    """
    if not raw_files:
        raise ValueError("cleaning needs at least one raw file (an empty one will do)")
    day = f"DATE {sql_string(event_date.isoformat())}"
    light = [
        "message_id",
        "type",
        "user_id",
        "anonymous_id",
        "event_name",
        "received_at",
        "timestamp",
        "collector",
        "landed_file",
    ]
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE decisions AS
        WITH timed AS (
            SELECT *, {event_time_sql()} AS event_time,
                   received_at - {event_time_sql()} > {interval_ms(rules.lateness)} AS too_late,
                   {assigned_date_sql(rules)} AS assigned_date
            FROM ({_raw_union(raw_files, light)})
        ),
        rows AS (
            SELECT *,
                CASE
                    WHEN too_late THEN 'too_late'
                    WHEN user_id IS NULL AND anonymous_id IS NULL THEN 'missing_identity'
                    WHEN type NOT IN {tuple(MESSAGE_TYPES)} THEN 'unknown_type'
                    WHEN type = 'track' AND (event_name IS NULL OR trim(event_name) = '') THEN 'missing_event_name'
                END AS invalid_reason
            FROM timed
        ),
        mine AS (SELECT * FROM rows WHERE assigned_date = {day}),
        firsts AS (
            -- The first valid delivery of each of the day's messages, wherever it was assigned. Two received in
            -- one millisecond by one collector: the earlier landed file's (after the collector's id, its name holds
            -- the segment's start time), then the earlier line; not raw's row order, which an engine's shuffle may
            -- decide.
            SELECT message_id,
                   arg_min(struct_pack(received_date := received_date, row_number := file_row_number),
                           struct_pack(at := received_at, c := collector, d := received_date, f := landed_file,
                                       r := file_row_number))
                       AS first
            FROM rows
            WHERE invalid_reason IS NULL
              AND message_id IN (SELECT message_id FROM mine WHERE invalid_reason IS NULL)
            GROUP BY message_id
        ),
        judged AS (
            SELECT mine.*, firsts.first.received_date AS first_received_date,
                   firsts.first.received_date = mine.received_date
                       AND firsts.first.row_number = mine.file_row_number AS is_first
            FROM mine LEFT JOIN firsts USING (message_id)
        )
        SELECT received_date, file_row_number, message_id,
               coalesce(invalid_reason, CASE WHEN NOT is_first THEN 'duplicate' END) AS reason,
               CASE WHEN invalid_reason IS NULL AND NOT is_first
                    THEN 'first delivery received ' || CAST(first_received_date AS VARCHAR) END AS detail
        FROM judged
        """
    )
    assigned_rows = connection.execute("SELECT count(*) FROM decisions").fetchone()[0]
    links = parquet(link_files) if link_files else f"(SELECT {NO_LINKS})"
    connection.execute(f"CREATE OR REPLACE TEMP TABLE people AS {person_map_query(links)}")
    full = _raw_union(raw_files)
    register_country_lookups(connection)
    pii = register_pii_functions(connection, rules.pii) if rules.pii.active else {}
    documents = ", ".join(
        f"{pseudonymized_sql(rules.pii, pii, name, name)} AS {name}" for name in ("properties", "traits", "context")
    )
    context_paths = ", ".join(sql_string(path) for path in CONTEXT_FIELDS.values())
    # Segment's API fills context.ip from the request when the message has none: so does cleaning, from the
    # address the collector recorded (a message's `0.0.0.0`, sent to withhold it, stays).
    context_columns = ",\n".join(
        f"coalesce(context_fields[{n + 1}], client_ip) AS {name}"
        if name == "ip"
        else f"context_fields[{n + 1}] AS {name}"
        for n, name in enumerate(CONTEXT_FIELDS)
    )
    events_query = f"""
        WITH kept AS (
            SELECT raw.*, json_extract_string(raw.context, [{context_paths}]) AS context_fields
            FROM decisions JOIN ({full}) AS raw USING (received_date, file_row_number)
            WHERE decisions.reason IS NULL
        ),
        fields AS (SELECT * EXCLUDE (context_fields, ip_country), ip_country AS landed_country, {context_columns}
                   FROM kept)
        SELECT message_id, type, event_name,
               {person_id_sql("kept.user_id", "kept.anonymous_id", "by_user", "by_anonymous")} AS person_id,
               user_id, anonymous_id,
               {event_time_sql()} AS event_time, original_timestamp, sent_at, received_at, received_date,
               clock_skew_ms, timestamp > received_at AS timestamp_clamped,
               source, platform, collector,
               {", ".join(CONTEXT_FIELDS)}, country, country_method,
               group_id, previous_id, {documents}
        FROM {located_sql("fields", "ip", "timezone", "landed_country")} AS kept
        LEFT JOIN people AS by_user ON by_user.identity = kept.user_id
        LEFT JOIN people AS by_anonymous ON by_anonymous.identity = kept.anonymous_id
    """
    quarantine_query = f"""
        SELECT decisions.message_id, raw.type, decisions.reason, decisions.detail, raw.received_date,
               raw.received_at, raw.timestamp, raw.source, raw.platform, raw.collector,
               {pseudonymized_text_sql(rules.pii, pii, "raw.message")} AS message
        FROM decisions JOIN ({full}) AS raw USING (received_date, file_row_number)
        WHERE decisions.reason IS NOT NULL
        ORDER BY decisions.reason, raw.received_at, decisions.message_id
    """
    return CleaningResult(events_query, quarantine_query, assigned_rows)


@dataclass(frozen=True)
class CleanedCounts:
    """What the checks of a cleaned day look at."""

    distinct_message_ids: int
    null_counts: dict[str, int]  # required column -> events where it is null
    quarantined: dict[str, int]  # reason -> rows, by reason


def count_cleaned(connection: duckdb.DuckDBPyConnection, events_file: str, quarantine_file: str) -> CleanedCounts:
    """Distinct messageIds and nulls of the required columns among a day's events; its quarantine by reason."""
    nulls = ", ".join(f"count(*) FILTER (WHERE {column} IS NULL)" for column in REQUIRED_EVENT_COLUMNS)
    distinct, *null_counts = connection.execute(
        f"SELECT count(DISTINCT message_id), {nulls} FROM {parquet(events_file)}"
    ).fetchone()
    quarantined = connection.execute(
        f"SELECT reason, count(*) FROM {parquet(quarantine_file)} GROUP BY reason ORDER BY reason"
    ).fetchall()
    return CleanedCounts(
        distinct_message_ids=distinct,
        null_counts=dict(zip(REQUIRED_EVENT_COLUMNS, null_counts, strict=True)),
        quarantined=dict(quarantined),
    )
