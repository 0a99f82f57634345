"""Recommendations as Dagster assets: `recommendation_model` (lake) and `recommendations` (report table).

A partition of day D is the cutoff at the end of D (`layers/ml.cutoff_of`, as for the churn model): the model
learns from the sessionized events of the `TRAINING_DAYS + HOLDOUT_DAYS` days through D, never later. The model's
evaluation against popularity is the partition's metadata, and the check `beats_popularity` fails a model that
does no better than suggesting the most used items.
"""

import tempfile
from collections.abc import Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.metadata import Timings, table_metadata
from revolt_pipeline.defs.reports.assets import KINDS as REPORT_KINDS
from revolt_pipeline.defs.reports.assets import LOADED_ROWS, load_report_table, report_table_metadata
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.rules import reads_window
from revolt_pipeline.layers.checks import recommendation_checks
from revolt_pipeline.layers.recommendations import RecommenderSettings, build_recommendations, load_recommendations
from revolt_pipeline.layers.summaries import summarize_parquet
from revolt_pipeline.reports import schema
from revolt_pipeline.storage.layout import recommendations_key
from revolt_pipeline.transforms.rules import DayWindow

OWNERS = ["team:analytics-platform"]
KINDS = {"parquet", "scikitlearn"}
CHECKS = {
    "beats_popularity": "On the held-out days before the cutoff, the model's hit rate at k beats suggesting the "
    "most used items, and its recall at k is no worse.",
}


def through_partition(days: int) -> DayWindow:
    """The `days` days a model of a partition reads: the partition's day and those before it."""
    return DayWindow(before=days - 1, after=0)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The run's days: the models are as of the end of each (their cutoff the midnight after it)."""
    return sorted(date.fromisoformat(key) for key in context.partition_keys)


def build_recommendation_assets(
    partitions: dg.PartitionsDefinition, settings: RecommenderSettings | None = None
) -> list[dg.AssetsDefinition]:
    """`recommendation_model` (the suggestions and the model's description in the lake) and `recommendations`."""
    settings = settings or RecommenderSettings()
    described = {
        "model/training_days": settings.training_days,
        "model/holdout_days": settings.holdout_days,
        "model/suggestions": settings.suggestions,
    }

    @dg.asset(
        group_name="ml",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[reads_window("sessionized_events", through_partition(settings.training_days + settings.holdout_days))],
        kinds=KINDS,
        owners=OWNERS,
        tags={"layer": "ml"},
        description="Item-item co-occurrence over the items (path steps) people used in the days before the cutoff, "
        f"and the {settings.suggestions} items each person has not used yet that it suggests first. Judged on the "
        f"last {settings.holdout_days} days before the cutoff (fitted on the days before them) against suggesting "
        "the most used items: hit rate and recall at k are the partition's metadata.",
        metadata=described,
        check_specs=[partition_check(name, "recommendation_model", text, partitions) for name, text in CHECKS.items()],
    )
    def recommendation_model(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[Any]:
        """Train, judge and suggest as of each day of the run."""
        days = partition_days(context)
        outcomes = {}
        timings = Timings()
        with tempfile.TemporaryDirectory(prefix="revolt-recommendations-") as folder, lake.duckdb() as connection:
            with timings.step("recommendations"):
                try:
                    build = partial(build_recommendations, lake.store, connection, days, Path(folder), settings)
                    built = lake.retrying(context, "training recommendation_model", build)
                except FileNotFoundError as missing:
                    raise dg.Failure(str(missing)) from missing
            for day in built:
                key = day.as_of.isoformat()
                outcomes[key] = recommendation_checks(day)
                context.add_asset_metadata(
                    {
                        **table_metadata(
                            summarize_parquet(day.path),
                            lake.store.uri(recommendations_key(day.as_of)),
                            dataset="recommendations",
                        ),
                        **{f"metrics/{name}": value for name, value in day.evaluation.metrics().items()},
                        "model/items": day.items,
                        "model/people": day.people,
                    },
                    partition_key=key,
                )
        yield dg.MaterializeResult(metadata={f"run_{name}": value for name, value in timings.metadata().items()})
        yield from report_checks(context, "recommendation_model", outcomes)

    @dg.asset(
        name=schema.recommendations.name,
        group_name="ml",
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["recommendation_model"],
        kinds=REPORT_KINDS,
        owners=OWNERS,
        tags={"layer": "reports"},
        description=schema.recommendations.comment,
        metadata={**report_table_metadata(schema.recommendations), **described},
        check_specs=[partition_check("loaded_rows_match_lake", schema.recommendations.name, LOADED_ROWS, partitions)],
    )
    def recommendations(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the run's days of suggestions into the report database."""
        yield from load_report_table(context, lake, reports, schema.recommendations, load_recommendations)

    return [recommendation_model, recommendations]
