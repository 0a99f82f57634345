"""The churn model on the demo's long history: labels as planned, better than its baselines, versioned, explained."""

import math
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from revolt_pipeline.defs.churn.sensors import history_days
from revolt_pipeline.demo.generator import churn_labels_truth
from revolt_pipeline.layers.commits import committed_days
from revolt_pipeline.layers.ml import (
    MIN_HISTORY_DAYS,
    ChurnModelDay,
    build_churn_model,
    churn_examples,
    churn_history_days,
    churn_labels,
    cutoff_of,
    person_features,
    read_churn_model,
)
from revolt_pipeline.layers.people import PEOPLE
from revolt_pipeline.ml import churn
from revolt_pipeline.ml.churn import BASELINES, MODEL, RISK_BANDS, TOP_FACTORS, features_matrix, split_cutoffs
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.transforms.features import NUMERIC_FEATURES
from revolt_pipeline_tests.ml.conftest import MlLake

pytestmark = pytest.mark.xdist_group("ml_lake")

# Measured with benchmarks/churn_margin.py (--fast: the lake's figures to the third decimal) on the demo's ML history
# (ML_USERS 500 people, ML_DAYS 56 days, built by demo/ml_history.py; light and heavy users, churn and breaks planted
# by usage and apps held crosswise with both main effects cancelled, breaks of 5 to 12 days every few weeks), default
# settings (14-day horizon, a week of daily validation cutoffs pooled, 4 weekly training cutoffs of which 3 have a week
# of history, 20 trials, REVOLT_ML_SEED 0), validation ROC AUC by demo seed, from 2026-09-01 (this test's lake) and
# from 2026-09-28 (a `revolt demo --ml` run on 2026-11-30), measured on 2026-11-30:
#   seed   gradient boosting   logistic regression   no activity for k days   ROC AUC lead      PR AUC lead
#     1       0.916 / 0.924         0.885 / 0.887            0.876 / 0.880       +0.031 / +0.037   +0.060 / +0.072
#     2       0.931 / 0.926         0.838 / 0.825            0.882 / 0.875       +0.050 / +0.051   +0.087 / +0.104
#     3       0.935 / 0.918         0.887 / 0.885            0.878 / 0.870       +0.048 / +0.034   +0.087 / +0.064
#     4       0.927 / 0.947         0.899 / 0.863            0.874 / 0.892       +0.027 / +0.055   +0.035 / +0.110
#     5       0.950 / 0.937         0.902 / 0.858            0.894 / 0.894       +0.048 / +0.043   +0.064 / +0.100
#     6       0.924 / 0.923         0.859 / 0.875            0.881 / 0.880       +0.043 / +0.043   +0.095 / +0.042
#     7       0.941 / 0.934         0.914 / 0.891            0.894 / 0.886       +0.027 / +0.043   +0.048 / +0.071 <-
#     8       0.942 / 0.942         0.877 / 0.902            0.895 / 0.895       +0.048 / +0.040   +0.103 / +0.066
# The ROC AUC lead over the 16: mean +0.042, lowest +0.027 (seeds 4 and 7 from 2026-09-01), standard deviation 0.008;
# the model led on each of the 7 validation days of all 16 (lowest day +0.017). Before (main's planting of 2026-11-29:
# unbalanced cells, churn from day 8, one break of 6 to 16 days) the lead was -0.004 to +0.05 and `revolt demo --ml
# --seed 3` failed its check once (benchmarks/README.md has the plantings measured in between).
# Floors: the lowest measured less a margin of one and a half standard deviations of the lead (0.012), so a seed of
# ordinary bad luck passes and a model no better than logistic regression does not (the test below).
ROC_AUC_FLOOR = 0.89  # lowest 0.916 (seed 1 from 2026-09-01) less 0.026
LEAD_FLOOR = 0.015  # lowest +0.027 (seeds 4 and 7 from 2026-09-01) less 0.012
# On how many of the week's validation days the model leads on that day's people alone: 7 of 7 on all 16. A tie would
# lead on about half of them.
DAYS_LED_FLOOR = 6  # lowest 7 less 1
SETTINGS = ChurnSettings()


def days_led(roc_auc_by_cutoff: dict[str, dict[str, float]]) -> int:
    """On how many validation cutoffs the model's ROC AUC is above every baseline's."""
    return sum(aucs[MODEL] > max(aucs[name] for name in BASELINES) for aucs in roc_auc_by_cutoff.values())


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
    # A lead, not a tie: the model no better than logistic regression (a lead of 0) fails here.
    by_day = trained.training.roc_auc_by_cutoff()
    assert trained.training.lead >= LEAD_FLOOR, by_day
    assert days_led(by_day) >= DAYS_LED_FLOOR, by_day
    assert metrics[MODEL].roc_auc >= ROC_AUC_FLOOR
    assert metrics[MODEL].roc_auc > metrics["recency_rule"].roc_auc
    assert metrics[MODEL].top_decile_lift > 1.0
    assert set(metrics) == {MODEL, *BASELINES}


def test_a_model_no_better_than_logistic_regression_falls_below_the_lead_floor(
    ml_lake: MlLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The floor asks for a lead, not a tie: logistic regression put in the place of gradient boosting (same split,
    same examples) leads by nothing and fails it."""
    validation, training = split_cutoffs(cutoff_of(ml_lake.last_day), SETTINGS)
    examples = churn_examples(ml_lake.store, ml_lake.connection, [*training, *validation], SETTINGS.horizon_days)
    monkeypatch.setattr(churn, "gradient_boosting", lambda params, seed: churn.logistic_regression(seed))
    imitation = churn.train_churn(examples.to_pandas(), validation, list(NUMERIC_FEATURES), ChurnSettings(trials=0))
    assert imitation.lead < LEAD_FLOOR
    assert days_led(imitation.roc_auc_by_cutoff()) < DAYS_LED_FLOOR


def test_the_split_follows_time(trained: ChurnModelDay, ml_lake: MlLake) -> None:
    training = trained.training
    validation, cutoffs = split_cutoffs(cutoff_of(trained.as_of), SETTINGS)
    latest = cutoff_of(trained.as_of) - timedelta(days=14)
    assert training.validation_cutoffs == validation == [latest - timedelta(days=n) for n in range(6, -1, -1)]
    assert {cutoff.weekday() for cutoff in validation} == set(range(7))
    # Every training label's horizon ends by the first validation cutoff: nothing learned comes from its future.
    # The earliest training cutoff is a day into the history: less than a week of people before it, left out.
    assert cutoffs[0] - ml_lake.days[0] < timedelta(days=MIN_HISTORY_DAYS) <= cutoffs[1] - ml_lake.days[0]
    assert training.training_cutoffs == cutoffs[1:]
    assert max(training.training_cutoffs) + timedelta(days=SETTINGS.horizon_days) <= min(validation)
    assert set(training.validation_scores["cutoff"]) == set(validation)


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


def test_the_model_refuses_a_day_short_of_the_history_the_sensor_waits_for(ml_lake: MlLake, tmp_path: Path) -> None:
    needed = churn_history_days(SETTINGS)
    assert history_days(SETTINGS) == needed == 48  # what ml_after_people waits for
    first = min(committed_days(ml_lake.store, PEOPLE))
    as_of = first + timedelta(days=needed - 2)  # the people layer holds one day fewer than needed up to it
    missing = first - timedelta(days=1)
    expected = rf"too little history .* needs the people layer's {needed} days from {missing} to {as_of} .* 1 of them"
    with pytest.raises(FileNotFoundError, match=expected):
        build_churn_model(ml_lake.store, ml_lake.connection, as_of, SETTINGS, tmp_path)
