"""The ML assets in Dagster: features, the churn model with its metrics as metadata and its check, churn_scores."""

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from revolt_pipeline.dashboard.urls import page_url
from revolt_pipeline.defs.churn.assets import build_churn_assets
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.lake.runners import InProcessLayerRunner
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import read_rows
from revolt_pipeline_tests.ml.conftest import MlLake

pytestmark = pytest.mark.xdist_group("ml_lake")


def test_ml_assets_materialize_with_metrics_and_checks(ml_lake: MlLake, tmp_path: Path) -> None:
    partition = ml_lake.last_day.isoformat()
    reports = ReportDatabaseResource(url=f"sqlite:///{tmp_path / 'reports.sqlite'}")
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        build_churn_assets(daily_partitions("2026-10-01"), ChurnSettings()),
        partition_key=partition,
        resources={
            "lake": LakeResource(url=ml_lake.store.url),
            "reports": reports,
            "layer_runner": InProcessLayerRunner(),
        },
        instance=instance,
    )
    assert result.success
    checks = {
        (evaluation.asset_key.to_user_string(), evaluation.check_name): evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }
    assert checks == {
        ("person_features", "one_row_per_person"): True,
        ("churn_model", "beats_best_baseline"): True,
        ("churn_scores", "loaded_rows_match_lake"): True,
    }
    model = instance.get_latest_materialization_event(dg.AssetKey("churn_model"))
    assert model is not None and model.asset_materialization is not None
    metadata = model.asset_materialization.metadata
    for name in ("gradient_boosting", "logistic_regression", "recency_rule"):
        for metric in ("roc_auc", "pr_auc", "brier", "top_decile_lift", "calibration_error"):
            assert f"{name}/{metric}" in metadata
    assert metadata["beats_baseline"].value is True
    # churn_scores' materialization links to the churn page as of its day, as every report asset links to its page.
    (scores,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("churn_scores"), asset_partitions=[partition]), limit=1
    ).records
    assert scores.asset_materialization is not None
    assert scores.asset_materialization.metadata["dashboard"].value == page_url(
        reports.dashboard_url, "churn", from_=partition, to=partition
    )
    rows = read_rows(reports.engine, schema.churn_scores)
    assert len(rows) == metadata["people_scored"].value > 0
    with reports.engine.connect() as connection:
        bands = dict(
            connection.execute(
                sa.select(schema.churn_scores.c.risk_band, sa.func.count()).group_by(schema.churn_scores.c.risk_band)
            ).all()
        )
    assert set(bands) <= {"high", "medium", "low"} and bands.get("high", 0) > 0
