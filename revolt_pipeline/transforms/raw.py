"""Raw layer: a received day's landed JSON Lines become one Parquet table, profiled like a Glue crawler."""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pyarrow.parquet as pq

from revolt_pipeline.transforms.engine import copy_to_parquet_sql, parquet, sql_list, sql_string
from revolt_pipeline.transforms.pii import LIKELY_PII_KINDS, PiiRules, likely_pii_kind, likely_pii_sql
from revolt_pipeline.transforms.report_text import ReportText, made_safe_counts_query
from revolt_pipeline.transforms.rules import PipelineRules, assigned_date_sql

# The landed record (docs/event-contract.md), read with declared types: nothing is inferred per file.
# `message` is not among them: it is cut out of the line as sent (see `raw_events_query`).
LANDED_COLUMNS = {
    "messageId": "VARCHAR",
    "type": "VARCHAR",
    "receivedAt": "BIGINT",
    "sentAt": "BIGINT",
    "originalTimestamp": "BIGINT",
    "timestamp": "BIGINT",
    "clockSkewMs": "BIGINT",
    "source": "VARCHAR",
    "platform": "VARCHAR",
    "collector": "VARCHAR",
    "messageIdGenerated": "BOOLEAN",
    "batchContext": "JSON",
    "clientIp": "VARCHAR",
    "ipCountry": "VARCHAR",
    "messageBytes": "BIGINT",
}
# A landed line is one valid JSON text, so it never holds the byte 0x01 (control characters are escaped
# in strings and are no whitespace outside them): with it as the delimiter and quoting off, the CSV
# reader hands over each line untouched. Lines are bounded by the collector's limits (a message, plus a
# batch's context within the batch limit); 16 MB is what read_json allowed per object.
MAX_LANDED_LINE_BYTES = 16 * 1024 * 1024
REQUIRED_COLUMNS = (
    "message_id",
    "type",
    "received_at",
    "timestamp",
    "source",
    "platform",
    "collector",
    "message",
)
JSON_TYPES = {
    "BIGINT": "integer",
    "UBIGINT": "integer",
    "DOUBLE": "number",
    "VARCHAR": "string",
    "BOOLEAN": "boolean",
    "NULL": "null",
    "OBJECT": "object",
    "ARRAY": "array",
}
# The catalog's names as event_catalog holds them (see report_text), from `_catalog_entries_query`'s columns.
CATALOG_TEXT = (
    ReportText("event_type", "type"),
    ReportText("event_name", "coalesce(event_name, type)"),
    ReportText("property", "property"),
)


def _landed_columns_json() -> str:
    return sql_string(json.dumps(LANDED_COLUMNS))


def landed_lines_sql(landed_files: list[str]) -> str:
    """The landed files' lines as one VARCHAR column, each untouched (see `MAX_LANDED_LINE_BYTES`), and the
    path of the file each came from (`filename`)."""
    return (
        f"read_csv({sql_list(landed_files)}, columns = {{'line': 'VARCHAR'}}, delim = {sql_string(chr(1))}, "
        f"quote = '', escape = '', header = false, auto_detect = false, new_line = '\\n', "
        f"compression = 'gzip', max_line_size = {MAX_LANDED_LINE_BYTES}, filename = true)"
    )


def raw_events_query(landed_files: list[str]) -> str:
    """SELECT of the raw table from landed files: typed envelope, identity and names pulled out of the message.

    `message` is the text exactly as landed (the client's bytes, less any write key, line breaks as
    spaces): cut out of the line by `messageBytes`, since a JSON reader would re-serialize it (`1.10`
    becomes `1.1`, `1E+2` becomes `100.0`). Lines landed before `messageBytes` existed fall back to
    that re-serialized form. `context` is the message's merged over the batch's (the message wins),
    `properties` and `traits` are the message's; all three stay JSON, so nothing an app sent is lost
    to a schema. `landed_file` is the landed object's name, wherever the day was read from: with the row's
    place in it, it orders deliveries whatever order an engine wrote raw's rows in (cleaning's tie-breaker).
    """
    return f"""
    WITH records AS (
        SELECT json_transform(line, {_landed_columns_json()}) AS record, line, filename
        FROM {landed_lines_sql(landed_files)}
    ),
    sent AS (
        SELECT record.*, filename,
            CASE WHEN record.messageBytes IS NULL THEN CAST(json_extract(line, '$.message') AS VARCHAR)
                 ELSE decode(array_slice(encode(line), strlen(line) - record.messageBytes, strlen(line) - 1))
            END AS message
        FROM records
    ),
    landed AS (
        SELECT *,
            json_extract_string(message, ['$.userId', '$.anonymousId', '$.event', '$.name',
                                          '$.previousId', '$.groupId']) AS ids,
            json_extract(message, ['$.context', '$.properties', '$.traits']) AS documents
        FROM sent
    )
    SELECT
        messageId AS message_id,
        type,
        make_timestamptz(receivedAt * 1000) AS received_at,
        make_timestamptz(sentAt * 1000) AS sent_at,
        make_timestamptz(originalTimestamp * 1000) AS original_timestamp,
        make_timestamptz(timestamp * 1000) AS timestamp,
        clockSkewMs AS clock_skew_ms,
        source,
        platform,
        collector,
        messageIdGenerated AS message_id_generated,
        ids[1] AS user_id,
        ids[2] AS anonymous_id,
        CASE type WHEN 'track' THEN ids[3] WHEN 'page' THEN ids[4] WHEN 'screen' THEN ids[4] END AS event_name,
        ids[5] AS previous_id,
        ids[6] AS group_id,
        CASE WHEN batchContext IS NULL OR json_type(batchContext) <> 'OBJECT' THEN documents[1]
             ELSE json_merge_patch(batchContext, coalesce(documents[1], '{{}}'::JSON)) END AS context,
        documents[2] AS properties,
        documents[3] AS traits,
        message,
        batchContext AS batch_context,
        clientIp AS client_ip,
        ipCountry AS ip_country,
        regexp_extract(filename, '[^/]+$', 0) AS landed_file
    FROM landed
    """


def consolidate_landed(connection: duckdb.DuckDBPyConnection, landed_files: list[str], output_path: str) -> int:
    """Write a received day's landed files as one zstd Parquet file; returns its row count.

    Streams from gzip JSON Lines to Parquet inside DuckDB, so a day never has to fit in memory.
    """
    if not landed_files:
        connection.execute(
            f"COPY (SELECT * FROM ({raw_events_query(['/dev/null'])}) LIMIT 0) "
            f"TO {sql_string(output_path)} (FORMAT parquet)"
        )
        return 0
    connection.execute(copy_to_parquet_sql(raw_events_query(landed_files), output_path))
    return pq.ParquetFile(output_path).metadata.num_rows


@dataclass
class RawProfile:
    """What the crawler learns about a received day."""

    rows: int
    null_counts: dict[str, int]
    rows_by_assigned_date: dict[str, int]
    rows_by_type: dict[str, int]
    catalog: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # event -> property -> type -> n
    catalog_made_safe: dict[str, int] = field(default_factory=dict)  # catalog column -> distinct values changed
    event_counts: dict[str, int] = field(default_factory=dict)  # event (as the catalog names it) -> events sent
    likely_pii: "Catalog" = field(default_factory=dict)  # event -> property -> kind -> string values that look it

    @property
    def assigned_dates(self) -> list[str]:
        """The cleaning partitions this day's rows belong to: what the downstream must (re)build."""
        return sorted(self.rows_by_assigned_date)


def profile_raw(
    connection: duckdb.DuckDBPyConnection, raw_path: str, received_date: date, rules: PipelineRules
) -> RawProfile:
    """Counts, null counts of required columns, assigned days, and per event the property keys and types.

    The catalog's event and property names are made fit for the report database, and counted when changed.
    """
    day = sql_string(received_date.isoformat())
    source = f"(SELECT *, DATE {day} AS received_date FROM {parquet(raw_path)})"
    rows, null_counts = _null_counts(raw_path)
    by_date = connection.execute(
        f"SELECT CAST({assigned_date_sql(rules)} AS VARCHAR) AS day, count(*) FROM {source} GROUP BY day"
    ).fetchall()
    by_type = connection.execute(f"SELECT type, count(*) FROM {source} GROUP BY type").fetchall()
    catalog: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    # Grouped by the names as sent (far fewer rows than events), then made safe and merged: one pass over the JSON.
    connection.execute(f"CREATE OR REPLACE TEMP TABLE catalog_entries AS {_catalog_entries_query(source)}")
    names = ", ".join(text.sql for text in CATALOG_TEXT)
    entries = connection.execute(f"SELECT {names}, json_type, sum(events) FROM catalog_entries GROUP BY ALL").fetchall()
    counts = connection.execute(made_safe_counts_query("catalog_entries", CATALOG_TEXT)).fetchone()
    made_safe = dict(zip([text.column for text in CATALOG_TEXT], counts, strict=True))
    events = connection.execute(
        f"SELECT {CATALOG_TEXT[0].sql}, {CATALOG_TEXT[1].sql}, count(*) FROM {source} GROUP BY ALL"
    ).fetchall()
    for event_type, event_name, key, json_type, count in entries:
        event_key = f"{event_type}:{event_name}"
        kind = JSON_TYPES.get(json_type, json_type.lower())
        catalog[event_key][key][kind] = catalog[event_key][key].get(kind, 0) + count
    return RawProfile(
        rows=rows,
        null_counts=null_counts,
        rows_by_assigned_date=dict(sorted(by_date)),
        rows_by_type=dict(sorted(by_type)),
        catalog={event: {key: dict(types) for key, types in props.items()} for event, props in catalog.items()},
        catalog_made_safe=made_safe,
        event_counts={f"{event_type}:{event_name}": count for event_type, event_name, count in sorted(events)},
        likely_pii=_likely_pii_catalog(connection),
    )


def _catalog_entries_query(source: str) -> str:
    """Per event type and name, property (traits for identify and group) and JSON type: how many events, and how
    many of their string values look like each kind of personal data (`pii.likely_pii_sql`)."""
    return f"""
        SELECT type, event_name, property, json_type, count(*) AS events, {_likely_pii_counts_sql()}
        FROM (
            SELECT documents.type, documents.event_name, entry.key AS property, entry.type AS json_type,
                   {_likely_pii_of_entry_sql("entry")} AS likely_pii
            FROM (SELECT type, event_name,
                         CASE WHEN type IN ('identify', 'group') THEN traits ELSE properties END AS document
                  FROM {source}) AS documents,
                 json_each(documents.document) AS entry
            WHERE json_type(documents.document) = 'OBJECT'
        )
        GROUP BY ALL
    """


def _null_counts(path: str) -> tuple[int, dict[str, int]]:
    """Rows and nulls of the required columns, from the Parquet statistics: no column is read."""
    metadata = pq.ParquetFile(path).metadata
    names = [metadata.schema.column(index).name for index in range(metadata.num_columns)]
    counts = dict.fromkeys(REQUIRED_COLUMNS, 0)
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for column in REQUIRED_COLUMNS:
            statistics = row_group.column(names.index(column)).statistics
            if statistics is None or not statistics.has_null_count:
                raise ValueError(f"{path} has no null counts for {column}; it was not written by consolidate_landed")
            counts[column] += statistics.null_count
    return metadata.num_rows, counts


# JSON types holding the same kind of value: a count sent as 3 one day and 2.5 the next is still a number,
# and every reader of the property (DuckDB, the report database, a BI tool) reads both alike.
TYPE_FAMILIES = {"integer": "number", "number": "number"}
# A property that was there before is taken as vanished when, had the apps kept sending it as often as in
# the history, a day without it would happen by chance less than once in this many days.
VANISHED_BELOW_CHANCE = 0.001

Catalog = dict[str, dict[str, dict[str, int]]]  # event -> property -> JSON type -> events carrying it


def type_families(types: dict[str, int]) -> set[str]:
    """The kinds of value a property was sent with; `null` is none (an optional property is sometimes null)."""
    return {TYPE_FAMILIES.get(kind, kind) for kind, count in types.items() if kind != "null" and count}


def estimate_event_counts(catalog: Catalog) -> dict[str, int]:
    """Events sent per event, from a catalog alone (profiles written before they counted events): at
    least as many as carried its most common property."""
    return {
        event: max((sum(types.values()) for types in properties.values()), default=0)
        for event, properties in catalog.items()
    }


@dataclass(frozen=True)
class Drift:
    """How a day's properties differ from the days before, and which differences an analyst must act on.

    `retyped` and `vanished` are drift: a property now sent as another kind of value (a number as a
    string) breaks every query and report that reads it; a property apps always sent, missing from an
    event still sent in volume, is a release that stopped sending it. `new` properties are news, not
    drift: nothing that reads the old ones breaks.
    """

    new: list[tuple[str, str]]
    vanished: list[tuple[str, str]]
    retyped: list[tuple[str, str, list[str], list[str]]]  # event, property, kinds before, kinds new today
    details: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.vanished or self.retyped)

    def findings(self) -> list[str]:
        """One line per drifting property, saying what changed."""
        retyped = [
            f"retyped {event}.{key}: sent as {' | '.join(after)}, before only as {' | '.join(before)}"
            for event, key, before, after in self.retyped
        ]
        vanished = [
            f"vanished {event}.{key}: {self.details.get((event, key), 'no longer sent')}"
            for event, key in self.vanished
        ]
        return retyped + vanished


def compare_catalogs(
    today: Catalog,
    history: Catalog,
    *,
    today_events: dict[str, int] | None = None,
    history_events: dict[str, int] | None = None,
) -> Drift:
    """A day's properties against the days before, for the events sent both today and before.

    - retyped: a property sent today as a kind of value it never had before (integer and fractional
      numbers are one kind, `number`; null is none);
    - vanished: a property absent today (or only null) from an event sent today, when the share of that
      event's occurrences that carried it before makes a day without it very unlikely by chance
      (`VANISHED_BELOW_CHANCE`): a property every event carried vanishes on the first day it is missing,
      an optional one (sent with a tenth of the events) only once hundreds of events came without it;
    - new: a property sent today, never before (news, not drift).

    `today_events` and `history_events` count the events sent per event; without them they are
    estimated from the catalogs (`estimate_event_counts`).
    """
    today_events = today_events if today_events is not None else estimate_event_counts(today)
    history_events = history_events if history_events is not None else estimate_event_counts(history)
    new, vanished, retyped, details = [], [], [], {}
    for event in sorted(set(today) | {name for name, count in today_events.items() if count}):
        known = history.get(event)
        if not known:
            continue  # a new event is news, not drift of an existing one
        properties = today.get(event, {})
        sent_today = max(today_events.get(event, 0), max((sum(t.values()) for t in properties.values()), default=0))
        sent_before = max(history_events.get(event, 0), max(sum(t.values()) for t in known.values()))
        for key in sorted(set(properties) - set(known)):
            new.append((event, key))
        for key, types_before in sorted(known.items()):
            before = type_families(types_before)
            after = type_families(properties.get(key, {}))
            if before and after - before:
                retyped.append((event, key, sorted(before), sorted(after - before)))
            carried_before = sum(count for kind, count in types_before.items() if kind != "null")
            if after or not carried_before or not sent_today:
                continue
            share = min(1.0, carried_before / sent_before)
            if (1.0 - share) ** sent_today < VANISHED_BELOW_CHANCE:
                vanished.append((event, key))
                details[(event, key)] = (
                    f"carried by {carried_before:,} of {sent_before:,} events before, by none of today's {sent_today:,}"
                )
    return Drift(new, vanished, retyped, details)


def merge_catalogs(catalogs: list[Catalog]) -> Catalog:
    merged: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for catalog in catalogs:
        for event, properties in catalog.items():
            for key, types in properties.items():
                for kind, count in types.items():
                    merged[event][key][kind] = merged[event][key].get(kind, 0) + count
    return {event: {key: dict(types) for key, types in props.items()} for event, props in merged.items()}


def merge_event_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = defaultdict(int)
    for day in counts:
        for event, count in day.items():
            merged[event] += count
    return dict(merged)


def catalog_rows(
    received_date: date, catalog: dict[str, dict[str, dict[str, int]]], likely_pii: Catalog | None = None
) -> list[dict[str, Any]]:
    """The catalog as rows of the event_catalog report table, with the scanner's findings (`likely_pii` of the
    profile; profiles written before it have none)."""
    rows = []
    for event_key, properties in sorted(catalog.items()):
        event_type, _, event_name = event_key.partition(":")
        for key, types in sorted(properties.items()):
            for kind, count in sorted(types.items()):
                rows.append(
                    {
                        "received_date": received_date,
                        "event_type": event_type,
                        "event_name": event_name,
                        "property": key,
                        "json_type": kind,
                        "events": count,
                        **_likely_pii_columns(likely_pii or {}, event_key, key, kind, count),
                    }
                )
    return rows


# The PII scanner's part of the catalog (issue 12): string values that look like emails, phone numbers, IP
# addresses or card numbers, counted per property (`transforms/pii.py` says what each kind is).
def _likely_pii_of_entry_sql(entry: str) -> str:
    text = f"({entry}.value ->> '$')"
    return f"CASE WHEN {entry}.type = 'VARCHAR' THEN {likely_pii_sql(text)} END"


def _likely_pii_counts_sql() -> str:
    return ", ".join(f"count(*) FILTER (WHERE likely_pii = '{kind}') AS {kind}_values" for kind in LIKELY_PII_KINDS)


def _likely_pii_catalog(connection: duckdb.DuckDBPyConnection) -> Catalog:
    """From `catalog_entries`: per event and property (names as the catalog holds them), the string values that
    look like each kind of personal data; properties with none are left out."""
    names = ", ".join(text.sql for text in CATALOG_TEXT)
    counts = ", ".join(f"sum({kind}_values)" for kind in LIKELY_PII_KINDS)
    rows = connection.execute(f"SELECT {names}, {counts} FROM catalog_entries GROUP BY ALL").fetchall()
    found: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for event_type, event_name, key, *kinds in rows:
        seen = {kind: int(count) for kind, count in zip(LIKELY_PII_KINDS, kinds, strict=True) if count}
        if seen:
            found[f"{event_type}:{event_name}"][key] = seen
    return dict(found)


def likely_pii_findings(catalog: Catalog, likely_pii: Catalog, rules: PiiRules) -> list[str]:
    """One line per property whose string values look personal (`pii.likely_pii_kind`) while cleaning neither
    hashes nor drops its key: what the check `no_unhashed_pii` warns of."""
    findings = []
    for event, properties in sorted(likely_pii.items()):
        scope = "traits" if event.split(":", 1)[0] in ("identify", "group") else "properties"
        for key, kinds in sorted(properties.items()):
            strings = catalog.get(event, {}).get(key, {}).get("string", 0)
            kind = likely_pii_kind(kinds, strings)
            if kind is not None and not rules.covers(scope, key):
                findings.append(
                    f"{event} {scope}.{key}: {kinds[kind]:,} of {strings:,} values look like {kind}s, and cleaning "
                    "keeps them (REVOLT_PII_HASH_KEYS, REVOLT_PII_DROP_KEYS)"
                )
    return findings


def _likely_pii_columns(likely_pii: Catalog, event: str, key: str, json_type: str, events: int) -> dict[str, Any]:
    kinds = likely_pii.get(event, {}).get(key, {}) if json_type == "string" else {}
    return {"likely_pii": likely_pii_kind(kinds, events), "likely_pii_values": sum(kinds.values())}
