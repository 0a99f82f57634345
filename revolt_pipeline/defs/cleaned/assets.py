"""Cleaned events, their quarantine, sessions, and daily aggregates: Hive-partitioned Parquet by day.

A run can cover several days (a cascade after late data, a backfill): every day's events are
rebuilt before any day's sessions, since sessions read their neighbouring days.
"""

import tempfile
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import check_result
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import Timings, parquet_metadata, per_partition_table
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.raw.assets import raw_events
from revolt_pipeline.defs.rules import RulesResource
from revolt_pipeline.layers.cleaned import AGGREGATES, aggregate_day, clean_days, sessionize_day
from revolt_pipeline.storage.layout import (
    aggregate_key,
    events_key,
    events_quarantine_key,
    sessionized_events_key,
    sessions_key,
)

OWNERS = ["team:analytics-platform"]
TAGS = {"layer": "cleaned"}
KINDS = {"parquet", "duckdb"}


def _around(upstream: Any, before: int, after: int) -> dg.AssetDep:
    """Depend on the upstream days from `before` days earlier to `after` days later."""
    return dg.AssetDep(
        upstream,
        partition_mapping=dg.TimeWindowPartitionMapping(
            start_offset=-before, end_offset=after, allow_nonexistent_upstream_partitions=True
        ),
    )


def _days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "events",
            group_name="cleaned",
            description="Events by the day they happened (UTC): typed, skew-corrected, clamped, deduplicated "
            "by messageId across raw days, identities stitched into person_id.",
            deps=[_around(raw_events, 1, 3)],
            kinds=KINDS,
            owners=OWNERS,
            tags=TAGS,
        ),
        dg.AssetSpec(
            "events_quarantine",
            group_name="cleaned",
            description="Raw rows that could not be cleaned, each with its reason (too_late, duplicate, ...).",
            deps=[_around(raw_events, 1, 3)],
            kinds=KINDS,
            owners=OWNERS,
            tags=TAGS,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec("unique_message_id", asset="events", description="No messageId twice in a day."),
        dg.AssetCheckSpec(
            "required_columns_not_null",
            asset="events",
            description="messageId, type, person, time, receipt, source and platform are set.",
        ),
        dg.AssetCheckSpec(
            "reconciled_with_raw",
            asset="events",
            description="Raw rows assigned to the day = cleaned events + quarantined rows.",
        ),
    ],
)
def cleaned_events(context: dg.AssetExecutionContext, lake: LakeResource, rules: RulesResource) -> Any:
    """Clean every day of the run from the raw days that can hold its rows."""
    timings = Timings()
    per_day: dict[str, dict[str, int]] = {}
    problems: dict[str, list[str]] = {"unique": [], "nulls": [], "reconciliation": []}
    metadata: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="revolt-clean-") as folder, lake.duckdb() as connection:
        with timings.step("clean"):
            cleaned = lake.retrying(
                context,
                "cleaning events",
                lambda: list(clean_days(lake.store, connection, _days(context), rules.rules(), Path(folder))),
            )
        for day in cleaned:
            key = day.day.isoformat()
            if day.distinct_message_ids != day.events:
                problems["unique"].append(f"{key}: {day.events - day.distinct_message_ids} repeated messageIds")
            problems["nulls"] += [f"{key}: {c} null in {n} rows" for c, n in day.null_counts.items() if n]
            if not day.reconciled:
                problems["reconciliation"].append(
                    f"{key}: raw {day.assigned_rows} != events {day.events} + quarantined {day.quarantined_rows}"
                )
            per_day[key] = {
                "raw_rows": day.assigned_rows,
                "events": day.events,
                "quarantined": day.quarantined_rows,
                **{f"quarantined_{reason}": n for reason, n in day.quarantined.items()},
            }
        last = cleaned[-1]
        metadata["events"] = parquet_metadata(
            last.events_path,
            lake.store.uri(events_key(last.day)),
            ["message_id", "type", "event_name", "person_id", "event_time", "platform", "app_version"],
        )
        metadata["events_quarantine"] = parquet_metadata(
            last.quarantine_path,
            lake.store.uri(events_quarantine_key(last.day)),
            ["message_id", "type", "reason", "detail", "received_date", "source"],
        )
    shared = {"partitions": per_partition_table(per_day), **timings.metadata()}
    yield dg.MaterializeResult(
        asset_key="events",
        metadata={**metadata["events"], **shared, "dagster/row_count": sum(v["events"] for v in per_day.values())},
    )
    yield dg.MaterializeResult(
        asset_key="events_quarantine",
        metadata={
            **metadata["events_quarantine"],
            **shared,
            "dagster/row_count": sum(v["quarantined"] for v in per_day.values()),
        },
    )
    yield check_result("events", "unique_message_id", problems["unique"])
    yield check_result("events", "required_columns_not_null", problems["nulls"])
    yield check_result("events", "reconciled_with_raw", problems["reconciliation"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "sessionized_events",
            group_name="cleaned",
            description="Cleaned events of the day with the session each belongs to (which may have started "
            "the day before).",
            deps=[_around("events", 1, 1)],
            kinds=KINDS,
            owners=OWNERS,
            tags=TAGS,
        ),
        dg.AssetSpec(
            "sessions",
            group_name="cleaned",
            description="Sessions by the day they start: 30-minute inactivity timeout, never split at midnight, "
            "cut and flagged beyond 24 hours (both configurable).",
            deps=[_around("events", 1, 1)],
            kinds=KINDS,
            owners=OWNERS,
            tags=TAGS,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            "session_bounds_consistent",
            asset="sessions",
            description="start <= end, duration = end - start <= maximum, at least one event, starts that day.",
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
    per_day: dict[str, dict[str, int]] = {}
    problems: dict[str, list[str]] = {"bounds": [], "coverage": []}
    metadata: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="revolt-sessions-") as folder, lake.duckdb() as connection:
        for day in _days(context):
            with timings.step("sessionize"):
                try:
                    build = partial(sessionize_day, lake.store, connection, day, rules.rules(), Path(folder))
                    built = lake.retrying(context, f"sessionizing {day}", build)
                except FileNotFoundError as missing:
                    raise dg.Failure(str(missing)) from missing
            if built.inconsistent_sessions:
                problems["bounds"].append(f"{day}: {built.inconsistent_sessions} sessions with inconsistent bounds")
            if built.sessionized_events != built.cleaned_events or built.events_without_session:
                problems["coverage"].append(
                    f"{day}: {built.cleaned_events} cleaned, {built.sessionized_events} sessionized, "
                    f"{built.events_without_session} without session"
                )
            per_day[day.isoformat()] = {"events": built.sessionized_events, "sessions": built.sessions}
            metadata["sessionized_events"] = parquet_metadata(
                built.events_path,
                lake.store.uri(sessionized_events_key(day)),
                ["message_id", "person_id", "event_time", "session_id", "session_start"],
            )
            metadata["sessions"] = parquet_metadata(
                built.sessions_path,
                lake.store.uri(sessions_key(day)),
                ["person_id", "session_start", "duration_seconds", "events", "entry_event", "exit_event", "platform"],
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
        metadata={**metadata["sessions"], **shared, "dagster/row_count": sum(v["sessions"] for v in per_day.values())},
    )
    yield check_result("sessions", "session_bounds_consistent", problems["bounds"])
    yield check_result("sessionized_events", "every_event_in_a_session", problems["coverage"])


@dg.asset(
    group_name="cleaned",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["sessionized_events", "sessions"],
    kinds=KINDS,
    owners=OWNERS,
    tags=TAGS,
)
def daily_aggregates(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Per day, platform and app version: active users, sessions and their durations, events by name.

    Names and versions the report database could not hold as sent are made safe on the way (see
    docs/event-contract.md); `values_made_safe` says how many, per day and column.
    """
    timings = Timings()
    per_day: dict[str, dict[str, int]] = {}
    made_safe: dict[str, dict[str, int]] = {}
    previews: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="revolt-aggregates-") as folder, lake.duckdb() as connection:
        for day in _days(context):
            with timings.step("aggregate"):
                build = partial(aggregate_day, lake.store, connection, day, Path(folder))
                built = lake.retrying(context, f"aggregating {day}", build)
            per_day[day.isoformat()] = {}
            for name, path in built.outputs.items():
                table_metadata = parquet_metadata(path, lake.store.uri(aggregate_key(name, day)))
                per_day[day.isoformat()][name] = table_metadata["dagster/row_count"]
                previews[name] = table_metadata
            made_safe[day.isoformat()] = built.made_safe
            if any(built.made_safe.values()):
                context.log.warning(
                    f"daily_aggregates {day}: values made safe for the report database: {built.made_safe}"
                )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(sum(counts.values()) for counts in per_day.values()),
            "dagster/column_schema": previews["daily_active_users"]["dagster/column_schema"],
            "preview": previews["daily_active_users"]["preview"],
            "partitions": per_partition_table(per_day),
            "tables": dg.MetadataValue.json(sorted(AGGREGATES)),
            "values_made_safe": per_partition_table(made_safe),
            "values_made_safe_total": sum(sum(counts.values()) for counts in made_safe.values()),
            **timings.metadata(),
        }
    )
