"""The models as Dagster assets: materialized for a cutoff on a lake, with their metrics as metadata, their checks
passing, and their report tables equal to the lake and finding the planted signal, on SQLite and PostgreSQL."""

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sklearn.metrics import adjusted_rand_score

from revolt_pipeline.dashboard.urls import page_url
from revolt_pipeline.defs.lake.resources import LakeResource
from revolt_pipeline.defs.partitions import daily_partitions
from revolt_pipeline.defs.recommendations.assets import build_recommendation_assets
from revolt_pipeline.defs.reports.resources import ReportDatabaseResource
from revolt_pipeline.defs.segments.assets import build_segment_assets
from revolt_pipeline.demo.generator import persona_truth
from revolt_pipeline.demo.pipeline import segments_and_recommendations_summary
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.ml.conftest import PLANNED_START, TrainedLake
from revolt_pipeline_tests.ml.test_segments import ARI_FLOOR

pytestmark = pytest.mark.xdist_group("ml_lake")

REPORT_ASSETS = {"recommendations": "people", "person_segments": "segments", "segment_sizes": "segments"}


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    (materialization,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey(asset) and event.materialization.partition
    ]
    return {name: value.value for name, value in materialization.metadata.items()}


def test_the_models_materialize_with_their_metrics_and_checks(persona_lake: TrainedLake, tmp_path: Path) -> None:
    lake = persona_lake.lake
    copy = tmp_path / "store"  # the session's lake, copied: the assets write their outputs into it
    shutil.copytree(lake.store.root, copy)
    partitions = daily_partitions(PLANNED_START.isoformat())
    last_day = lake.as_of  # the partition of a day: the models as of its end
    assets = [*build_recommendation_assets(partitions), *build_segment_assets(partitions)]
    url = f"sqlite:///{tmp_path / 'reports.sqlite'}"
    with dg.DagsterInstance.ephemeral() as instance:
        # The models' default windows (four weeks to learn from, one to judge on) reach before the traffic.
        result = dg.materialize(
            assets,
            partition_key=last_day.isoformat(),
            resources={"lake": LakeResource(url=copy.as_uri()), "reports": ReportDatabaseResource(url=url)},
            instance=instance,
        )
    assert result.success
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        ("recommendation_model", "beats_popularity"): True,
        ("recommendations", "loaded_rows_match_lake"): True,
        ("segment_model", "segments_separate"): True,
        ("segment_model", "every_person_one_segment"): True,
        ("person_segments", "loaded_rows_match_lake"): True,
        ("segment_sizes", "loaded_rows_match_lake"): True,
    }
    # Each report table's materialization links to its page on the dashboard, as of the partition's day.
    day = last_day.isoformat()
    assert {asset: _metadata(result, asset)["dashboard"] for asset in REPORT_ASSETS} == {
        asset: page_url(ReportDatabaseResource(url=url).dashboard_url, page, from_=day, to=day)
        for asset, page in REPORT_ASSETS.items()
    }
    model = _metadata(result, "recommendation_model")
    assert model["metrics/hit_rate_at_5"] > 2 * model["metrics/popularity_hit_rate_at_5"]
    assert model["metrics/people_evaluated"] > 0 and model["dagster/row_count"] > 0
    segments = _metadata(result, "segment_model")
    assert segments["metrics/segments"] >= 4 and segments["metrics/silhouette"] > 0
    assert "| segment | people | description |" in segments["segments"]
    engine = create_engine(url)
    try:
        loaded = read_rows(engine, schema.person_segments)
        assert _agreement(lake.traffic, loaded) >= ARI_FLOOR
        assert len(read_rows(engine, schema.recommendations)) == model["dagster/row_count"]
    finally:
        engine.dispose()


def _agreement(traffic: Any, rows: list[dict[str, Any]]) -> float:
    personas = persona_truth(traffic)["person_personas"]
    known = [row for row in rows if row["person_id"] in personas]
    return adjusted_rand_score([personas[row["person_id"]] for row in known], [row["segment"] for row in known])


def _lake_rows(path: str) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def _sorted(rows: list[dict[str, Any]], key: list[str]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: tuple(row[name] for name in key))


@pytest.mark.services
def test_the_model_tables_on_postgresql_equal_the_lake(persona_lake: TrainedLake, postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        ensure_tables(engine)
        builder = DayBuilder(persona_lake.lake.store, PipelineRules(), persona_lake.lake.workdir("postgres"))
        builder.model_reports(engine, [persona_lake.lake.as_of])
        tables = {
            schema.recommendations: persona_lake.recommendations.path,
            schema.person_segments: persona_lake.segments.paths["person_segments"],
            schema.segment_sizes: persona_lake.segments.paths["segment_sizes"],
        }
        for table, path in tables.items():
            key = [column.name for column in table.primary_key.columns]
            expected = _sorted(_lake_rows(path), key)
            got = _sorted(read_rows(engine, table), key)
            assert len(got) == len(expected) > 0, table.name
            frame = pd.DataFrame(got)[list(expected[0])]
            pd.testing.assert_frame_equal(frame, pd.DataFrame(expected), check_dtype=False, obj=table.name)
        assert _agreement(persona_lake.lake.traffic, read_rows(engine, schema.person_segments)) >= ARI_FLOOR
        with engine.connect() as connection:
            shares = connection.execute(sa.text("SELECT sum(share) FROM segment_sizes")).scalar_one()
        assert shares == pytest.approx(1.0)
    finally:
        engine.dispose()


def test_the_demo_prints_the_models_next_to_popularity_and_the_planted_personas(persona_lake: TrainedLake) -> None:
    truth = persona_truth(persona_lake.lake.traffic)
    lines = segments_and_recommendations_summary(persona_lake.lake.store, persona_lake.lake.as_of, truth)
    text = "\n".join(lines)
    judged = persona_lake.recommendations.evaluation
    assert f"item co-occurrence{judged.hit_rate:>20.3f}" in text and "popularity (baseline)" in text
    assert "the model beats popularity" in text
    assert f"segments as of {persona_lake.lake.as_of}: {persona_lake.segments.segments.count} of" in text
    assert all(text.count(words) for words in persona_lake.segments.segments.descriptions.values())
    agreement = float(lines[-1].rsplit(" ", 1)[1])
    assert "planted personas" in lines[-1] and agreement >= ARI_FLOOR
