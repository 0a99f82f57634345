"""Cleaned events, their quarantine, sessions, and daily aggregates: Hive-partitioned Parquet by day.

A run can cover several days (a cascade after late data, a backfill): every day's events are
rebuilt before any day's sessions, since sessions read their neighbouring days. Which days each step
reads comes from the rules (`PipelineRules.cleaning_window`, `session_window`), so the lineage the UI
draws is the one the transforms apply.
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
from revolt_pipeline.layers.checks import clean_day_checks, path_checks, session_day_checks
from revolt_pipeline.layers.cleaned import AGGREGATES, aggregate_day, clean_days, sessionize_day
from revolt_pipeline.layers.summaries import summarize_parquet
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


def _days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def build_cleaned_assets(partitions: dg.PartitionsDefinition, rules: PipelineRules) -> list[dg.AssetsDefinition]:
    """`events` (with `events_quarantine`), `sessionized` (`sessionized_events`, `sessions`), `daily_aggregates`."""
    cleaning_reads = reads_window("raw_events", rules.cleaning_window)
    sessions_read = reads_window("events", rules.session_window)
    described_rules = rules_metadata(rules)

    def spec(name: str, description: str, reads: dg.AssetDep) -> dg.AssetSpec:
        return dg.AssetSpec(
            name,
            group_name="cleaned",
            description=description,
            deps=[reads],
            kinds=KINDS,
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
    def events(context: dg.AssetExecutionContext, lake: LakeResource) -> Any:
        """Clean every day of the run from the raw days that can hold its rows."""
        outcomes = {}
        with tempfile.TemporaryDirectory(prefix="revolt-clean-") as folder, lake.duckdb() as connection:

            def clean() -> list[Any]:
                return list(clean_days(lake.store, connection, _days(context), rules, Path(folder)))

            timings = Timings()
            with timings.step("clean"):
                cleaned = lake.retrying(context, "cleaning events", clean)
            for day in cleaned:
                key = day.day.isoformat()
                outcomes[key] = clean_day_checks(day)
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            summarize_parquet(day.events_path, EVENTS_PREVIEW),
                            lake.store.uri(events_key(day.day)),
                            dataset="events",
                        ),
                        "raw_rows": day.assigned_rows,
                    },
                    asset_key="events",
                    partition_key=key,
                )
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            summarize_parquet(day.quarantine_path, QUARANTINE_PREVIEW),
                            lake.store.uri(events_quarantine_key(day.day)),
                            dataset="events_quarantine",
                        ),
                        **{f"quarantined/{reason}": count for reason, count in day.quarantined.items()},
                    },
                    asset_key="events_quarantine",
                    partition_key=key,
                )
        # Cleaning reads every raw day of the run's window at once: its time is the run's, not a day's.
        run_seconds = {f"run_{name}": value for name, value in timings.metadata().items()}
        yield dg.MaterializeResult(asset_key="events", metadata=run_seconds)
        yield dg.MaterializeResult(asset_key="events_quarantine", metadata=run_seconds)
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
    def sessionized(context: dg.AssetExecutionContext, lake: LakeResource) -> Any:
        """Sessionize each day of the run from the cleaned events of the days its sessions can span."""
        outcomes: dict[str, dict[str, list[Any]]] = {"sessions": {}, "sessionized_events": {}}
        with tempfile.TemporaryDirectory(prefix="revolt-sessions-") as folder, lake.duckdb() as connection:
            for day in _days(context):
                key = day.isoformat()
                timings = Timings()
                with timings.step("sessionize"):
                    try:
                        build = partial(sessionize_day, lake.store, connection, day, rules, Path(folder))
                        built = lake.retrying(context, f"sessionizing {day}", build)
                    except FileNotFoundError as missing:
                        raise dg.Failure(str(missing)) from missing
                bounds, coverage = session_day_checks(built)
                outcomes["sessions"][key] = [bounds]
                outcomes["sessionized_events"][key] = [coverage]
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            summarize_parquet(built.events_path, SESSIONIZED_PREVIEW),
                            lake.store.uri(sessionized_events_key(day)),
                            dataset="sessionized_events",
                        ),
                        **timings.metadata(),
                    },
                    asset_key="sessionized_events",
                    partition_key=key,
                )
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            summarize_parquet(built.sessions_path, SESSIONS_PREVIEW),
                            lake.store.uri(sessions_key(day)),
                            dataset="sessions",
                        ),
                        **timings.metadata(),
                    },
                    asset_key="sessions",
                    partition_key=key,
                )
        yield dg.MaterializeResult(asset_key="sessionized_events")
        yield dg.MaterializeResult(asset_key="sessions")
        yield from report_checks(context, "sessions", outcomes["sessions"])
        yield from report_checks(context, "sessionized_events", outcomes["sessionized_events"])

    @dg.asset(
        group_name="cleaned",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["sessionized_events", "sessions"],
        kinds=KINDS,
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
    def daily_aggregates(context: dg.AssetExecutionContext, lake: LakeResource) -> Any:
        """Per day, platform and app version: active users, sessions and their durations, events by name, and
        the paths of the sessions (steps, entries, exits, transitions), checked against the day's sessions.

        Names and versions the report database could not hold as sent are made safe on the way (see
        docs/event-contract.md); `values_made_safe` says how many, per column.
        """
        outcomes: dict[str, list[Any]] = {}
        with tempfile.TemporaryDirectory(prefix="revolt-aggregates-") as folder, lake.duckdb() as connection:
            for day in _days(context):
                timings = Timings()
                with timings.step("aggregate"):
                    build = partial(aggregate_day, lake.store, connection, day, Path(folder))
                    built = lake.retrying(context, f"aggregating {day}", build)
                outcomes[day.isoformat()] = path_checks(built)
                summaries = {name: summarize_parquet(path) for name, path in built.outputs.items()}
                if any(built.made_safe.values()):
                    context.log.warning(
                        f"daily_aggregates {day}: values made safe for the report database: {built.made_safe}"
                    )
                context.add_asset_metadata(
                    {
                        **table_metadata(summaries["daily_active_users"], dataset="daily_active_users"),
                        # The row count is every aggregate table's rows of the day; each one's follows.
                        "dagster/row_count": sum(summary.rows for summary in summaries.values()),
                        **{f"rows/{name}": summaries[name].rows for name in sorted(AGGREGATES)},
                        "uri": dg.MetadataValue.path(lake.store.uri(aggregate_key("daily_active_users", day))),
                        "values_made_safe": dg.MetadataValue.json(built.made_safe),
                        "values_made_safe_total": sum(built.made_safe.values()),
                        **timings.metadata(),
                    },
                    partition_key=day.isoformat(),
                )
        yield dg.MaterializeResult(metadata={"tables": dg.MetadataValue.json(sorted(AGGREGATES))})
        yield from report_checks(context, "daily_aggregates", outcomes)

    return [events, sessionized, daily_aggregates]
