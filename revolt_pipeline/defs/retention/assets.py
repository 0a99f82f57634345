"""Lifecycle and retention: the `cohort_activity` snapshot of each day (lake) and ten report tables.

`cohort_activity` of day D reads its own snapshot of D-1, the people layer's snapshot of D and the person days
of its lifecycle window (the week before D's ISO week through D): built in `people_job` after the people
assets, so every run that rebuilds people (the cascade rebuilds through the last day built) rebuilds these
days too. A day changes its own lifecycle_daily rows, its week's lifecycle_weekly rows (in total, by platform and
by app version) and the retention rows of every cohort still open (31 day cohorts, 13 week cohorts; in total and
by the app version people were acquired on), which the report step loads. `cohort_activity`'s days are built by
the `layer_runner` resource (DuckDB in this process, or the Spark job through Dagster Pipes).
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import LayerRunner
from revolt_pipeline.defs.metadata import table_metadata
from revolt_pipeline.defs.reports.assets import KINDS as REPORT_KINDS
from revolt_pipeline.defs.reports.assets import LOADED_ROWS, load_report_table, report_table_metadata
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.rules import reads_window, rules_metadata
from revolt_pipeline.layers.checks import retention_day_checks
from revolt_pipeline.layers.retention import DAY_PERIODS, WEEK_PERIODS, RetentionDay, load_retention_table
from revolt_pipeline.reports import schema
from revolt_pipeline.storage.layout import cohort_activity_key
from revolt_pipeline.transforms.rules import DayWindow, PipelineRules

OWNERS = ["team:analytics-platform"]
COHORT_ACTIVITY_PREVIEW = ["definition", "person_id", "cohort_date", "day_bits", "week_bits", "platform", "app_version"]
PREVIEWS = {"cohort_activity": COHORT_ACTIVITY_PREVIEW}
# The person days lifecycle reads: the whole ISO week before the day's, through the day (at most 13 days back).
LIFECYCLE_DAYS = DayWindow(before=13, after=0)
CHECKS = {
    "retention_cells_consistent": "In every open cohort: 0 <= retained <= retained_or_later <= cohort_size, "
    "retained_or_later never rises with the period, one cohort size, and a first_seen cohort all retained in "
    "period 0.",
    "retention_by_app_version_adds_up": "Every cell of retention_daily and retention_weekly (cohort, definition, "
    "period) equals the sum of its rows by app version (cohort_size, retained, retained_or_later): each person "
    "counts under the one platform and app version that acquired them, and nowhere else.",
    "lifecycle_reconciles_with_actives": "new + returning + resurrecting = active people of the period; returning "
    "+ dormant = those of the period before; and the day's (and each complete week's) active people equal DAU "
    "(WAU on Sundays) of active_users_daily.",
    "lifecycle_by_platform_reconciles_with_actives": "In each row by platform and by app version (states judged on "
    "that value's activity alone), new + returning + resurrecting = its active people and returning + dormant = "
    "those of the period before; and the day's active people on each platform (and app version) equal its DAU in "
    "active_users_daily_by_platform (by_app_version).",
}


def build_retention_assets(
    partitions: dg.PartitionsDefinition, rules: PipelineRules, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """`cohort_activity` (lake, with the lifecycle and retention rows) and `retention_tables` (the ten tables);
    `engine` (REVOLT_ENGINE) names the lake asset's kind in the UI."""
    described_rules = {
        **rules_metadata(rules),
        "retention/day_periods": DAY_PERIODS,
        "retention/week_periods": WEEK_PERIODS,
    }
    same_day = DayWindow(0, 0)

    @dg.asset(
        group_name="retention",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[
            reads_window("person_days", LIFECYCLE_DAYS),
            reads_window("people", same_day),
            reads_window("sessionized_events", same_day),
            dg.AssetDep(
                "cohort_activity",
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
                ),
            ),
        ],
        kinds={"parquet", engine},
        owners=OWNERS,
        tags={"layer": "people"},
        description="One row per retention definition and stitched person whose cohort is still open on the day "
        f"(day cohorts: {DAY_PERIODS + 1} days, week cohorts: {WEEK_PERIODS + 1} ISO weeks): the cohort and, as "
        "bitmaps of days 0..30 and weeks 0..12 (day_bits, week_bits), when the person was active (or sent the "
        "return event) in its horizon, and the platform and app version that acquired them (the event that put "
        "them in the cohort), which retention by app version splits cohorts by. The snapshot of the day before "
        "merged with the day's person days; the lifecycle and retention rows of the day are computed from it. "
        "Beside it, person_platforms: each person's platforms and app versions and the day first active with each, "
        "which lifecycle by platform and by app version judges new people by.",
        metadata=described_rules,
        check_specs=[partition_check(name, "cohort_activity", text, partitions) for name, text in CHECKS.items()],
    )
    def cohort_activity(
        context: dg.AssetExecutionContext, lake: LakeResource, layer_runner: LayerRunner
    ) -> Iterator[Any]:
        """Build each day of the run in order, from the snapshot of the day before."""
        run = layer_runner.build(context, lake, "cohort_activity", rules, PREVIEWS)
        outcomes = {}
        for built in run.days:
            day: RetentionDay = built.result
            key = built.day.isoformat()
            outcomes[key] = retention_day_checks(day)
            context.add_asset_metadata(
                {
                    **table_metadata(
                        built.summaries["cohort_activity"],
                        lake.store.uri(cohort_activity_key(built.day)),
                        dataset="cohort_activity",
                    ),
                    **{
                        f"lifecycle/{name}": value
                        for name, value in day.lifecycle_daily.items()
                        if name != "event_date"
                    },
                },
                partition_key=key,
            )
        yield dg.MaterializeResult(metadata=run.run_metadata("cohort_activity"))
        yield from report_checks(context, "cohort_activity", outcomes)

    @dg.multi_asset(
        name="retention_tables",
        specs=[
            dg.AssetSpec(
                table.name,
                group_name="retention",
                description=table.comment,
                deps=["cohort_activity"],
                kinds=REPORT_KINDS,
                owners=OWNERS,
                tags={"layer": "reports"},
                metadata={**report_table_metadata(table), **described_rules},
            )
            for table in schema.RETENTION_TABLES
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            partition_check("loaded_rows_match_lake", table.name, LOADED_ROWS, partitions)
            for table in schema.RETENTION_TABLES
        ],
    )
    def retention_tables(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the rows the run's days changed: their lifecycle days and weeks, and their open cohorts. A day's
        partition of a weekly or cohort table shows the rows keyed by that day (its week, its cohort)."""
        for table in schema.RETENTION_TABLES:
            yield from load_report_table(context, lake, reports, table, load_retention_table)

    return [cohort_activity, retention_tables]
