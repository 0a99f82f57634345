"""Churn: each person's features as of a day (lake), the churn model trained for the day, and `churn_scores`.

Partitioned like every layer, by day: the partition of day D is the cutoff at the end of D (`layers/ml.cutoff_of`),
so features count D's own events and nothing later. The model of D is trained on labelled cutoffs before it
(`ml/churn.split_cutoffs`), judged against its baselines on the latest week of them, and versioned in the store
with its description; its check fails when it does not beat the best baseline. The features are built by the
`layer_runner` resource (DuckDB in this process, or the Spark job through Dagster Pipes); the model is trained here,
in Python.
"""

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg

from revolt_pipeline.defs.checks import partition_check, report_checks
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import LayerRunner
from revolt_pipeline.defs.metadata import Timings, table_metadata
from revolt_pipeline.defs.reports.assets import KINDS as REPORT_KINDS
from revolt_pipeline.defs.reports.assets import LOADED_ROWS, load_report_table, report_table_metadata
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.rules import reads_window
from revolt_pipeline.layers.checks import churn_model_checks
from revolt_pipeline.layers.ml import (
    VALIDATION_FILE,
    ChurnModelDay,
    FeaturesDay,
    build_churn_model,
    earliest_training_cutoff_days,
    load_churn_scores,
)
from revolt_pipeline.layers.summaries import summarize_rows
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.reports import schema
from revolt_pipeline.storage.layout import churn_model_folder, person_features_key
from revolt_pipeline.transforms.features import FEATURE_WINDOW_DAYS, NUMERIC_FEATURES
from revolt_pipeline.transforms.rules import DayWindow, PipelineRules

GROUP = "ml"
OWNERS = ["team:analytics-platform"]
FEATURES_PREVIEW = ["person_id", "days_since_last_active", "active_days_28d", "sessions_7d", "sessions_trend"]
PREVIEWS = {"person_features": FEATURES_PREVIEW}
FEATURE_CHECKS = {
    "one_row_per_person": "Every person appears once, and everyone has been active in the 28 days before the cutoff "
    "and before it only (recency between 1 and 28 days).",
}
MODEL_CHECKS = {
    "beats_best_baseline": "The model's validation ROC AUC is above that of the best baseline (logistic regression, "
    "or the 'no activity for k days' rule).",
}


def _metrics_metadata(day: ChurnModelDay) -> dict[str, Any]:
    """Every model's validation figures (`<model>/<metric>`), the search and the data, for the asset's page."""
    training = day.training
    figures = {
        f"{name}/{metric}": round(value, 4) if isinstance(value, float) else value
        for name, metrics in training.metrics.items()
        for metric, value in metrics.summary().items()
    }
    return {
        **figures,
        "best_baseline": training.best_baseline,
        "beats_baseline": training.beats_baseline,
        "recency_rule_k": training.rule_k,
        "params": dg.MetadataValue.json(training.tuning.params),
        "trials": training.tuning.trials,
        "validation_cutoff": training.validation_cutoff.isoformat(),
        "validation_cutoffs": ", ".join(str(cutoff) for cutoff in training.validation_cutoffs),
        "lead_over_best_baseline": round(training.lead, 4),
        "training_cutoffs": ", ".join(str(cutoff) for cutoff in training.training_cutoffs),
        "training_examples": training.training_examples,
        "features": dg.MetadataValue.json(training.features),
        "calibration": dg.MetadataValue.json(
            [bin_.__dict__ for bin_ in training.metrics["gradient_boosting"].calibration]
        ),
        "people_scored": day.scores.num_rows,
    }


def build_churn_assets(
    partitions: dg.PartitionsDefinition, churn: ChurnSettings, engine: str = "duckdb"
) -> list[dg.AssetsDefinition]:
    """`person_features`, `churn_model` and `churn_scores` (the report table); `engine` (REVOLT_ENGINE) names the
    features' kind in the UI."""
    feature_days = DayWindow(before=FEATURE_WINDOW_DAYS - 1, after=0)
    # The model reads the features of its earliest training cutoff, the 28 days before that, and everything since.
    earliest = earliest_training_cutoff_days(churn)
    model_days = DayWindow(before=earliest + FEATURE_WINDOW_DAYS - 1, after=0)
    described = {
        "churn/horizon_days": churn.horizon_days,
        "churn/training_cutoffs": churn.training_cutoffs,
        "churn/cutoff_spacing_days": churn.cutoff_spacing_days,
        "churn/validation_cutoffs": churn.validation_cutoffs,
        "churn/tuning_trials": churn.trials,
        "churn/seed": churn.seed,
    }

    @dg.asset(
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[
            reads_window("person_days", feature_days),
            reads_window("sessionized_events", feature_days),
            reads_window("people", DayWindow(0, 0)),
        ],
        kinds={"parquet", engine},
        owners=OWNERS,
        tags={"layer": "ml"},
        description="One row per person active in the 28 days up to the end of the day: recency, days since first "
        "seen, active days, sessions, events and session seconds over 7, 14 and 28 days, trends, platforms, app "
        "version and feature usage, from what happened before the cutoff (the midnight ending the day) only.",
        metadata={"features": dg.MetadataValue.json(list(NUMERIC_FEATURES))},
        check_specs=[partition_check(n, "person_features", t, partitions) for n, t in FEATURE_CHECKS.items()],
    )
    def person_features(
        context: dg.AssetExecutionContext, lake: LakeResource, layer_runner: LayerRunner
    ) -> Iterator[Any]:
        # Each partition's cutoff is the end of its day (the features read no rule); their checks read their file, so
        # they are judged where it was written.
        run = layer_runner.build(context, lake, "person_features", PipelineRules(), PREVIEWS)
        outcomes = {}
        for built in run.days:
            day: FeaturesDay = built.result
            key = built.day.isoformat()
            outcomes[key] = built.checks
            context.add_asset_metadata(
                {
                    **table_metadata(
                        built.summaries["person_features"],
                        lake.store.uri(person_features_key(day.cutoff)),
                        dataset="person_features",
                    ),
                    "cutoff": day.cutoff.isoformat(),
                    **run.day_metadata(built),
                },
                partition_key=key,
            )
        yield dg.MaterializeResult(metadata=run.run_metadata("person_features"))
        yield from report_checks(context, "person_features", outcomes)

    @dg.asset(
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["person_features", reads_window("person_days", model_days)],
        kinds={"scikitlearn", "optuna"},
        owners=OWNERS,
        tags={"layer": "ml"},
        description="Gradient boosting (scikit-learn's HistGradientBoosting, tuned by a bounded, seeded Optuna "
        "search) predicting who has no activity in the horizon after the day, trained on earlier labelled cutoffs "
        "and validated on the latest one against logistic regression and the 'no activity for k days' rule; "
        "versioned in the object store with its metrics, feature list and scores.",
        metadata=described,
        check_specs=[partition_check(n, "churn_model", t, partitions) for n, t in MODEL_CHECKS.items()],
    )
    def churn_model(context: dg.AssetExecutionContext, lake: LakeResource) -> Iterator[Any]:
        outcomes = {}
        timings = Timings()
        with tempfile.TemporaryDirectory(prefix="revolt-churn-") as folder, lake.duckdb() as connection:
            for key in sorted(context.partition_keys):
                day = date.fromisoformat(key)
                with timings.step("train"):
                    try:
                        built = build_churn_model(lake.store, connection, day, churn, Path(folder))
                    except (FileNotFoundError, ValueError) as missing:
                        raise dg.Failure(str(missing)) from missing
                outcomes[key] = churn_model_checks(built)
                context.add_asset_metadata(
                    {
                        **_metrics_metadata(built),
                        **table_metadata(summarize_rows(built.scores), dataset="churn_scores"),
                        "model": lake.store.uri(churn_model_folder(day)),
                        "validation": lake.store.uri(churn_model_folder(day) + VALIDATION_FILE),
                    },
                    partition_key=key,
                )
        yield dg.MaterializeResult(metadata={f"run_{name}": value for name, value in timings.metadata().items()})
        yield from report_checks(context, "churn_model", outcomes)

    @dg.asset(
        name="churn_scores",
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=["churn_model"],
        kinds=REPORT_KINDS,
        owners=OWNERS,
        tags={"layer": "reports"},
        description=schema.churn_scores.comment,
        metadata={**report_table_metadata(schema.churn_scores), **described},
        check_specs=[partition_check("loaded_rows_match_lake", "churn_scores", LOADED_ROWS, partitions)],
    )
    def churn_scores(
        context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportDatabaseResource
    ) -> Iterator[Any]:
        """Load the days' scores the churn model wrote into the report database."""
        yield from load_report_table(context, lake, reports, schema.churn_scores, load_churn_scores)

    return [person_features, churn_model, churn_scores]
