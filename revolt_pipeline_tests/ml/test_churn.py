"""The churn model on the demo's long history: labels as planned, better than its baselines, versioned, explained."""

import math
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from revolt_pipeline.demo.generator import churn_labels_truth
from revolt_pipeline.layers.ml import (
    ChurnModelDay,
    build_churn_model,
    churn_labels,
    cutoff_of,
    person_features,
    read_churn_model,
)
from revolt_pipeline.ml.churn import BASELINES, MODEL, RISK_BANDS, TOP_FACTORS, features_matrix, split_cutoffs
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.transforms.features import NUMERIC_FEATURES
from revolt_pipeline_tests.ml.conftest import MlLake

pytestmark = pytest.mark.xdist_group("ml_lake")

# Validation ROC AUC measured on the demo's ML history before its two builders were unified (500 people, 56 days;
# churn, breaks and data-taking bursts planted by usage and apps held together; default settings: 14-day horizon,
# 4 weekly training cutoffs, 20 trials, REVOLT_ML_SEED 0 unless said), by seed of the demo:
#   seed   gradient boosting   logistic regression   no activity for k days   margin over the best
#     1         0.981                0.951                  0.941                  +0.029
#     2         0.962                0.947                  0.930                  +0.015  (ML 1: +0.024)
#     3         0.961                0.950                  0.937                  +0.011  (ML 1: +0.010)
#     4         0.954                0.939                  0.924                  +0.014  (ML 1: +0.017)
#     7         0.957                0.949                  0.894                  +0.009  (ML 1, 2: +0.009, +0.010)
#                                                                                  <- this test's (the demo's default)
# Before the planted churn depended on usage and apps together, and before the rhythm and shape features, the model
# was within 0.006 of logistic regression either way (seed 7: 0.959 against 0.955, +0.005; seed 1: 0.954 against
# 0.950; seed 2 earlier 0.948 against 0.949): a tie.
# Since the ML history has one builder (demo/ml_history.py, with identity links and the days events spill into),
# the margin on this test's history (seed 7) is +0.003 (0.953 against 0.949); seeds 1 and 2 give +0.030 and +0.022,
# and stronger bursts move seed 7 to +0.018 but seed 3 to -0.008: on 500 people the margin is within the noise of
# one validation cutoff, so no margin floor is asserted here (issue 9 keeps it open), only that boosting wins.
# Floor: the lowest measured (0.953) less a margin of 0.023.
ROC_AUC_FLOOR = 0.93
SETTINGS = ChurnSettings()


@pytest.fixture(scope="module")
def trained(ml_lake: MlLake, tmp_path_factory: pytest.TempPathFactory) -> ChurnModelDay:
    return build_churn_model(
        ml_lake.store, ml_lake.connection, ml_lake.last_day, SETTINGS, tmp_path_factory.mktemp("churn")
    )


def test_labels_say_who_the_plan_has_churn(ml_lake: MlLake) -> None:
    cutoff = cutoff_of(ml_lake.last_day) - timedelta(days=SETTINGS.horizon_days)
    features = person_features(ml_lake.store, ml_lake.connection, cutoff)
    labels = churn_labels(ml_lake.store, ml_lake.connection, features, cutoff, SETTINGS.horizon_days)
    found = dict(zip(labels["person_id"].to_pylist(), labels["churned"].to_pylist(), strict=True))
    assert found == churn_labels_truth(ml_lake.traffic, cutoff, SETTINGS.horizon_days)
    assert 0 < sum(found.values()) < len(found)


def test_the_model_beats_its_baselines_and_the_floor(trained: ChurnModelDay) -> None:
    metrics = trained.training.metrics
    assert trained.training.beats_baseline, {name: metrics[name].roc_auc for name in metrics}
    assert metrics[MODEL].roc_auc >= ROC_AUC_FLOOR
    assert metrics[MODEL].roc_auc > metrics["recency_rule"].roc_auc
    assert metrics[MODEL].top_decile_lift > 1.0
    assert set(metrics) == {MODEL, *BASELINES}


def test_the_split_follows_time(trained: ChurnModelDay) -> None:
    training = trained.training
    validation, cutoffs = split_cutoffs(cutoff_of(trained.as_of), SETTINGS)
    assert training.validation_cutoff == validation == cutoff_of(trained.as_of) - timedelta(days=14)
    # Every training label's horizon ends by the validation cutoff: nothing learned comes from its future.
    assert training.training_cutoffs == cutoffs
    assert max(training.training_cutoffs) + timedelta(days=SETTINGS.horizon_days) <= validation


def test_the_model_is_versioned_with_its_metrics_and_features(trained: ChurnModelDay, ml_lake: MlLake) -> None:
    model, description = read_churn_model(ml_lake.store, trained.as_of)
    assert description["features"] == list(NUMERIC_FEATURES)
    assert description["metrics"][MODEL]["roc_auc"] == trained.training.metrics[MODEL].roc_auc
    assert description["beats_baseline"] is True
    assert set(description["params"]) == {
        "learning_rate",
        "max_iter",
        "max_leaf_nodes",
        "min_samples_leaf",
        "l2_regularization",
    }
    # The stored model gives the stored scores.
    people = person_features(ml_lake.store, ml_lake.connection, cutoff_of(trained.as_of)).to_pandas()
    scores = model.predict_proba(features_matrix(people, description["features"]))[:, 1]
    np.testing.assert_allclose(scores, trained.scores["score"].to_numpy())


def test_scores_have_a_band_and_the_features_that_drove_them(trained: ChurnModelDay, ml_lake: MlLake) -> None:
    rows = trained.scores.to_pylist()
    people = person_features(ml_lake.store, ml_lake.connection, cutoff_of(trained.as_of))
    assert sorted(row["person_id"] for row in rows) == sorted(people["person_id"].to_pylist())
    factor = re.compile(r"^(\w+)=(\S+) \(\+(\d\.\d{3})\)$")
    for row in rows:
        assert row["risk_band"] == next(band for bound, band in RISK_BANDS if row["score"] >= bound)
        factors = [factor.match(part) for part in row["top_factors"].split("; ")] if row["top_factors"] else []
        assert all(factors) and len(factors) <= TOP_FACTORS, row["top_factors"]
        assert all(match.group(1) in NUMERIC_FEATURES for match in factors if match)
    high = [row for row in rows if row["risk_band"] == "high"]
    assert high and all(row["top_factors"] for row in high)


def test_the_same_seed_trains_the_same_model(trained: ChurnModelDay, ml_lake: MlLake, tmp_path: Path) -> None:
    again = build_churn_model(ml_lake.store, ml_lake.connection, ml_lake.last_day, SETTINGS, tmp_path)
    assert again.training.tuning.params == trained.training.tuning.params
    assert again.scores["score"].to_pylist() == trained.scores["score"].to_pylist()
    assert not math.isnan(again.training.metrics[MODEL].brier)


def test_too_short_a_history_says_how_much_is_needed(ml_lake: MlLake, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="too little history"):
        build_churn_model(ml_lake.store, ml_lake.connection, ml_lake.days[20], SETTINGS, tmp_path)
