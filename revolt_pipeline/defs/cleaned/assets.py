"""Cleaned events, their quarantine, sessions, and daily aggregates: Hive-partitioned Parquet by day.

A run can cover several days (a cascade after late data, a backfill): every day's events are
rebuilt before any day's sessions, since sessions read their neighbouring days. Which days each step
reads comes from the rules (`PipelineRules.cleaning_window`, `session_window`), so the lineage the UI
draws is the one the transforms apply.

With REVOLT_ENGINE=spark each step launches the Spark job through the `spark_launcher` resource (Dagster Pipes)
instead of building in this process; the job builds the days with the same layer functions and reports the same
results, which map to the same metadata and checks.
"""

import tempfile
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import Timings, table_metadata
from revolt_pipeline.defs.rules import reads_window, rules_metadata
from revolt_pipeline.defs.spark.resources import SparkLauncher, SparkRun
from revolt_pipeline.layers.checks import clean_day_checks, path_checks, session_day_checks
from revolt_pipeline.layers.cleaned import (
    AGGREGATES,
    AggregateDay,
    CleanDay,
    SessionDay,
    aggregate_day,
    clean_days,
    sessionize_day,
)
from revolt_pipeline.pipes.messages import BuiltDay, JobRequest, summarize_day
from revolt_pipeline.storage.layout import (
    aggregate_key,
    events_key,
    events_quarantine_key,
    sessionized_events_key,
    sessions_key,
)
from revolt_pipeline.transforms.rules import PipelineRules

OWNERS = ["team:analytics-platform"]
TAGS = {"layer": "cleaned"}
KINDS = {"parquet", "duckdb"}
EVENTS_PREVIEW = ["message_id", "type", "event_name", "person_id", "event_time", "platform", "app_version"]
QUARANTINE_PREVIEW = ["message_id", "type", "reason", "detail", "received_date", "source"]
SESSIONIZED_PREVIEW = ["message_id", "person_id", "event_time", "session_id", "session_start"]
SESSIONS_PREVIEW = ["person_id", "session_start", "duration_seconds", "events", "entry_event", "exit_event", "platform"]
PREVIEWS = {
    "events": EVENTS_PREVIEW,
    "events_quarantine": QUARANTINE_PREVIEW,
    "sessionized_events": SESSIONIZED_PREVIEW,
    "sessions": SESSIONS_PREVIEW,
}
SPARK = "spark"  # REVOLT_ENGINE's value that launches the Spark job


def _days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def _summarized(result: CleanDay | SessionDay | AggregateDay, seconds: dict[str, float] | None = None) -> BuiltDay:
    """A day built here, summarized as the Spark job summarizes the days it builds."""
    return BuiltDay(result, summarize_day(result, PREVIEWS), seconds or {})


def _seconds(built: BuiltDay) -> dict[str, float]:
    return {f"seconds/{name}": value for name, value in built.seconds.items()}


def build_cleaned_assets(
    partitions: dg.PartitionsDefinition, rules: PipelineRules, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """`events` (with `events_quarantine`), `sessionized` (`sessionized_events`, `sessions`), `daily_aggregates`.

    On the `spark` engine they need the `spark_launcher` resource; on DuckDB they build in the step's process."""
    on_spark = engine == SPARK
    # The lake always; the launcher on Spark only, so a DuckDB deployment needs no Spark settings.
    resource_keys = {"lake", "spark_launcher"} if on_spark else {"lake"}
    kinds = {"parquet", SPARK} if on_spark else KINDS

    def launch(context: dg.AssetExecutionContext, lake: LakeResource, step: str) -> SparkRun:
        launcher: SparkLauncher = context.resources.spark_launcher
        request = JobRequest(
            step, _days(context), lake.url, rules, lake.s3_endpoint_url, lake.s3_region, previews=PREVIEWS
        )
        return launcher.launch(context, request)

    cleaning_reads = reads_window("raw_events", rules.cleaning_window)
    sessions_read = reads_window("events", rules.session_window)
    described_rules = rules_metadata(rules)

    def spec(name: str, description: str, reads: dg.AssetDep) -> dg.AssetSpec:
        return dg.AssetSpec(
            name,
            group_name="cleaned",
            description=description,
            deps=[reads],
            kinds=kinds,
            owners=OWNERS,
            tags=TAGS,
            metadata=described_rules,
        )

    @dg.multi_asset(
        name="events",
        specs=[
            spec(
                "events",
                "Events by the day they happened (UTC): typed, skew-corrected, clamped, deduplicated "
                "by messageId across raw days, identities stitched into person_id.",
                cleaning_reads,
            ),
            spec(
                "events_quarantine",
                "Raw rows that could not be cleaned, each with its reason (too_late, duplicate, ...).",
                cleaning_reads,
            ),
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys=resource_keys,
        check_specs=[
            partition_check("unique_message_id", "events", "No messageId twice in a day.", partitions),
            partition_check(
                "required_columns_not_null",
                "events",
                "messageId, type, person, time, receipt, source and platform are set.",
                partitions,
            ),
            partition_check(
                "reconciled_with_raw",
                "events",
                "Raw rows assigned to the day = cleaned events + quarantined rows.",
                partitions,
            ),
        ],
    )
    def events(context: dg.AssetExecutionContext) -> Any:
        """Clean every day of the run from the raw days that can hold its rows."""
        lake: LakeResource = context.resources.lake
        outcomes = {}
        with tempfile.TemporaryDirectory(prefix="revolt-clean-") as folder:
            if on_spark:
                run = launch(context, lake, "events")
                cleaned, facts = run.days, run.metadata("events")
                seconds = {"run_seconds/clean": round(sum(day.seconds.get("clean", 0.0) for day in cleaned), 3)}
            else:
                with lake.duckdb() as connection:

                    def clean() -> list[Any]:
                        days = clean_days(lake.store, connection, _days(context), rules, Path(folder))
                        return [_summarized(day) for day in days]

                    timings = Timings()
                    with timings.step("clean"):
                        cleaned = lake.retrying(context, "cleaning events", clean)
                # Cleaning reads every raw day of the run's window at once: its time is the run's, not a day's.
                facts, seconds = {}, {f"run_{name}": value for name, value in timings.metadata().items()}
            for built in cleaned:
                day: Any = built.result
                key = day.day.isoformat()
                outcomes[key] = clean_day_checks(day)
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            built.summaries["events"], lake.store.uri(events_key(day.day)), dataset="events"
                        ),
                        "raw_rows": day.assigned_rows,
                    },
                    asset_key="events",
                    partition_key=key,
                )
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            built.summaries["events_quarantine"],
                            lake.store.uri(events_quarantine_key(day.day)),
                            dataset="events_quarantine",
                        ),
                        **{f"quarantined/{reason}": count for reason, count in day.quarantined.items()},
                    },
                    asset_key="events_quarantine",
                    partition_key=key,
                )
        yield dg.MaterializeResult(asset_key="events", metadata={**seconds, **facts})
        yield dg.MaterializeResult(asset_key="events_quarantine", metadata={**seconds, **facts})
        yield from report_checks(context, "events", outcomes)

    @dg.multi_asset(
        name="sessionized",
        specs=[
            spec(
                "sessionized_events",
                "Cleaned events of the day with the session each belongs to (which may have started the day before).",
                sessions_read,
            ),
            spec(
                "sessions",
                "Sessions by the day they start: inactivity timeout, never split at midnight, cut and "
                "flagged beyond the maximum length (REVOLT_SESSION_TIMEOUT_MINUTES, REVOLT_MAX_SESSION_HOURS).",
                sessions_read,
            ),
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        required_resource_keys=resource_keys,
        check_specs=[
            partition_check(
                "session_bounds_consistent",
                "sessions",
                "start <= end, duration = end - start <= maximum, at least one event, starts that day.",
                partitions,
            ),
            partition_check(
                "every_event_in_a_session",
                "sessionized_events",
                "As many sessionized events as cleaned events, each with a session.",
                partitions,
            ),
        ],
    )
    def sessionized(context: dg.AssetExecutionContext) -> Any:
        """Sessionize each day of the run from the cleaned events of the days its sessions can span."""
        lake: LakeResource = context.resources.lake
        outcomes: dict[str, dict[str, list[Any]]] = {"sessions": {}, "sessionized_events": {}}
        with tempfile.TemporaryDirectory(prefix="revolt-sessions-") as folder:
            if on_spark:
                run = launch(context, lake, "sessionized")
                sessionized_days, facts = run.days, run.metadata("sessions")
            else:
                sessionized_days, facts = [], {}
                with lake.duckdb() as connection:
                    for day in _days(context):
                        timings = Timings()
                        with timings.step("sessionize"):
                            try:
                                build = partial(sessionize_day, lake.store, connection, day, rules, Path(folder))
                                built = lake.retrying(context, f"sessionizing {day}", build)
                            except FileNotFoundError as missing:
                                raise dg.Failure(str(missing)) from missing
                        sessionized_days.append(_summarized(built, timings.seconds))
            for built_day in sessionized_days:
                result: Any = built_day.result
                key = result.day.isoformat()
                bounds, coverage = session_day_checks(result)
                outcomes["sessions"][key] = [bounds]
                outcomes["sessionized_events"][key] = [coverage]
                for dataset, uri in (
                    ("sessionized_events", sessionized_events_key(result.day)),
                    ("sessions", sessions_key(result.day)),
                ):
                    context.add_asset_metadata(
                        {
                            **table_metadata(built_day.summaries[dataset], lake.store.uri(uri), dataset=dataset),
                            **_seconds(built_day),
                        },
                        asset_key=dataset,
                        partition_key=key,
                    )
        yield dg.MaterializeResult(asset_key="sessionized_events", metadata=facts)
        yield dg.MaterializeResult(asset_key="sessions", metadata=facts)
        yield from report_checks(context, "sessions", outcomes["sessions"])
        yield from report_checks(context, "sessionized_events", outcomes["sessionized_events"])

    @dg.asset(
        group_name="cleaned",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["sessionized_events", "sessions"],
        required_resource_keys=resource_keys,
        kinds=kinds,
        owners=OWNERS,
        tags=TAGS,
        check_specs=[
            partition_check(
                "path_entries_and_exits_match_sessions",
                "daily_aggregates",
                "path_steps, per grain and group: entries = exits = the day's sessions with a step.",
                partitions,
            ),
            partition_check(
                "path_transitions_balanced",
                "daily_aggregates",
                "Every step of path_steps: occurrences = entries + transitions in = exits + transitions out.",
                partitions,
            ),
        ],
    )
    def daily_aggregates(context: dg.AssetExecutionContext) -> Any:
        """Per day, platform and app version: active users, sessions and their durations, events by name, and
        the paths of the sessions (steps, entries, exits, transitions), checked against the day's sessions.

        Names and versions the report database could not hold as sent are made safe on the way (see
        docs/event-contract.md); `values_made_safe` says how many, per column.
        """
        lake: LakeResource = context.resources.lake
        outcomes: dict[str, list[Any]] = {}
        with tempfile.TemporaryDirectory(prefix="revolt-aggregates-") as folder:
            if on_spark:
                run = launch(context, lake, "daily_aggregates")
                aggregated, facts = run.days, run.metadata("daily_aggregates")
            else:
                aggregated, facts = [], {}
                with lake.duckdb() as connection:
                    for day in _days(context):
                        timings = Timings()
                        with timings.step("aggregate"):
                            build = partial(aggregate_day, lake.store, connection, day, Path(folder))
                            built = lake.retrying(context, f"aggregating {day}", build)
                        aggregated.append(_summarized(built, timings.seconds))
            for built_day in aggregated:
                result: Any = built_day.result
                outcomes[result.day.isoformat()] = path_checks(result)
                summaries = built_day.summaries
                if any(result.made_safe.values()):
                    context.log.warning(
                        f"daily_aggregates {result.day}: values made safe for the report database: {result.made_safe}"
                    )
                context.add_asset_metadata(
                    {
                        **table_metadata(summaries["daily_active_users"], dataset="daily_active_users"),
                        # The row count is every aggregate table's rows of the day; each one's follows.
                        "dagster/row_count": sum(summary.rows for summary in summaries.values()),
                        **{f"rows/{name}": summaries[name].rows for name in sorted(AGGREGATES)},
                        "uri": dg.MetadataValue.path(lake.store.uri(aggregate_key("daily_active_users", result.day))),
                        "values_made_safe": dg.MetadataValue.json(result.made_safe),
                        "values_made_safe_total": sum(result.made_safe.values()),
                        **_seconds(built_day),
                    },
                    partition_key=result.day.isoformat(),
                )
        yield dg.MaterializeResult(metadata={"tables": dg.MetadataValue.json(sorted(AGGREGATES)), **facts})
        yield from report_checks(context, "daily_aggregates", outcomes)

    return [events, sessionized, daily_aggregates]
