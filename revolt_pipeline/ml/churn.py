"""Churn: gradient boosting against two baselines on a time split, tuned by a bounded, seeded search, and explained.

Examples are people as of several cutoffs (features from before each, the label from the horizon after it).
The split follows time: the model is validated on the latest week of cutoffs whose horizons are over (a cutoff a
day: `split_cutoffs`), and trained on earlier cutoffs whose horizons end by the first of them, so nothing it learns
comes from the validation's future. One validation cutoff was too few to judge by: on the demo's 500 people the
lead of the model over logistic regression moved by more than itself from one cutoff to the next (the validation
pools the week's people and cutoffs; `roc_auc_by_cutoff` shows each day's). The hyperparameter search never sees
the validation cutoffs either: it scores each trial on the training cutoffs alone, each fitted on the ones before
it (expanding-window folds). The reported metrics are the validation's; the model kept for scoring is then
refitted on the training cutoffs and the latest validation cutoff with the chosen hyperparameters, since the
latest behaviour matters most (the week's other days would count the same people six times more).

Baselines: logistic regression on the same features (scaled), and the rule "no activity for k days", scored by
a non-decreasing fit of the training cutoffs' churn to recency (the rule at every k at once, its strongest form;
`k` is the threshold that best separates, for reading).

Why a score: `explain` replaces one feature at a time by its typical value (the training median) and reports
how much the probability falls: the features whose actual values raise the person's risk most. Not additive
(unlike SHAP values), but exact for what it states, and cheap: one prediction per person and feature.
"""

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from revolt_pipeline.ml.evaluation import Metrics, evaluate
from revolt_pipeline.ml.training import ChurnSettings

if TYPE_CHECKING:
    import optuna

# The bounded search space; a trial draws each within its bounds (log scale where marked).
SEARCH_SPACE: dict[str, tuple[str, float, float]] = {
    "learning_rate": ("log", 0.02, 0.3),
    "max_iter": ("int", 30, 200),
    "max_leaf_nodes": ("int", 3, 12),
    "min_samples_leaf": ("int", 20, 150),
    "l2_regularization": ("log", 1e-3, 10.0),
}
# Small trees with large leaves: the examples are hundreds of people per cutoff, and a deep tree would learn the
# training cutoffs' noise.
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 60,
    "max_leaf_nodes": 6,
    "min_samples_leaf": 50,
    "l2_regularization": 1.0,
}
# A score at or above the bound is in the band (probabilities: the model is calibrated by its loss).
RISK_BANDS = ((0.5, "high"), (0.2, "medium"), (0.0, "low"))
TOP_FACTORS = 3
RECENCY = "days_since_last_active"
MODEL = "gradient_boosting"
BASELINES = ("logistic_regression", "recency_rule")


def split_cutoffs(scoring_cutoff: date, settings: ChurnSettings) -> tuple[list[date], list[date]]:
    """The validation cutoffs (the latest whose horizon ends by the scoring cutoff and the days before it, a week
    by default) and the training cutoffs (weekly, say, back from the latest whose horizon ends by the first
    validation cutoff), each oldest first."""
    latest_validation = scoring_cutoff - timedelta(days=settings.horizon_days)
    validation = [latest_validation - timedelta(days=n) for n in range(settings.validation_cutoffs)]
    latest_training = min(validation) - timedelta(days=settings.horizon_days)
    training = [
        latest_training - timedelta(days=settings.cutoff_spacing_days * n) for n in range(settings.training_cutoffs)
    ]
    return sorted(validation), sorted(training)


class RecencyRule:
    """The rule "churned if no activity for k days", at every k at once: the probability is a non-decreasing
    function of the days since last active, fitted to the training cutoffs' churn (isotonic regression), so it
    ranks people by recency alone. `k`: the threshold with the best Youden's J, for reading."""

    def __init__(self) -> None:
        self.curve = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        self.k = 0

    def fit(self, recency: np.ndarray, labels: np.ndarray) -> "RecencyRule":
        recency, labels = np.asarray(recency, dtype=float), np.asarray(labels, dtype=int)
        self.curve.fit(recency, labels)
        best = -math.inf
        positives, negatives = max(1, labels.sum()), max(1, (1 - labels).sum())
        for k in np.unique(recency):
            flagged = recency >= k
            j = (flagged & (labels == 1)).sum() / positives - (flagged & (labels == 0)).sum() / negatives
            if j > best:
                best, self.k = j, int(k)
        return self

    def predict(self, recency: np.ndarray) -> np.ndarray:
        return np.asarray(self.curve.predict(np.asarray(recency, dtype=float)), dtype=float)


def features_matrix(examples: pd.DataFrame, features: list[str]) -> np.ndarray:
    return examples[features].astype(float).to_numpy()


def gradient_boosting(params: dict[str, Any], seed: int) -> HistGradientBoostingClassifier:
    # No early stopping: it would hold out a random (not time-based) part of the training rows.
    return HistGradientBoostingClassifier(**params, early_stopping=False, random_state=seed)


def logistic_regression(seed: int) -> Pipeline:
    return make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)
    )


def _suggest(trial: "optuna.Trial") -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, (kind, low, high) in SEARCH_SPACE.items():
        if kind == "int":
            params[name] = trial.suggest_int(name, int(low), int(high))
        else:
            params[name] = trial.suggest_float(name, low, high, log=True)
    return params


@dataclass(frozen=True)
class Tuning:
    params: dict[str, Any]
    trials: int
    inner_roc_auc: float | None  # the best trial's mean ROC AUC over the time folds; None: not searched


def time_folds(train: pd.DataFrame) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Expanding-window folds over the training cutoffs: fit on the cutoffs before one, score that one (each
    from the second on); a fold with one class on either side is left out."""
    cutoffs = sorted(train["cutoff"].unique())
    folds = []
    for cutoff in cutoffs[1:]:
        fit, score = train[train["cutoff"] < cutoff], train[train["cutoff"] == cutoff]
        if fit["churned"].nunique() == 2 and score["churned"].nunique() == 2:
            folds.append((fit, score))
    return folds


def tune(train: pd.DataFrame, features: list[str], settings: ChurnSettings) -> Tuning:
    """Search the bounded space with Optuna's TPE sampler (seeded), each trial scored by its mean ROC AUC over
    the time folds of the training cutoffs (`time_folds`): the validation cutoff is never seen. Without a
    fold (one training cutoff, or one class), keep the defaults."""
    folds = [
        (features_matrix(fit, features), fit["churned"].to_numpy(), features_matrix(score, features), score["churned"])
        for fit, score in time_folds(train)
    ]
    if settings.trials <= 0 or not folds:
        return Tuning(dict(DEFAULT_PARAMS), 0, None)
    import optuna  # slow to import: only when a search runs, not whenever the definitions load

    def objective(trial: "optuna.Trial") -> float:
        params = _suggest(trial)
        return float(
            np.mean(
                [
                    roc_auc_score(
                        y_score, gradient_boosting(params, settings.seed).fit(x_fit, y_fit).predict_proba(x_score)[:, 1]
                    )
                    for x_fit, y_fit, x_score, y_score in folds
                ]
            )
        )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=settings.seed))
    study.enqueue_trial(DEFAULT_PARAMS)  # the defaults are always among the candidates
    study.optimize(objective, n_trials=settings.trials)
    return Tuning(dict(study.best_params), settings.trials, float(study.best_value))


@dataclass
class ChurnTraining:
    """A trained churn model and how it did: validation metrics of it and of each baseline."""

    model: HistGradientBoostingClassifier
    features: list[str]
    reference: dict[str, float]  # each feature's training median, the typical value `explain` compares with
    tuning: Tuning
    validation_cutoffs: list[date]
    training_cutoffs: list[date]
    metrics: dict[str, Metrics]  # MODEL and each of BASELINES, on every validation cutoff's people together
    rule_k: int
    training_examples: int
    refit_examples: int
    settings: ChurnSettings = field(default_factory=ChurnSettings)
    # Each validation person and cutoff (`person_id`, `cutoff`, `churned`) and every scorer's probability (a column
    # per name of `metrics`): the curves behind the metrics. `validated_model` is the model those scores come from,
    # fitted on the training cutoffs only (`model` is refitted with the latest validation cutoff too).
    validation_scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    validated_model: HistGradientBoostingClassifier | None = None

    @property
    def validation_cutoff(self) -> date:
        """The latest validation cutoff (the one the model is refitted with)."""
        return max(self.validation_cutoffs)

    def roc_auc_by_cutoff(self) -> dict[str, dict[str, float]]:
        """Each validation cutoff's own ROC AUC of every scorer (NaN: one class that day): the spread behind the
        pooled figure."""
        result = {}
        for cutoff, people in self.validation_scores.groupby("cutoff", sort=True):
            labels = people["churned"].to_numpy()
            both = 0 < labels.sum() < len(labels)
            result[cutoff.isoformat()] = {
                name: float(roc_auc_score(labels, people[name])) if both else math.nan for name in self.metrics
            }
        return result

    @property
    def best_baseline(self) -> str:
        return max(BASELINES, key=lambda name: _or_minus_inf(self.metrics[name].roc_auc))

    @property
    def lead(self) -> float:
        """The model's validation ROC AUC less the best baseline's (NaN when either is)."""
        return self.metrics[MODEL].roc_auc - self.metrics[self.best_baseline].roc_auc

    @property
    def beats_baseline(self) -> bool:
        """The model's validation ROC AUC is above every baseline's."""
        return _or_minus_inf(self.metrics[MODEL].roc_auc) > _or_minus_inf(self.metrics[self.best_baseline].roc_auc)

    def description(self) -> dict[str, Any]:
        """What is stored beside the model: everything needed to read its scores and judge it."""
        return {
            "model": MODEL,
            "features": self.features,
            "reference": self.reference,
            "params": self.tuning.params,
            "trials": self.tuning.trials,
            "inner_roc_auc": self.tuning.inner_roc_auc,
            "validation_cutoff": self.validation_cutoff.isoformat(),
            "validation_cutoffs": [cutoff.isoformat() for cutoff in self.validation_cutoffs],
            "roc_auc_by_cutoff": self.roc_auc_by_cutoff(),
            "training_cutoffs": [cutoff.isoformat() for cutoff in self.training_cutoffs],
            "training_examples": self.training_examples,
            "refit_examples": self.refit_examples,
            "metrics": {name: metrics.as_dict() for name, metrics in self.metrics.items()},
            "best_baseline": self.best_baseline,
            "beats_baseline": self.beats_baseline,
            "recency_rule_k": self.rule_k,
            "horizon_days": self.settings.horizon_days,
            "lead_over_best_baseline": self.lead,
            "seed": self.settings.seed,
        }


def _or_minus_inf(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def train_churn(
    examples: pd.DataFrame, validation_cutoffs: list[date], features: list[str], settings: ChurnSettings
) -> ChurnTraining:
    """Train on the examples of cutoffs before the first of `validation_cutoffs`, validate on theirs (pooled), then
    refit on the training cutoffs and the latest validation cutoff.

    `examples`: one row per person and cutoff with a `cutoff` (date), the `features` and `churned` (0 or 1).
    On one OpenMP thread: trees of a few thousand rows gain nothing from more, and on a shared machine extra
    threads only wait for each other."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _train_churn(examples, sorted(validation_cutoffs), features, settings)


def _train_churn(
    examples: pd.DataFrame, validation_cutoffs: list[date], features: list[str], settings: ChurnSettings
) -> ChurnTraining:
    train = examples[examples["cutoff"] < validation_cutoffs[0]]
    validation = examples[examples["cutoff"].isin(validation_cutoffs)]
    if train.empty or validation.empty:
        raise ValueError(
            f"no examples to train on before {validation_cutoffs[0]}, or none to validate on at "
            f"{', '.join(map(str, validation_cutoffs))}"
        )
    if train["churned"].nunique() < 2:
        raise ValueError("the training cutoffs hold one class only: no one churned, or everyone did")
    x_train, y_train = features_matrix(train, features), train["churned"].to_numpy()
    x_valid, y_valid = features_matrix(validation, features), validation["churned"].to_numpy()
    tuning = tune(train, features, settings)
    model = gradient_boosting(tuning.params, settings.seed).fit(x_train, y_train)
    logistic = logistic_regression(settings.seed).fit(x_train, y_train)
    rule = RecencyRule().fit(train[RECENCY].to_numpy(), y_train)
    scores = {
        MODEL: model.predict_proba(x_valid)[:, 1],
        "logistic_regression": logistic.predict_proba(x_valid)[:, 1],
        "recency_rule": rule.predict(validation[RECENCY].to_numpy()),
    }
    metrics = {name: evaluate(y_valid, values) for name, values in scores.items()}
    latest = max(validation["cutoff"])
    labelled = examples[(examples["cutoff"] < validation_cutoffs[0]) | (examples["cutoff"] == latest)]
    final = gradient_boosting(tuning.params, settings.seed).fit(
        features_matrix(labelled, features), labelled["churned"].to_numpy()
    )
    reference = {name: float(np.nanmedian(labelled[name].astype(float))) for name in features}
    return ChurnTraining(
        model=final,
        features=list(features),
        reference={name: (0.0 if math.isnan(value) else value) for name, value in reference.items()},
        tuning=tuning,
        validation_cutoffs=sorted(validation["cutoff"].unique()),
        training_cutoffs=sorted(train["cutoff"].unique()),
        metrics=metrics,
        rule_k=rule.k,
        training_examples=len(train),
        refit_examples=len(labelled),
        settings=settings,
        validation_scores=pd.DataFrame(
            {
                "person_id": validation["person_id"].to_numpy(),
                "cutoff": validation["cutoff"].to_numpy(),
                "churned": y_valid,
                **scores,
            }
        ),
        validated_model=model,
    )


def risk_band(score: float) -> str:
    return next(band for bound, band in RISK_BANDS if score >= bound)


def explain(
    model: HistGradientBoostingClassifier, matrix: np.ndarray, features: list[str], reference: dict[str, float]
) -> np.ndarray:
    """Per person and feature: the probability minus the probability with that feature at its typical value."""
    scores = model.predict_proba(matrix)[:, 1]
    stacked = np.repeat(matrix[np.newaxis, :, :], len(features), axis=0)
    for index, name in enumerate(features):
        stacked[index, :, index] = reference[name]
    replaced = model.predict_proba(stacked.reshape(-1, matrix.shape[1]))[:, 1].reshape(len(features), -1)
    return (scores[np.newaxis, :] - replaced).T


def _factor(name: str, value: float, contribution: float) -> str:
    shown = "unknown" if math.isnan(value) else f"{value:.4g}"
    return f"{name}={shown} ({contribution:+.3f})"


def score_people(
    model: HistGradientBoostingClassifier, people: pd.DataFrame, features: list[str], reference: dict[str, float]
) -> pd.DataFrame:
    """`person_id`, `score` (probability of churning in the horizon), `risk_band` and `top_factors`: the
    features whose values raise the score most (`explain`), as `name=value (+change)`, separated by `; `."""
    if people.empty:
        return pd.DataFrame({"person_id": [], "score": [], "risk_band": [], "top_factors": []})
    matrix = features_matrix(people, features)
    scores = model.predict_proba(matrix)[:, 1]
    contributions = explain(model, matrix, features, reference)
    factors = []
    for row, values in zip(contributions, matrix, strict=True):
        order = [i for i in np.argsort(-row, kind="stable") if row[i] > 0][:TOP_FACTORS]
        factors.append("; ".join(_factor(features[i], values[i], row[i]) for i in order))
    return pd.DataFrame(
        {
            "person_id": people["person_id"].to_numpy(),
            "score": scores,
            "risk_band": [risk_band(score) for score in scores],
            "top_factors": factors,
        }
    )
