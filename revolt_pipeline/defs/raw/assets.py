"""`raw_events`: each received day's landed batches as one immutable Parquet partition.

Like a Glue crawler it infers the day's schema (per event, property keys and their JSON types),
keeps it as a catalog later days are compared against, and records which event days the day's rows
belong to, which is what the cascade rebuilds downstream. The days are built by the `layer_runner` resource (DuckDB
in this process, or the Spark job through Dagster Pipes); waiting for the collectors and their counts stay here.
"""

from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.ingestion.resources import CollectorResource
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import LayerRunner
from revolt_pipeline.defs.metadata import Timings, table_metadata
from revolt_pipeline.defs.rules import rules_metadata
from revolt_pipeline.layers.checks import raw_day_checks
from revolt_pipeline.layers.raw import RawDay
from revolt_pipeline.layers.summaries import TableSummary
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage.layout import raw_events_key
from revolt_pipeline.storage.watermarks import lagging_collectors, read_watermarks
from revolt_pipeline.transforms.rules import PipelineRules

RAW_PREVIEW = ["message_id", "type", "event_name", "user_id", "anonymous_id", "timestamp", "platform"]
PREVIEWS = {"raw_events": RAW_PREVIEW}
# The metadata entry the cascade reads: the cleaning days a received day's rows belong to.
EVENT_DATES = "event_dates"


def build_raw_assets(
    partitions: dg.PartitionsDefinition, rules: PipelineRules, settings: Settings
) -> list[dg.AssetsDefinition]:
    """`raw_events`, applying `rules`; how long it waits for lagging collectors defaults to the settings'. Its kind
    in the UI is the settings' engine."""

    class RawEventsConfig(dg.Config):
        """How long to wait for collectors whose watermark has not passed the end of the day
        (REVOLT_WATERMARK_RETRIES and REVOLT_WATERMARK_RETRY_SECONDS)."""

        watermark_retries: int = settings.watermark_retries
        watermark_retry_seconds: float = settings.watermark_retry_seconds

    @dg.asset(
        group_name="raw",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"parquet", settings.engine},
        owners=["team:analytics-platform"],
        tags={"layer": "raw"},
        metadata=rules_metadata(rules),
        check_specs=[
            partition_check(
                "reconciled_with_collector",
                "raw_events",
                "Rows = events the collector acknowledged for the day.",
                partitions,
            ),
            partition_check(
                "required_columns_not_null",
                "raw_events",
                "messageId, type, times, source, platform, collector and message are set.",
                partitions,
            ),
            partition_check(
                "no_schema_drift",
                "raw_events",
                "No property sent as another kind of value than in the week before, none vanished from an "
                "event still sent in volume (docs/pipeline.md, Schema drift).",
                partitions,
            ),
            partition_check(
                "no_unhashed_pii",
                "raw_events",
                "No property whose values look like emails, phone numbers, IP addresses or card numbers under a key "
                "cleaning keeps as sent (REVOLT_PII_HASH_KEYS, REVOLT_PII_DROP_KEYS; docs/privacy.md, PII).",
                partitions,
            ),
        ],
    )
    def raw_events(
        context: dg.AssetExecutionContext,
        config: RawEventsConfig,
        collector: CollectorResource,
        lake: LakeResource,
        layer_runner: LayerRunner,
    ) -> Any:
        """Events by the day they were received: the envelope typed, the message kept as sent."""
        days = [date.fromisoformat(key) for key in context.partition_keys]
        timings = Timings()
        with timings.step("flush_collector"):
            collector.flush()
        with timings.step("wait_for_watermarks"):
            _require_complete(context, lake, max(days) + timedelta(days=1), config)
        # Done once for the run's days: their time is the run's, not a day's.
        context.add_asset_metadata({f"run_{name}": value for name, value in timings.metadata().items()})

        run = layer_runner.build(context, lake, "raw_events", rules, PREVIEWS, days)
        outcomes = {}
        for built in run.days:
            day: RawDay = built.result
            acknowledged = collector.landed(built.day).acknowledged_events
            outcomes[built.day.isoformat()] = raw_day_checks(day, acknowledged)
            context.add_asset_metadata(
                {**_day_metadata(day, built.summaries["raw_events"], lake), **run.day_metadata(built)},
                partition_key=built.day.isoformat(),
            )
            context.log.info(f"raw_events {built.day}: {day.rows} rows from {day.landed_objects} landed objects")
        yield dg.MaterializeResult(metadata=run.run_metadata("raw_events"))
        yield from report_checks(context, "raw_events", outcomes)

    return [raw_events]


def _day_metadata(built: RawDay, summary: TableSummary, lake: LakeResource) -> dict[str, Any]:
    """What one received day holds, for its partition in the UI and for the cascade."""
    return {
        **table_metadata(summary, lake.store.uri(raw_events_key(built.day)), dataset="raw_events"),
        "landed_objects": built.landed_objects,
        EVENT_DATES: dg.MetadataValue.json(built.profile.assigned_dates),
        "inferred_properties": _property_schema(built.profile.catalog),
        # The catalog's names as event_catalog holds them: how many had to be made safe (raw rows keep them).
        "catalog_values_made_safe": dg.MetadataValue.json(built.profile.catalog_made_safe),
        "catalog_values_made_safe_total": sum(built.profile.catalog_made_safe.values()),
        "schema_drift": dg.MetadataValue.json(built.drift),
        # The PII scanner: per event and property, string values that look like each kind of personal data.
        "likely_pii": dg.MetadataValue.json(built.profile.likely_pii),
        "unhashed_pii": dg.MetadataValue.json(built.unhashed_pii),
    }


def _property_schema(catalog: dict[str, dict[str, dict[str, int]]]) -> dg.TableSchema:
    """The crawler's finding as a schema: one column per event property, with its JSON types."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(f"{event} / {key}", " | ".join(sorted(types)), description=f"{sum(types.values())} events")
            for event, properties in sorted(catalog.items())
            for key, types in sorted(properties.items())
        ]
    )


def _require_complete(context: dg.AssetExecutionContext, lake: LakeResource, day_end: date, config: Any) -> None:
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
