"""Funnels: per-person progress through each funnel of REVOLT_FUNNELS_FILE (lake) and its step tables (reports).

`funnel_progress` of day D reads the sessionized events of D and of the days the longest conversion window
reaches after it (`PipelineRules.funnel_window`), so a change on day D reopens the funnel days before it whose
windows reach it (`defs/funnels/sensors.py`). The weekly tables' partition D is the ISO week of D, as of the
latest day built in it. `funnel_progress`'s days are built by the `layer_runner` resource (DuckDB in this process, or
the Spark job through Dagster Pipes); the step tables are loaded here.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import LayerRunner
from revolt_pipeline.defs.metadata import table_metadata
from revolt_pipeline.defs.reports.assets import KINDS as REPORT_KINDS
from revolt_pipeline.defs.reports.assets import LOADED_ROWS, load_report_table, report_table_metadata
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.rules import reads_window, rules_metadata
from revolt_pipeline.layers.checks import CheckOutcome, funnel_steps_check
from revolt_pipeline.layers.funnels import WEEKLY_TABLES, FunnelDay, iso_week_start, load_funnel_steps
from revolt_pipeline.reports import schema
from revolt_pipeline.storage.layout import funnel_progress_key
from revolt_pipeline.transforms.rules import PipelineRules

OWNERS = ["team:analytics-platform"]
PROGRESS_PREVIEW = ["funnel", "person_id", "platform", "app_version", "entered_at", "steps_reached"]
PREVIEWS = {"funnel_progress": PROGRESS_PREVIEW}
FUNNEL_PROGRESS_CONSISTENT = (
    "Each person once per funnel, at step 1 or beyond: step 1 at the entry, each step reached at or after the one "
    "before it, no time after the last step reached."
)
FUNNEL_STEPS_CONSISTENT = (
    "Along each funnel's steps: step 1 is reached by everyone who entered, reached never grows, conversions lie "
    "in [0, 1]."
)
FUNNEL_REPORTS = tuple(table.name for table in schema.FUNNEL_TABLES)


def _funnels_metadata(rules: PipelineRules) -> dict[str, Any]:
    """The funnels an asset was built with, shown on its page: none configured is said plainly."""
    funnels = {
        funnel.name: f"{' → '.join(step.label for step in funnel.steps)} (within {funnel.window}, {funnel.order})"
        for funnel in rules.funnels
    }
    return {
        **rules_metadata(rules),
        "rules/funnel_window_days": rules.funnel_window.after,
        "funnels": dg.MetadataValue.json(funnels)
        if funnels
        else "no funnels configured: write REVOLT_FUNNELS_FILE (docs/pipeline.md, Funnels)",
    }


def _steps_checks(rows: pa.Table) -> list[CheckOutcome]:
    return [funnel_steps_check(rows.to_pylist())]


def build_funnel_assets(
    partitions: dg.PartitionsDefinition, rules: PipelineRules, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """`funnel_progress` (lake) and `funnel_reports` (the funnel step tables, daily and weekly, in total and by
    platform; daily by app version too); `engine` (REVOLT_ENGINE) names the lake asset's kind in the UI."""
    described = _funnels_metadata(rules)

    @dg.asset(
        name="funnel_progress",
        group_name="funnels",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[reads_window("sessionized_events", rules.funnel_window)],
        kinds={"parquet", engine},
        owners=OWNERS,
        tags={"layer": "funnels"},
        description="One row per funnel and stitched person entering it on the day (step 1): the entry's platform, "
        "app version and time, the steps reached within the funnel's window and when. The day's daily step tables "
        "and its ISO week's are counted from it.",
        metadata=described,
        check_specs=[
            partition_check("funnel_progress_consistent", "funnel_progress", FUNNEL_PROGRESS_CONSISTENT, partitions)
        ],
    )
    def funnel_progress(
        context: dg.AssetExecutionContext, lake: LakeResource, layer_runner: LayerRunner
    ) -> Iterator[Any]:
        """Build each day of the run, then count its weeks again. A day's check reads its file, so it is judged where
        the file was written."""
        run = layer_runner.build(context, lake, "funnel_progress", rules, PREVIEWS)
        outcomes = {}
        for built in run.days:
            day: FunnelDay = built.result
            outcomes[built.day.isoformat()] = built.checks
            context.add_asset_metadata(
                {
                    **table_metadata(
                        built.summaries["funnel_progress"],
                        lake.store.uri(funnel_progress_key(built.day)),
                        dataset="funnel_progress",
                    ),
                    "entered": dg.MetadataValue.json({f.name: day.entered.get(f.name, 0) for f in rules.funnels}),
                    "event_days_read": ", ".join(d.isoformat() for d in day.events_days) or "none built",
                    **({} if rules.funnels else {"funnels": "no funnels configured: no rows"}),
                },
                partition_key=built.day.isoformat(),
            )
        yield dg.MaterializeResult(metadata=run.run_metadata("funnel_progress"))
        yield from report_checks(context, "funnel_progress", outcomes)

    @dg.multi_asset(
        name="funnel_reports",
        specs=[
            dg.AssetSpec(
                table.name,
                group_name="funnels",
                description=table.comment,
                deps=["funnel_progress"],
                kinds=REPORT_KINDS,
                owners=OWNERS,
                tags={"layer": "reports"},
                metadata={**report_table_metadata(table), **described},
            )
            for table in schema.FUNNEL_TABLES
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            check
            for table in schema.FUNNEL_TABLES
            for check in (
                partition_check("loaded_rows_match_lake", table.name, LOADED_ROWS, partitions),
                partition_check("funnel_steps_consistent", table.name, FUNNEL_STEPS_CONSISTENT, partitions),
            )
        ],
    )
    def funnel_reports(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the run's days (the weekly tables: their weeks) of each funnel step table."""
        for table in schema.FUNNEL_TABLES:
            period = iso_week_start if table.name in WEEKLY_TABLES else (lambda day: day)
            yield from load_report_table(
                context, lake, reports, table, load_funnel_steps, more_checks=_steps_checks, period=period
            )

    return [funnel_progress, funnel_reports]
