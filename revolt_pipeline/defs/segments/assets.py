"""Segments as Dagster assets: `segment_model` (lake) and `person_segments`, `segment_sizes` (report tables).

A partition of day D is the cutoff at the end of D (as for the churn model): the profiles are the people's
features as of it (`layers/ml.person_features`), of the 28 days through D, never later.
The number of segments, their silhouette, sizes and descriptions are the partition's metadata; the checks say
whether the segments separate people at all and whether everyone profiled got exactly one.
"""

import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import Timings, table_metadata
from revolt_pipeline.defs.recommendations.assets import partition_days, through_partition
from revolt_pipeline.defs.reports.assets import KINDS as REPORT_KINDS
from revolt_pipeline.defs.reports.assets import LOADED_ROWS, load_report_table, report_table_metadata
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.rules import reads_window
from revolt_pipeline.layers.checks import segment_checks
from revolt_pipeline.layers.segments import PROFILE_DAYS, SegmenterSettings, build_segments, load_segment_table
from revolt_pipeline.layers.summaries import summarize_parquet
from revolt_pipeline.reports import schema
from revolt_pipeline.storage.layout import segments_key

OWNERS = ["team:analytics-platform"]
KINDS = {"parquet", "scikitlearn"}
CHECKS = {
    "segments_separate": "The segments chosen are closer inside than to each other (silhouette above 0), and none "
    "is empty.",
    "every_person_one_segment": "One person_segments row per person profiled, and segment_sizes adds up to them.",
}


def build_segment_assets(
    partitions: dg.PartitionsDefinition, settings: SegmenterSettings | None = None
) -> list[dg.AssetsDefinition]:
    """`segment_model` (both tables and the segmentation's description in the lake) and `segment_tables`."""
    settings = settings or SegmenterSettings()
    described = {
        "model/profile_days": PROFILE_DAYS,
        "model/segment_counts_tried": f"{settings.counts.start} to {settings.counts.stop - 1}",
        "model/seed": settings.seed,
    }

    @dg.asset(
        group_name="ml",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # The features: person days and sessionized events of the profile's days, first sightings of any before.
        deps=[
            reads_window("person_days", through_partition(PROFILE_DAYS)),
            reads_window("sessionized_events", through_partition(PROFILE_DAYS)),
            reads_window("people", through_partition(1)),
        ],
        kinds=KINDS,
        owners=OWNERS,
        tags={"layer": "ml"},
        description="Behavioural segments as of the cutoff: every person active in the days before it profiled "
        "(how often, on which platforms, how intensely, which features), clustered with k-means (the number of "
        "segments by silhouette), each segment described in plain words from its centre.",
        metadata=described,
        check_specs=[partition_check(name, "segment_model", text, partitions) for name, text in CHECKS.items()],
    )
    def segment_model(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[Any]:
        """Profile, cluster and describe as of each day of the run."""
        days = partition_days(context)
        outcomes = {}
        timings = Timings()
        with tempfile.TemporaryDirectory(prefix="revolt-segments-") as folder, lake.duckdb() as connection:
            with timings.step("segments"):
                try:
                    build = partial(build_segments, lake.store, connection, days, Path(folder), settings)
                    built = lake.retrying(context, "training segment_model", build)
                except FileNotFoundError as missing:
                    raise dg.Failure(str(missing)) from missing
            for day in built:
                key = day.as_of.isoformat()
                outcomes[key] = segment_checks(day)
                segments = day.segments
                table = schema.person_segments.name
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            summarize_parquet(day.paths[table]),
                            lake.store.uri(segments_key(table, day.as_of)),
                            dataset=table,
                        ),
                        "metrics/people": day.people,
                        "metrics/segments": segments.count if segments else 0,
                        "metrics/silhouette": round(segments.silhouette, 4) if segments else 0.0,
                        "segments": dg.MetadataValue.md(_segments_markdown(day.model)),
                    },
                    partition_key=key,
                )
        yield dg.MaterializeResult(metadata={f"run_{name}": value for name, value in timings.metadata().items()})
        yield from report_checks(context, "segment_model", outcomes)

    @dg.multi_asset(
        name="segment_tables",
        specs=[
            dg.AssetSpec(
                table.name,
                group_name="ml",
                description=table.comment,
                deps=["segment_model"],
                kinds=REPORT_KINDS,
                owners=OWNERS,
                tags={"layer": "reports"},
                metadata={**report_table_metadata(table), **described},
            )
            for table in schema.SEGMENT_TABLES
        ],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            partition_check("loaded_rows_match_lake", table.name, LOADED_ROWS, partitions)
            for table in schema.SEGMENT_TABLES
        ],
    )
    def segment_tables(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the run's days of both tables into the report database."""
        for table in schema.SEGMENT_TABLES:
            yield from load_report_table(context, lake, reports, table, load_segment_table)

    return [segment_model, segment_tables]


def _segments_markdown(model: dict[str, Any]) -> str:
    """The segments of a cutoff as a Markdown table: number, people, description."""
    sizes = model.get("sizes", {})
    if not sizes:
        return "(no segments)"
    lines = ["| segment | people | description |", "|---|---|---|"]
    lines += [f"| {k} | {sizes[k]} | {model['descriptions'][k]} |" for k in sizes]
    return "\n".join(lines)
