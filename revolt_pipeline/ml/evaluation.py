"""How well scores rank and how honest their probabilities are: ROC AUC, PR AUC, Brier, calibration, lift."""

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

CALIBRATION_BINS = 10


@dataclass(frozen=True)
class CalibrationBin:
    """People whose predicted probability fell in one bin: the mean prediction against what happened."""

    low: float
    high: float
    people: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class Metrics:
    """A scorer on labelled people. `top_decile_lift`: the churn rate of the tenth scored highest over the
    base rate (1.0 is no better than chance). `calibration_error`: the people-weighted mean gap between
    predicted and observed rates over the bins (expected calibration error)."""

    people: int
    positives: int
    base_rate: float
    roc_auc: float
    pr_auc: float
    brier: float
    top_decile_lift: float
    calibration_error: float
    calibration: tuple[CalibrationBin, ...]

    def summary(self) -> dict[str, float]:
        """The figures, without the bins (for metadata and printing)."""
        return {key: value for key, value in asdict(self).items() if key != "calibration"}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float:
    """The positive rate among the tenth of people scored highest (at least one), over the overall rate.

    Ties at the boundary are broken by order of appearance after a stable sort, so the figure is deterministic."""
    base = labels.mean()
    if base == 0:
        return float("nan")
    count = max(1, int(np.ceil(len(labels) / 10)))
    top = np.argsort(-scores, kind="stable")[:count]
    return float(labels[top].mean() / base)


def calibration(labels: np.ndarray, probabilities: np.ndarray, bins: int = CALIBRATION_BINS) -> list[CalibrationBin]:
    """Equal-width bins of predicted probability; empty bins are left out."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    result = []
    for number in range(bins):
        members = index == number
        if members.any():
            result.append(
                CalibrationBin(
                    low=float(edges[number]),
                    high=float(edges[number + 1]),
                    people=int(members.sum()),
                    mean_predicted=float(probabilities[members].mean()),
                    observed_rate=float(labels[members].mean()),
                )
            )
    return result


def evaluate(labels: np.ndarray, probabilities: np.ndarray) -> Metrics:
    """Every metric of predicted churn probabilities against labels (1 churned, 0 stayed).

    ROC AUC and PR AUC need both classes: with one, they are NaN (and a check comparing them fails)."""
    labels = np.asarray(labels, dtype=int)
    probabilities = np.asarray(probabilities, dtype=float)
    both = 0 < labels.sum() < len(labels)
    bins = calibration(labels, probabilities)
    error = sum(b.people * abs(b.mean_predicted - b.observed_rate) for b in bins) / max(1, len(labels))
    return Metrics(
        people=len(labels),
        positives=int(labels.sum()),
        base_rate=float(labels.mean()) if len(labels) else float("nan"),
        roc_auc=float(roc_auc_score(labels, probabilities)) if both else float("nan"),
        pr_auc=float(average_precision_score(labels, probabilities)) if both else float("nan"),
        brier=float(brier_score_loss(labels, probabilities)) if len(labels) else float("nan"),
        top_decile_lift=top_decile_lift(labels, probabilities),
        calibration_error=float(error),
        calibration=tuple(bins),
    )


def permutation_importances(
    model: Any, matrix: np.ndarray, labels: np.ndarray, features: list[str], *, repeats: int = 5, seed: int = 0
) -> dict[str, dict[str, float]]:
    """How much the ROC AUC falls when one feature's values are shuffled among the people (mean and standard
    deviation over `repeats` shuffles, seeded): what the model relies on, on people it was not fitted on.
    Empty with one class (no ROC AUC to lose).

    Every shuffled copy is scored in one prediction (as scikit-learn's `permutation_importance` does one by one):
    a few hundred people times the features times the repeats is one batch of rows."""
    labels = np.asarray(labels, dtype=int)
    matrix = np.asarray(matrix, dtype=float)
    if not 0 < labels.sum() < len(labels):
        return {}
    baseline = roc_auc_score(labels, model.predict_proba(matrix)[:, 1])
    random = np.random.default_rng(seed)
    copies = np.repeat(matrix[np.newaxis, :, :], repeats * len(features), axis=0)
    for repeat in range(repeats):
        for index in range(len(features)):
            copy = copies[repeat * len(features) + index]
            copy[:, index] = copy[random.permutation(len(copy)), index]
    scores = model.predict_proba(copies.reshape(-1, matrix.shape[1]))[:, 1].reshape(len(copies), -1)
    drops = np.array([baseline - roc_auc_score(labels, row) for row in scores]).reshape(repeats, len(features))
    return {
        name: {"mean": float(drops[:, index].mean()), "std": float(drops[:, index].std())}
        for index, name in enumerate(features)
    }
