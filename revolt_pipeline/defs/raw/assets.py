"""`raw_events`: each received day's landed batches as one immutable Parquet partition.

Like a Glue crawler it infers the day's schema (per event, property keys and their JSON types),
keeps it as a catalog later days are compared against, and records which event days the day's rows
belong to, which is what the sensors use to rebuild exactly those days downstream.
"""

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.ingestion.resources import CollectorResource
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import Timings, parquet_metadata, per_partition_table
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.rules import RulesResource
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage.layout import (
    LANDING,
    identity_links_key,
    raw_events_key,
    raw_profile_key,
    received_date_prefix,
)
from revolt_pipeline.storage.watermarks import lagging_collectors, read_watermarks
from revolt_pipeline.transforms.engine import duckdb_connection, sql_string
from revolt_pipeline.transforms.identities import identity_links_query
from revolt_pipeline.transforms.raw import compare_catalogs, consolidate_landed, merge_catalogs, profile_raw

DRIFT_HISTORY_DAYS = 7
_settings = Settings.from_env()


class RawEventsConfig(dg.Config):
    """How long to wait for collectors whose watermark has not passed the end of the day."""

    watermark_retries: int = _settings.watermark_retries
    watermark_retry_seconds: float = _settings.watermark_retry_seconds


@dg.asset(
    group_name="raw",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"parquet", "duckdb"},
    owners=["team:analytics-platform"],
    tags={"layer": "raw"},
    check_specs=[
        dg.AssetCheckSpec(
            "reconciled_with_collector",
            asset="raw_events",
            description="Rows = events the collector acknowledged for the day.",
        ),
        dg.AssetCheckSpec(
            "required_columns_not_null",
            asset="raw_events",
            description="messageId, type, times, source, platform, collector, message are set.",
        ),
        dg.AssetCheckSpec(
            "no_schema_drift",
            asset="raw_events",
            description="No property new, vanished or retyped against the last seven days.",
        ),
    ],
)
def raw_events(
    context: dg.AssetExecutionContext,
    config: RawEventsConfig,
    collector: CollectorResource,
    lake: LakeResource,
    rules: RulesResource,
) -> dg.MaterializeResult:
    """Events by the day they were received: the envelope typed, the message kept as sent."""
    timings = Timings()
    days = [date.fromisoformat(key) for key in context.partition_keys]
    with timings.step("flush_collector"):
        collector.flush()
    with timings.step("wait_for_watermarks"):
        _require_complete(context, lake, max(days) + timedelta(days=1), config)

    per_day: dict[str, dict[str, Any]] = {}
    touched: set[str] = set()
    problems: dict[str, list[str]] = {"reconciliation": [], "nulls": [], "drift": []}
    last_metadata: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="revolt-raw-") as folder, duckdb_connection() as connection:
        for day in days:
            landed = [info.key for info in lake.store.list(received_date_prefix(LANDING, day))]
            raw_path = str(Path(folder) / f"raw-{day}.parquet")
            links_path = str(Path(folder) / f"links-{day}.parquet")
            with timings.step("consolidate"), lake.local_files(landed) as landed_files:
                rows = consolidate_landed(connection, landed_files, raw_path)
            with timings.step("profile"):
                profile = profile_raw(connection, raw_path, day, rules.rules())
                connection.execute(
                    f"COPY ({identity_links_query(raw_path)}) TO {sql_string(links_path)} (FORMAT parquet)"
                )
                history = merge_catalogs(_recent_catalogs(lake, day))
                drift = compare_catalogs(profile.catalog, history)
            with timings.step("write"):
                lake.store.put_file(raw_events_key(day), raw_path)
                lake.store.put_file(identity_links_key(day), links_path)
                lake.put_json(
                    raw_profile_key(day),
                    {
                        "received_date": day.isoformat(),
                        "rows": profile.rows,
                        "rows_by_assigned_date": profile.rows_by_assigned_date,
                        "rows_by_type": profile.rows_by_type,
                        "null_counts": profile.null_counts,
                        "catalog": profile.catalog,
                        "landed_objects": len(landed),
                    },
                )
            acknowledged = collector.landed(day).acknowledged_events
            per_day[day.isoformat()] = {
                "rows": rows,
                "acknowledged": acknowledged,
                "landed_objects": len(landed),
            }
            touched.update(profile.assigned_dates)
            if acknowledged != rows:
                problems["reconciliation"].append(f"{day}: collector acknowledged {acknowledged}, raw has {rows}")
            problems["nulls"] += [f"{day}: {column} null in {n} rows" for column, n in profile.null_counts.items() if n]
            problems["drift"] += [f"{day}: new {event}.{key}" for event, key in drift.new]
            problems["drift"] += [f"{day}: vanished {event}.{key}" for event, key in drift.vanished]
            problems["drift"] += [
                f"{day}: retyped {event}.{key} {before} -> {after}" for event, key, before, after in drift.retyped
            ]
            last_metadata = parquet_metadata(
                raw_path,
                lake.store.uri(raw_events_key(day)),
                ["message_id", "type", "event_name", "user_id", "anonymous_id", "timestamp", "platform"],
            )
            context.log.info(f"raw_events {day}: {rows} rows from {len(landed)} landed objects")

    return dg.MaterializeResult(
        metadata={
            **last_metadata,
            "dagster/row_count": sum(values["rows"] for values in per_day.values()),
            "partitions": per_partition_table(per_day),
            "event_dates": dg.MetadataValue.json(sorted(touched)),
            **timings.metadata(),
        },
        check_results=[
            _check("reconciled_with_collector", problems["reconciliation"], per_day),
            _check("required_columns_not_null", problems["nulls"], per_day),
            _check("no_schema_drift", problems["drift"], per_day, severity=dg.AssetCheckSeverity.WARN),
        ],
    )


def _check(
    name: str,
    problems: list[str],
    per_day: dict[str, dict[str, Any]],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=not problems,
        severity=severity,
        metadata={"partitions": sorted(per_day), "problems": dg.MetadataValue.json(problems[:200])},
    )


def _require_complete(
    context: dg.AssetExecutionContext, lake: LakeResource, day_end: date, config: RawEventsConfig
) -> None:
    """Fail, to be retried, while a collector may still hold events of the days being built."""
    moment = datetime(day_end.year, day_end.month, day_end.day, tzinfo=UTC)
    watermarks = read_watermarks(lake.store)
    if not watermarks:
        raise dg.Failure(
            f"no collector has published a watermark in {lake.store.uri('watermarks')}: "
            "is REVOLT_STORAGE_URL the one the collector lands in?"
        )
    lagging = lagging_collectors(watermarks, moment)
    if lagging:
        waiting = ", ".join(f"{name} at {mark.isoformat()}" for name, mark in lagging.items())
        context.log.warning(f"waiting for collectors to pass {moment.isoformat()}: {waiting}")
        raise dg.RetryRequested(max_retries=config.watermark_retries, seconds_to_wait=config.watermark_retry_seconds)


def _recent_catalogs(lake: LakeResource, day: date) -> list[dict[str, Any]]:
    catalogs = []
    for offset in range(1, DRIFT_HISTORY_DAYS + 1):
        key = raw_profile_key(day - timedelta(days=offset))
        if lake.store.exists(key):
            catalogs.append(lake.get_json(key)["catalog"])
    return catalogs
