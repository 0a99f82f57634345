"""The models' notebooks (04_churn_model, 05_segments) run on the ML tests' long history, and the files they read
are what the models hold: each validation person's label and scores, the segments' profiles.

The home: the session's `ml_lake` (eight weeks of the demo's plan, people layer built) copied, with the churn
model trained as of three weekly days and the segments as of four (so the notebooks have metrics and sizes over
time), their report tables loaded into SQLite, and settings naming both: what `revolt demo --ml` and a few
`ml_job` runs leave, in a fraction of the time.
"""

import json
import shutil
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from revolt_pipeline.demo.generator import churn_labels_truth
from revolt_pipeline.demo.pipeline import churn_summary
from revolt_pipeline.lab import Lab
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import VALIDATION_FILE, ChurnModelDay, build_churn_model, load_churn_scores
from revolt_pipeline.layers.segments import PROFILES, SegmentsDay, load_segment_table
from revolt_pipeline.ml.churn import BASELINES, MODEL
from revolt_pipeline.ml.evaluation import permutation_importances
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables
from revolt_pipeline.settings import Settings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import churn_model_folder, model_key, segments_key
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.features import NUMERIC_FEATURES
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.fixtures.s3 import S3Bucket
from revolt_pipeline_tests.ml.conftest import MlLake
from revolt_pipeline_tests.notebooks.execution import execute, kernel_path, outcome_problems
from revolt_pipeline_tests.notebooks.pairs import ml_sources, read

pytestmark = pytest.mark.xdist_group("ml_lake")

# Five trials instead of twenty: the notebooks read whatever was searched, and three models must train quickly.
CHURN = ChurnSettings(trials=5)
# Models as of the last day and a week before (the history's 48 days of `churn_history_days` allow no earlier one):
# metrics across cutoffs.
CHURN_WEEKS_BACK = (1, 0)
SEGMENT_WEEKS_BACK = (3, 2, 1, 0)


@dataclass
class MlHome:
    settings: Settings
    churn: list[ChurnModelDay]
    segments: list[SegmentsDay]

    @property
    def store(self) -> ObjectStore:
        return self.settings.store


def build_ml_home(source_store: Path, last: date, folder: Path) -> MlHome:
    """A home under `folder` holding a copy of the store at `source_store` (its history through the day `last`)
    with the models trained as of `last` and weeks before, and loaded."""
    home = folder / "home"
    shutil.copytree(source_store, home / "store")
    settings = home_settings(home)
    store = settings.store
    workdir = folder / "work"
    workdir.mkdir()
    engine = create_engine(settings.report_db_url)
    try:
        ensure_tables(engine)
        with duckdb_connection() as connection:
            churn = [
                build_churn_model(store, connection, last - timedelta(weeks=weeks), CHURN, workdir)
                for weeks in CHURN_WEEKS_BACK
            ]
        segment_days = [last - timedelta(weeks=weeks) for weeks in SEGMENT_WEEKS_BACK]
        segments = DayBuilder(store, PipelineRules(), workdir).segments(segment_days)
        load_churn_scores(engine, store, schema.churn_scores, [day.as_of for day in churn])
        for table in schema.SEGMENT_TABLES:
            load_segment_table(engine, store, table, segment_days)
    finally:
        engine.dispose()
    return MlHome(settings, churn, segments)


def home_settings(home: Path) -> Settings:
    """The settings of a home with its store and SQLite report database where the embedded default puts them."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("REVOLT_STORAGE_URL", "REVOLT_REPORT_DB_URL", "REVOLT_S3_ENDPOINT_URL", "DAGSTER_HOME"):
            patch.delenv(name, raising=False)
        patch.setenv("REVOLT_HOME", str(home))
        patch.setenv("REVOLT_PARTITIONS_START", "2026-09-01")
        return Settings.from_env()


@pytest.fixture(scope="module")
def ml_home(ml_lake: MlLake, tmp_path_factory: pytest.TempPathFactory) -> MlHome:
    return build_ml_home(ml_lake.folder / "store", ml_lake.last_day, tmp_path_factory.mktemp("ml_home"))


@pytest.fixture(autouse=True)
def this_interpreters_kernel(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", kernel_path(tmp_path_factory.getbasetemp() / "jupyter"))


def test_the_churn_model_stores_each_validation_persons_label_and_scores(ml_home: MlHome, ml_lake: MlLake) -> None:
    """validation.parquet, read as the lab reads it: the people of each validation cutoff, labelled as the plan
    says they churn, and scores that give the stored metrics again."""
    trained = ml_home.churn[-1]
    training = trained.training
    as_of = trained.as_of.isoformat()
    with Lab(ml_home.settings) as lab:
        assert churn_model_folder(trained.as_of) + VALIDATION_FILE in lab.keys("models/churn")
        rows = lab.layer("models/churn", since=as_of, until=as_of).df()
        description = lab.get_json(churn_model_folder(trained.as_of) + "model.json")
    assert list(rows.columns) == ["person_id", "cutoff", "churned", MODEL, *BASELINES, "as_of_date"]
    assert sorted(set(rows["cutoff"].dt.date)) == training.validation_cutoffs
    assert len(training.validation_cutoffs) == CHURN.validation_cutoffs
    for cutoff, people in rows.groupby(rows["cutoff"].dt.date):
        assert people["person_id"].is_unique
        truth = churn_labels_truth(ml_lake.traffic, cutoff, CHURN.horizon_days)
        assert dict(zip(people["person_id"], people["churned"], strict=True)) == truth
    for name in (MODEL, *BASELINES):
        stored = description["metrics"][name]
        assert roc_auc_score(rows["churned"], rows[name]) == pytest.approx(stored["roc_auc"], abs=1e-12)
        assert average_precision_score(rows["churned"], rows[name]) == pytest.approx(stored["pr_auc"], abs=1e-12)
        assert brier_score_loss(rows["churned"], rows[name]) == pytest.approx(stored["brier"], abs=1e-12)
        assert stored["people"] == len(rows) and stored["positives"] == rows["churned"].sum()


def test_permutation_importances_are_stored_for_every_feature(ml_home: MlHome) -> None:
    """Churn is no activity after the cutoff: shuffling recency costs the model ROC AUC, whatever else it uses."""
    description = json.loads(ml_home.store.get(churn_model_folder(ml_home.churn[-1].as_of) + "model.json"))
    importances = description["permutation_importance"]
    assert set(importances) == set(NUMERIC_FEATURES)
    assert importances["days_since_last_active"]["mean"] > 0.01
    assert all(value["std"] >= 0 for value in importances.values())


def test_a_feature_the_model_ignores_has_no_permutation_importance() -> None:
    """A model of the first column only: shuffling the second changes no score; shuffling the first costs AUC."""
    random = np.random.default_rng(0)
    matrix = random.normal(size=(400, 2))
    labels = (matrix[:, 0] + random.normal(scale=0.5, size=400) > 0).astype(int)
    model = LogisticRegression().fit(matrix[:, :1], labels)
    first_only = FunctionTransformer(lambda rows: rows[:, :1])
    found = permutation_importances(make_pipeline(first_only, model), matrix, labels, ["signal", "noise"], seed=3)
    assert found["noise"] == {"mean": 0.0, "std": 0.0}
    assert found["signal"]["mean"] > 0.3
    again = permutation_importances(make_pipeline(first_only, model), matrix, labels, ["signal", "noise"], seed=3)
    assert again == found
    assert permutation_importances(model, matrix[:, :1], np.zeros(400), ["signal"]) == {}


def test_a_history_starting_after_a_training_cutoff_trains_on_the_later_ones(ml_home: MlHome) -> None:
    """The model a week before the last day has training cutoffs a day into the history and before it: they are
    left out (less than a week of people before them), not a failure of the features query."""
    earliest = ml_home.churn[0].training
    assert len(earliest.training_cutoffs) < CHURN.training_cutoffs
    assert earliest.metrics[MODEL].people > 0


def test_the_segments_store_each_persons_profile_and_segment(ml_home: MlHome) -> None:
    day = ml_home.segments[-1]
    assert day.segments is not None
    profiles = pq.read_table(ml_home.store.path(segments_key(PROFILES, day.as_of))).to_pandas().set_index("person_id")
    assigned = pq.read_table(ml_home.store.path(segments_key("person_segments", day.as_of))).to_pandas()
    assert dict(zip(assigned["person_id"], assigned["segment"], strict=True)) == profiles["segment"].to_dict()
    stored = json.loads(ml_home.store.get(model_key("segments", day.as_of)))["centres"]
    centres = profiles.groupby("segment").mean()
    for segment, centre in stored.items():
        np.testing.assert_allclose(centres.loc[int(segment), list(centre)], list(centre.values()), atol=1e-4)


@pytest.mark.parametrize("source", ml_sources(), ids=lambda path: path.stem)
def test_the_models_notebook_runs_on_a_trained_lake(source: Path, ml_home: MlHome, tmp_path: Path) -> None:
    executed = execute(read(source), ml_home.settings, tmp_path)
    assert outcome_problems(executed, source.read_text()) == []


# What the churn model reads of the ML lake: the sessionized days and the people layer, with their commits.
CHURN_INPUTS = ("sessionized_events", "sessions", "person_days", "people", "_commits/sessionized", "_commits/people")


def test_the_validation_file_is_written_and_read_on_s3(ml_lake: MlLake, s3_bucket: S3Bucket, tmp_path: Path) -> None:
    """Through the storage layer like the model's other files: on S3, the lab reads it as the layer too."""
    store = ObjectStore(s3_bucket.url("lake"), s3_endpoint_url=s3_bucket.endpoint_url)
    source = ml_lake.folder / "store"
    for prefix in CHURN_INPUTS:
        for path in sorted(path for path in (source / prefix).rglob("*") if path.is_file()):
            store.put_file(path.relative_to(source).as_posix(), path)
    with duckdb_connection() as connection:
        built = build_churn_model(store, connection, ml_lake.last_day, ChurnSettings(trials=0), tmp_path)
    settings = replace(home_settings(tmp_path / "home"), storage_url=store.url, s3_endpoint_url=s3_bucket.endpoint_url)
    with Lab(settings) as lab:
        rows = lab.layer("models/churn").df()
    expected = built.training.validation_scores
    assert rows["person_id"].tolist() == expected["person_id"].tolist()
    assert rows["churned"].tolist() == expected["churned"].tolist()
    np.testing.assert_array_equal(rows[MODEL].to_numpy(), expected[MODEL].to_numpy())


def test_the_demo_prints_the_churn_models_week_of_validation_cutoffs(ml_home: MlHome) -> None:
    training = ml_home.churn[-1].training
    lines, beats = churn_summary(ml_home.settings, ml_home.churn[-1].as_of)
    assert f"validated on the cutoffs {training.validation_cutoffs[0]} to {training.validation_cutoff} (" in lines[0]
    assert beats is training.beats_baseline
