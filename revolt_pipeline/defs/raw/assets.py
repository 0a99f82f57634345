"""`raw_events`: each received day's landed batches as one immutable Parquet partition.

Like a Glue crawler it infers the day's schema (per event, property keys and their JSON types),
keeps it as a catalog later days are compared against, and records which event days the day's rows
belong to, which is what the sensors use to rebuild exactly those days downstream.
"""

import tempfile
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import check_result
from revolt_pipeline.defs.ingestion.resources import CollectorResource
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import Timings, parquet_metadata, per_partition_table
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.rules import RulesResource
from revolt_pipeline.layers.raw import RawDay, build_raw_day, catalog_of
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage.layout import raw_events_key
from revolt_pipeline.storage.watermarks import lagging_collectors, read_watermarks

_settings = Settings.from_env()
RAW_PREVIEW = ["message_id", "type", "event_name", "user_id", "anonymous_id", "timestamp", "platform"]


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
            description="messageId, type, times, source, platform, collector and message are set.",
        ),
        dg.AssetCheckSpec(
            "no_schema_drift",
            asset="raw_events",
            description="No property new, vanished or retyped against the previous seven days.",
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
    metadata: dict[str, Any] = {}
    built_days: list[RawDay] = []
    made_safe: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="revolt-raw-") as folder, lake.duckdb() as connection:
        for day in days:
            with timings.step("build"):
                build = partial(build_raw_day, lake.store, connection, day, rules.rules(), Path(folder))
                built = lake.retrying(context, f"building raw_events for {day}", build)
            acknowledged = collector.landed(day).acknowledged_events
            per_day[day.isoformat()] = {
                "rows": built.rows,
                "acknowledged": acknowledged,
                "landed_objects": built.landed_objects,
            }
            touched.update(built.profile.assigned_dates)
            built_days.append(built)
            made_safe[day.isoformat()] = built.profile.catalog_made_safe
            if acknowledged != built.rows:
                problems["reconciliation"].append(f"{day}: collector acknowledged {acknowledged}, raw has {built.rows}")
            problems["nulls"] += [f"{day}: {c} null in {n} rows" for c, n in built.profile.null_counts.items() if n]
            problems["drift"] += [f"{day}: {finding}" for finding in built.drift]
            metadata = parquet_metadata(built.raw_path, lake.store.uri(raw_events_key(day)), RAW_PREVIEW)
            context.log.info(f"raw_events {day}: {built.rows} rows from {built.landed_objects} landed objects")

    return dg.MaterializeResult(
        metadata={
            **metadata,
            "dagster/row_count": sum(values["rows"] for values in per_day.values()),
            "partitions": per_partition_table(per_day),
            "event_dates": dg.MetadataValue.json(sorted(touched)),
            "inferred_properties": _property_schema(catalog_of(built_days)),
            # The catalog's names as event_catalog holds them: how many had to be made safe (raw rows keep them).
            "catalog_values_made_safe": per_partition_table(made_safe),
            "catalog_values_made_safe_total": sum(sum(counts.values()) for counts in made_safe.values()),
            "schema_drift": dg.MetadataValue.json(problems["drift"][:200]),
            **timings.metadata(),
        },
        check_results=[
            check_result("raw_events", "reconciled_with_collector", problems["reconciliation"]),
            check_result("raw_events", "required_columns_not_null", problems["nulls"]),
            check_result("raw_events", "no_schema_drift", problems["drift"], dg.AssetCheckSeverity.WARN),
        ],
    )


def _property_schema(catalog: dict[str, dict[str, dict[str, int]]]) -> dg.TableSchema:
    """The crawler's finding as a schema: one column per event property, with its JSON types."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(f"{event} / {key}", " | ".join(sorted(types)), description=f"{sum(types.values())} events")
            for event, properties in sorted(catalog.items())
            for key, types in sorted(properties.items())
        ]
    )


def _require_complete(
    context: dg.AssetExecutionContext, lake: LakeResource, day_end: date, config: RawEventsConfig
) -> None:
    """Fail, to be retried, while a collector may still hold events of the days being built."""
    moment = datetime(day_end.year, day_end.month, day_end.day, tzinfo=UTC)
    watermarks = lake.retrying(context, "reading the collectors' watermarks", partial(read_watermarks, lake.store))
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
