"""Cleaned events, their quarantine, sessions, and daily aggregates: Hive-partitioned Parquet by day.

A run can cover several days (a cascade after late data, a backfill): every day's events are
rebuilt before any day's sessions, since sessions read their neighbouring days. Which days each step
reads comes from the rules (`PipelineRules.cleaning_window`, `session_window`), so the lineage the UI
draws is the one the transforms apply.

Each step builds its days through the `layer_runner` resource: DuckDB in this process, or on REVOLT_ENGINE=spark
the Spark job launched through Dagster Pipes, which calls the same layer functions and reports the same results;
they map to the same metadata and checks.
"""

from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import LayerRunner
from revolt_pipeline.defs.metadata import table_metadata
from revolt_pipeline.defs.rules import reads_window, rules_metadata
from revolt_pipeline.layers.checks import clean_day_checks, events_breakdown_check, path_checks, session_day_checks
from revolt_pipeline.layers.cleaned import AGGREGATES
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


def build_cleaned_assets(
    partitions: dg.PartitionsDefinition, rules: PipelineRules, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """`events` (with `events_quarantine`), `sessionized` (`sessionized_events`, `sessions`), `daily_aggregates`,
    built by the `layer_runner` resource; `engine` (REVOLT_ENGINE) names their kind in the UI."""
    kinds = {"parquet", engine}

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
        required_resource_keys={"lake", "layer_runner"},
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
        runner: LayerRunner = context.resources.layer_runner
        run = runner.build(context, lake, "events", rules, PREVIEWS)
        outcomes = {}
        for built in run.days:
            day: Any = built.result
            key = built.day.isoformat()
            outcomes[key] = clean_day_checks(day)
            context.add_asset_metadata(
                {
                    **table_metadata(
                        built.summaries["events"], lake.store.uri(events_key(built.day)), dataset="events"
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
                        lake.store.uri(events_quarantine_key(built.day)),
                        dataset="events_quarantine",
                    ),
                    **{f"quarantined/{reason}": count for reason, count in day.quarantined.items()},
                },
                asset_key="events_quarantine",
                partition_key=key,
            )
        yield dg.MaterializeResult(asset_key="events", metadata=run.run_metadata("events"))
        yield dg.MaterializeResult(asset_key="events_quarantine", metadata=run.run_metadata("events_quarantine"))
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
        required_resource_keys={"lake", "layer_runner"},
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
        runner: LayerRunner = context.resources.layer_runner
        run = runner.build(context, lake, "sessionized", rules, PREVIEWS)
        outcomes: dict[str, dict[str, list[Any]]] = {"sessions": {}, "sessionized_events": {}}
        for built in run.days:
            key = built.day.isoformat()
            bounds, coverage = session_day_checks(built.result)
            outcomes["sessions"][key] = [bounds]
            outcomes["sessionized_events"][key] = [coverage]
            for dataset, uri in (
                ("sessionized_events", sessionized_events_key(built.day)),
                ("sessions", sessions_key(built.day)),
            ):
                context.add_asset_metadata(
                    {
                        **table_metadata(built.summaries[dataset], lake.store.uri(uri), dataset=dataset),
                        **run.day_metadata(built),
                    },
                    asset_key=dataset,
                    partition_key=key,
                )
        yield dg.MaterializeResult(asset_key="sessionized_events", metadata=run.run_metadata("sessionized_events"))
        yield dg.MaterializeResult(asset_key="sessions", metadata=run.run_metadata("sessions"))
        yield from report_checks(context, "sessions", outcomes["sessions"])
        yield from report_checks(context, "sessionized_events", outcomes["sessionized_events"])

    @dg.asset(
        group_name="cleaned",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["sessionized_events", "sessions"],
        required_resource_keys={"lake", "layer_runner"},
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
            partition_check(
                "events_breakdowns_add_up",
                "daily_aggregates",
                "Each events breakdown's events, per event, add up to the grain it breaks down: by OS and by country "
                "to events_daily_by_app_version per platform and app version, the other device breakdowns to "
                "events_daily, platforms to the total, app versions to their platform.",
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
        runner: LayerRunner = context.resources.layer_runner
        run = runner.build(context, lake, "daily_aggregates", rules, PREVIEWS)
        outcomes: dict[str, list[Any]] = {}
        for built in run.days:
            result: Any = built.result
            outcomes[built.day.isoformat()] = [*path_checks(result), events_breakdown_check(result)]
            summaries = built.summaries
            if any(result.made_safe.values()):
                context.log.warning(
                    f"daily_aggregates {built.day}: values made safe for the report database: {result.made_safe}"
                )
            context.add_asset_metadata(
                {
                    **table_metadata(summaries["daily_active_users"], dataset="daily_active_users"),
                    # The row count is every aggregate table's rows of the day; each one's follows.
                    "dagster/row_count": sum(summary.rows for summary in summaries.values()),
                    **{f"rows/{name}": summaries[name].rows for name in sorted(AGGREGATES)},
                    "uri": dg.MetadataValue.path(lake.store.uri(aggregate_key("daily_active_users", built.day))),
                    "values_made_safe": dg.MetadataValue.json(result.made_safe),
                    "values_made_safe_total": sum(result.made_safe.values()),
                    **run.day_metadata(built),
                },
                partition_key=built.day.isoformat(),
            )
        yield dg.MaterializeResult(
            metadata={"tables": dg.MetadataValue.json(sorted(AGGREGATES)), **run.run_metadata("daily_aggregates")}
        )
        yield from report_checks(context, "daily_aggregates", outcomes)

    return [events, sessionized, daily_aggregates]
