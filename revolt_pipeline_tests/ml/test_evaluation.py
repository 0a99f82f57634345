"""The metrics the churn model is judged by, on labels and scores small enough to count by hand."""

import math

import numpy as np
import pytest

from revolt_pipeline.ml.evaluation import calibration, evaluate, top_decile_lift


def test_a_perfect_ranking_has_auc_one_and_the_top_decile_all_churned() -> None:
    labels = np.array([0] * 18 + [1] * 2)
    scores = np.linspace(0.0, 1.0, 20)
    metrics = evaluate(labels, scores)
    assert (metrics.roc_auc, metrics.pr_auc) == (1.0, 1.0)
    # The top tenth (2 of 20 people) holds both churners: 100% against a base rate of 10%.
    assert metrics.top_decile_lift == pytest.approx(10.0)
    assert (metrics.people, metrics.positives, metrics.base_rate) == (20, 2, 0.1)


def test_brier_and_calibration_compare_probabilities_with_what_happened() -> None:
    labels = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    probabilities = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    metrics = evaluate(labels, probabilities)
    assert metrics.brier == pytest.approx(np.mean((probabilities - labels) ** 2))
    bins = calibration(labels, probabilities)
    assert [(b.people, b.mean_predicted, b.observed_rate) for b in bins] == [(4, 0.25, 0.25), (4, 0.75, 0.75)]
    assert metrics.calibration_error == pytest.approx(0.0)


def test_an_overconfident_scorer_shows_its_calibration_error() -> None:
    labels = np.array([0, 1, 0, 1])
    metrics = evaluate(labels, np.array([0.95, 0.95, 0.95, 0.95]))
    assert metrics.calibration_error == pytest.approx(0.45)
    assert metrics.roc_auc == 0.5


def test_one_class_has_no_auc_and_no_lift() -> None:
    metrics = evaluate(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]))
    assert math.isnan(metrics.roc_auc) and math.isnan(metrics.pr_auc)
    assert math.isnan(top_decile_lift(np.array([0, 0]), np.array([0.3, 0.1])))
