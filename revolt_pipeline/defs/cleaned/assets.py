"""Cleaned events, their quarantine, sessions, and daily aggregates: Hive-partitioned Parquet by day.

A run can cover several days (a cascade after late data, a backfill): every day's events are
rebuilt before any day's sessions, since sessions read their neighbouring days.
"""

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import Timings, parquet_metadata, per_partition_table
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.raw.assets import raw_events
from revolt_pipeline.defs.rules import RulesResource
from revolt_pipeline.storage.layout import (
    IDENTITY_LINKS,
    aggregate_key,
    events_key,
    events_quarantine_key,
    raw_events_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline.transforms.aggregates import (
    daily_active_users_query,
    events_daily_query,
    session_duration_histogram_query,
    sessions_daily_query,
)
from revolt_pipeline.transforms.cleaning import REQUIRED_EVENT_COLUMNS, clean_events, raw_window
from revolt_pipeline.transforms.engine import duckdb_connection, sql_string
from revolt_pipeline.transforms.raw import consolidate_landed
from revolt_pipeline.transforms.sessions import (
    session_window,
    sessionize_query,
    sessionized_events_query,
    sessions_query,
)

OWNERS = ["team:analytics-platform"]
EVENT_PREVIEW = ["message_id", "type", "event_name", "person_id", "event_time", "platform", "app_version"]
AGGREGATES = {
    "daily_active_users": daily_active_users_query,
    "sessions_daily": sessions_daily_query,
    "events_daily": events_daily_query,
    "session_duration_histogram": session_duration_histogram_query,
}


def _copy(connection: Any, query: str, path: str) -> None:
    connection.execute(f"COPY ({query}) TO {sql_string(path)} (FORMAT parquet, COMPRESSION zstd)")


def _rows(path: str) -> int:
    return pq.ParquetFile(path).metadata.num_rows


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "events",
            group_name="cleaned",
            description="Events by the day they happened (UTC): typed, skew-corrected, clamped, deduplicated "
            "by messageId across raw days, identities stitched into person_id.",
            deps=[
                dg.AssetDep(
                    raw_events,
                    partition_mapping=dg.TimeWindowPartitionMapping(
                        start_offset=-1, end_offset=3, allow_nonexistent_upstream_partitions=True
                    ),
                )
            ],
            kinds={"parquet", "duckdb"},
            owners=OWNERS,
            tags={"layer": "cleaned"},
        ),
        dg.AssetSpec(
            "events_quarantine",
            group_name="cleaned",
            description="Rows that could not be cleaned, each with its reason (too_late, duplicate, ...).",
            deps=[
                dg.AssetDep(
                    raw_events,
                    partition_mapping=dg.TimeWindowPartitionMapping(
                        start_offset=-1, end_offset=3, allow_nonexistent_upstream_partitions=True
                    ),
                )
            ],
            kinds={"parquet", "duckdb"},
            owners=OWNERS,
            tags={"layer": "cleaned"},
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec("unique_message_id", asset="events", description="No messageId twice in a day."),
        dg.AssetCheckSpec(
            "required_columns_not_null",
            asset="events",
            description="messageId, type, person, time, source and platform are set.",
        ),
        dg.AssetCheckSpec(
            "reconciled_with_raw",
            asset="events",
            description="Raw rows assigned to the day = cleaned events + quarantined rows.",
        ),
    ],
)
def cleaned_events(context: dg.AssetExecutionContext, lake: LakeResource, rules: RulesResource) -> Any:
    """Clean every day of the run: raw rows of the days that can hold them, in, events and quarantine out."""
    timings = Timings()
    pipeline_rules = rules.rules()
    per_day: dict[str, dict[str, int]] = {}
    problems: dict[str, list[str]] = {"unique": [], "nulls": [], "reconciliation": []}
    metadata: dict[str, dict[str, Any]] = {}
    link_keys = [info.key for info in lake.store.list(IDENTITY_LINKS)]
    with (
        tempfile.TemporaryDirectory(prefix="revolt-clean-") as folder,
        duckdb_connection() as connection,
        lake.local_files(link_keys) as link_files,
    ):
        empty_raw = str(Path(folder) / "empty.parquet")
        consolidate_landed(connection, [], empty_raw)
        for key in context.partition_keys:
            day = date.fromisoformat(key)
            window = [d for d in raw_window(day, pipeline_rules) if lake.store.exists(raw_events_key(d))]
            with timings.step("clean"), lake.local_files([raw_events_key(d) for d in window]) as raw_paths:
                raw_files = dict(zip(window, raw_paths, strict=True)) or {day: empty_raw}
                result = clean_events(
                    connection,
                    event_date=day,
                    raw_files=raw_files,
                    link_files=link_files,
                    rules=pipeline_rules,
                )
                events_path = str(Path(folder) / f"events-{key}.parquet")
                quarantine_path = str(Path(folder) / f"quarantine-{key}.parquet")
                _copy(connection, result.events_query, events_path)
                _copy(connection, result.quarantine_query, quarantine_path)
            with timings.step("check"):
                events_count, distinct_ids, *nulls = connection.execute(
                    "SELECT count(*), count(DISTINCT message_id), "
                    + ", ".join(f"count(*) FILTER (WHERE {c} IS NULL)" for c in REQUIRED_EVENT_COLUMNS)
                    + f" FROM read_parquet({sql_string(events_path)})"
                ).fetchone()
                reasons = dict(
                    connection.execute(
                        f"SELECT reason, count(*) FROM read_parquet({sql_string(quarantine_path)}) GROUP BY reason"
                    ).fetchall()
                )
            quarantined = sum(reasons.values())
            if distinct_ids != events_count:
                problems["unique"].append(f"{key}: {events_count - distinct_ids} repeated messageIds")
            problems["nulls"] += [
                f"{key}: {column} null in {n} rows"
                for column, n in zip(REQUIRED_EVENT_COLUMNS, nulls, strict=True)
                if n
            ]
            if result.assigned_rows != events_count + quarantined:
                problems["reconciliation"].append(
                    f"{key}: raw {result.assigned_rows} != events {events_count} + quarantined {quarantined}"
                )
            with timings.step("write"):
                lake.store.put_file(events_key(day), events_path)
                lake.store.put_file(events_quarantine_key(day), quarantine_path)
            per_day[key] = {
                "raw_rows": result.assigned_rows,
                "events": events_count,
                "quarantined": quarantined,
                **{f"quarantined_{reason}": n for reason, n in sorted(reasons.items())},
            }
            metadata["events"] = parquet_metadata(events_path, lake.store.uri(events_key(day)), EVENT_PREVIEW)
            metadata["events_quarantine"] = parquet_metadata(
                quarantine_path,
                lake.store.uri(events_quarantine_key(day)),
                ["message_id", "type", "reason", "detail", "received_date", "source"],
            )
    shared = {"partitions": per_partition_table(per_day), **timings.metadata()}
    yield dg.MaterializeResult(
        asset_key="events",
        metadata={
            **metadata["events"],
            **shared,
            "dagster/row_count": sum(v["events"] for v in per_day.values()),
        },
    )
    yield dg.MaterializeResult(
        asset_key="events_quarantine",
        metadata={
            **metadata["events_quarantine"],
            **shared,
            "dagster/row_count": sum(v["quarantined"] for v in per_day.values()),
        },
    )
    for name, found in (
        ("unique_message_id", problems["unique"]),
        ("required_columns_not_null", problems["nulls"]),
        ("reconciled_with_raw", problems["reconciliation"]),
    ):
        yield dg.AssetCheckResult(
            asset_key="events",
            check_name=name,
            passed=not found,
            metadata={"partitions": sorted(per_day), "problems": dg.MetadataValue.json(found[:200])},
        )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "sessionized_events",
            group_name="cleaned",
            description="Cleaned events of the day with the session each belongs to (which may have started "
            "the day before).",
            deps=[
                dg.AssetDep(
                    "events",
                    partition_mapping=dg.TimeWindowPartitionMapping(
                        start_offset=-1, end_offset=1, allow_nonexistent_upstream_partitions=True
                    ),
                )
            ],
            kinds={"parquet", "duckdb"},
            owners=OWNERS,
            tags={"layer": "cleaned"},
        ),
        dg.AssetSpec(
            "sessions",
            group_name="cleaned",
            description="Sessions by the day they start: 30-minute inactivity timeout, never split at midnight, "
            "cut and flagged beyond 24 hours (both configurable).",
            deps=[
                dg.AssetDep(
                    "events",
                    partition_mapping=dg.TimeWindowPartitionMapping(
                        start_offset=-1, end_offset=1, allow_nonexistent_upstream_partitions=True
                    ),
                )
            ],
            kinds={"parquet", "duckdb"},
            owners=OWNERS,
            tags={"layer": "cleaned"},
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            "session_bounds_consistent",
            asset="sessions",
            description="start <= end, duration = end - start <= maximum, >= 1 event, starts that day.",
        ),
        dg.AssetCheckSpec(
            "every_event_in_a_session",
            asset="sessionized_events",
            description="As many sessionized events as cleaned events, each with a session.",
        ),
    ],
)
def sessionized(context: dg.AssetExecutionContext, lake: LakeResource, rules: RulesResource) -> Any:
    """Sessionize each day of the run from the cleaned events of the day before, the day, and the day after."""
    timings = Timings()
    pipeline_rules = rules.rules()
    per_day: dict[str, dict[str, int]] = {}
    problems: dict[str, list[str]] = {"bounds": [], "coverage": []}
    metadata: dict[str, dict[str, Any]] = {}
    max_seconds = pipeline_rules.max_session_length.total_seconds()
    with tempfile.TemporaryDirectory(prefix="revolt-sessions-") as folder, duckdb_connection() as connection:
        for key in context.partition_keys:
            day = date.fromisoformat(key)
            window = [d for d in session_window(day) if lake.store.exists(events_key(d))]
            if day not in window:
                raise dg.Failure(f"no cleaned events for {key}: materialize `events` for it first")
            with timings.step("sessionize"), lake.local_files([events_key(d) for d in window]) as paths:
                connection.execute(
                    "CREATE OR REPLACE TEMP TABLE sessionized AS "
                    + sessionize_query(dict(zip(window, paths, strict=True)), pipeline_rules)
                )
                events_path = str(Path(folder) / f"sessionized-{key}.parquet")
                sessions_path = str(Path(folder) / f"sessions-{key}.parquet")
                _copy(connection, sessionized_events_query("sessionized", day), events_path)
                _copy(connection, sessions_query("sessionized", day), sessions_path)
                cleaned = _rows(paths[window.index(day)])
            with timings.step("check"):
                bad_bounds = connection.execute(
                    f"""SELECT count(*) FROM read_parquet({sql_string(sessions_path)})
                        WHERE session_end < session_start OR events < 1 OR duration_seconds > {max_seconds}
                           OR abs(duration_seconds - epoch_ms(session_end - session_start) / 1000.0) > 0.001
                           OR CAST(session_start AS DATE) <> DATE {sql_string(key)}"""
                ).fetchone()[0]
                sessionized_rows, without_session = connection.execute(
                    f"SELECT count(*), count(*) FILTER (WHERE session_id IS NULL) "
                    f"FROM read_parquet({sql_string(events_path)})"
                ).fetchone()
            if bad_bounds:
                problems["bounds"].append(f"{key}: {bad_bounds} sessions with inconsistent bounds")
            if sessionized_rows != cleaned or without_session:
                problems["coverage"].append(
                    f"{key}: {cleaned} cleaned, {sessionized_rows} sessionized, {without_session} without session"
                )
            with timings.step("write"):
                lake.store.put_file(sessionized_events_key(day), events_path)
                lake.store.put_file(sessions_key(day), sessions_path)
            per_day[key] = {"events": sessionized_rows, "sessions": _rows(sessions_path)}
            metadata["sessionized_events"] = parquet_metadata(
                events_path,
                lake.store.uri(sessionized_events_key(day)),
                ["message_id", "person_id", "event_time", "session_id", "session_start"],
            )
            metadata["sessions"] = parquet_metadata(
                sessions_path,
                lake.store.uri(sessions_key(day)),
                [
                    "person_id",
                    "session_start",
                    "duration_seconds",
                    "events",
                    "entry_event",
                    "exit_event",
                    "platform",
                ],
            )
    shared = {"partitions": per_partition_table(per_day), **timings.metadata()}
    yield dg.MaterializeResult(
        asset_key="sessionized_events",
        metadata={
            **metadata["sessionized_events"],
            **shared,
            "dagster/row_count": sum(v["events"] for v in per_day.values()),
        },
    )
    yield dg.MaterializeResult(
        asset_key="sessions",
        metadata={
            **metadata["sessions"],
            **shared,
            "dagster/row_count": sum(v["sessions"] for v in per_day.values()),
        },
    )
    yield dg.AssetCheckResult(
        asset_key="sessions",
        check_name="session_bounds_consistent",
        passed=not problems["bounds"],
        metadata={"problems": dg.MetadataValue.json(problems["bounds"])},
    )
    yield dg.AssetCheckResult(
        asset_key="sessionized_events",
        check_name="every_event_in_a_session",
        passed=not problems["coverage"],
        metadata={"problems": dg.MetadataValue.json(problems["coverage"])},
    )


@dg.asset(
    group_name="cleaned",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["sessionized_events", "sessions"],
    kinds={"parquet", "duckdb"},
    owners=OWNERS,
    tags={"layer": "cleaned"},
)
def daily_aggregates(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Per day, platform and app version: active users, sessions and their durations, events by name."""
    timings = Timings()
    per_day: dict[str, dict[str, int]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="revolt-aggregates-") as folder,
        duckdb_connection() as connection,
    ):
        for key in context.partition_keys:
            day = date.fromisoformat(key)
            with (
                timings.step("aggregate"),
                lake.local_files([sessionized_events_key(day), sessions_key(day)]) as (
                    events_path,
                    sessions_path,
                ),
            ):
                sources = {
                    "daily_active_users": f"read_parquet({sql_string(events_path)})",
                    "events_daily": f"read_parquet({sql_string(events_path)})",
                    "sessions_daily": f"read_parquet({sql_string(sessions_path)})",
                    "session_duration_histogram": f"read_parquet({sql_string(sessions_path)})",
                }
                counts = {}
                for name, build in AGGREGATES.items():
                    path = str(Path(folder) / f"{name}-{key}.parquet")
                    _copy(connection, build(sources[name], day), path)
                    lake.store.put_file(aggregate_key(name, day), path)
                    counts[name] = _rows(path)
            per_day[key] = counts
    return dg.MaterializeResult(
        metadata={
            "partitions": per_partition_table(per_day),
            "tables": dg.MetadataValue.json(sorted(AGGREGATES)),
            "uri": dg.MetadataValue.path(lake.store.uri("aggregates")),
            **timings.metadata(),
        }
    )
