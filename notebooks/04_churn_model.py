# %% [markdown]
# # The churn model
#
# How the latest churn model (`ml_job`'s `churn_model`) did on its validation cutoff, against its two baselines
# (logistic regression on the same features; the rule "no activity for k days"), and what it says today.
# A model of day D is trained on labelled cutoffs before D and validated on the latest of them, `horizon_days`
# before D's cutoff: every figure here is from people the model was not fitted on. The model's files are in the
# store under `models/churn/as_of_date=D/`: `model.json` (features, parameters, metrics, calibration bins,
# permutation importances), `validation.parquet` (each validation person's label and every model's score, read
# as the lake layer `models/churn`) and `model.pkl`; today's scores are the report table `churn_scores`.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from revolt_pipeline.lab import Lab
from revolt_pipeline.settings import Settings

lab = Lab(Settings.from_env())
MODELS = ["gradient_boosting", "logistic_regression", "recency_rule"]

descriptions = {
    key.split("/")[2].removeprefix("as_of_date="): lab.get_json(key)
    for key in lab.keys("models/churn")
    if key.endswith("/model.json")
}
as_of = max(descriptions)
model = descriptions[as_of]
print(f"churn models stored as of {len(descriptions)} day(s), the latest as of {as_of}")
print(f"validation cutoff {model['validation_cutoff']}, trained on {', '.join(model['training_cutoffs'])}")
print(f"label: no activity in the {model['horizon_days']} days after the cutoff")
print(f"{model['trials']} tuning trials; parameters {model['params']}")

# %% [markdown]
# ## The three models side by side
# ROC AUC and PR AUC: how well the scores rank (higher is better); Brier score and calibration error: how honest
# the probabilities are (lower is better); top-decile lift: the churn rate of the tenth scored highest over
# everyone's. The check `beats_best_baseline` fails the model when its ROC AUC is not above both baselines'.

# %%
figures = ["roc_auc", "pr_auc", "brier", "calibration_error", "top_decile_lift", "people", "positives", "base_rate"]
side_by_side = pd.DataFrame({name: model["metrics"][name] for name in MODELS}).loc[figures]
print(f"best baseline: {model['best_baseline']}; the model beats it: {model['beats_baseline']}")
print(f"the rule's threshold that best separates: {model['recency_rule_k']} days without activity")
side_by_side.round(3)

# %% [markdown]
# ## ROC and precision-recall curves
# From each validation person's label and scores (`validation.parquet`), the very rows the metrics above are
# computed on.

# %%
validation = lab.layer("models/churn", since=as_of, until=as_of).df()
labels = validation["churned"].to_numpy()
figure, (roc_axis, pr_axis) = plt.subplots(1, 2, figsize=(11, 4.5))
for name in MODELS:
    false_positive, true_positive, _ = roc_curve(labels, validation[name])
    roc_axis.plot(false_positive, true_positive, label=f"{name} ({model['metrics'][name]['roc_auc']:.3f})")
    precision, recall, _ = precision_recall_curve(labels, validation[name])
    pr_axis.plot(recall, precision, label=f"{name} ({model['metrics'][name]['pr_auc']:.3f})")
roc_axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
roc_axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (AUC)")
pr_axis.axhline(labels.mean(), color="grey", linestyle=":", label=f"base rate ({labels.mean():.2f})")
pr_axis.set(xlabel="recall", ylabel="precision", title="precision-recall (average precision)")
roc_axis.legend(loc="lower right")
pr_axis.legend(loc="upper right")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Calibration
# Each bin of predicted probability (from `model.json`): the mean prediction against the share that churned,
# the point's size the people in it. On the diagonal, a score of 0.3 means three in ten churn.

# %%
figure, axis = plt.subplots(figsize=(5.5, 5))
for name in MODELS:
    bins = pd.DataFrame(model["metrics"][name]["calibration"])
    axis.plot(bins["mean_predicted"], bins["observed_rate"], marker="o", label=name)
    axis.scatter(bins["mean_predicted"], bins["observed_rate"], s=bins["people"], alpha=0.3)
axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
axis.set(xlabel="mean predicted probability", ylabel="observed churn rate", xlim=(0, 1), ylim=(0, 1))
axis.legend(loc="upper left")
plt.show()

# %% [markdown]
# ## Lift by decile
# People sorted by score into tenths, highest first: each tenth's churn rate over everyone's. The first bar is
# the top-decile lift above; a useful model falls from left to right.

# %%
deciles = {}
for name in MODELS:
    order = validation.sort_values(name, ascending=False, kind="stable")["churned"].to_numpy()
    deciles[name] = [part.mean() / labels.mean() for part in np.array_split(order, 10)]
lift = pd.DataFrame(deciles, index=pd.RangeIndex(1, 11, name="decile"))
lift.plot.bar(figsize=(9, 3.5), rot=0, ylabel="lift")
plt.axhline(1.0, color="grey", linestyle=":")
plt.show()
lift.round(2).T

# %% [markdown]
# ## What the model relies on
# Permutation importances on the validation cutoff (from `model.json`): how much the ROC AUC of the model fitted
# on the training cutoffs falls when one feature's values are shuffled among the people, over several shuffles
# (the bar is their mean, the line their spread). A feature near zero adds nothing the others do not carry.

# %%
importances = pd.DataFrame(model["permutation_importance"]).T.sort_values("mean")
shown = importances.tail(12)
figure, axis = plt.subplots(figsize=(7, 4.5))
axis.barh(shown.index, shown["mean"], xerr=shown["std"], color="tab:blue")
axis.set(xlabel="fall in ROC AUC when shuffled", title="permutation importance (validation cutoff)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Is the model stable? Metrics across cutoffs
# Every model stored, each judged on its own validation cutoff: the ROC AUC of the model and the baselines, and
# the base rate (the share that churned). With one model stored there is one point: run `ml_job` for more days.

# %%
across = pd.DataFrame(
    [
        {
            "as_of_date": day,
            "validation_cutoff": described["validation_cutoff"],
            **{name: described["metrics"][name]["roc_auc"] for name in MODELS},
            "base_rate": described["metrics"]["gradient_boosting"]["base_rate"],
            "people": described["metrics"]["gradient_boosting"]["people"],
            "beats_baseline": described["beats_baseline"],
        }
        for day, described in sorted(descriptions.items())
    ]
).set_index("as_of_date")
figure, axis = plt.subplots(figsize=(8, 3.5))
for name in MODELS:
    axis.plot(across.index, across[name], marker="o", label=name)
axis.set(ylabel="validation ROC AUC", xlabel="model as of")
axis.legend()
plt.show()
across.round(3)

# %% [markdown]
# ## Who is at risk today
# The latest scores (`churn_scores`): each risk band's share by platform (the platform a person was last seen
# on, from the `people` snapshot of the same day) and by days since last active.

# %%
scores = lab.report("churn_scores")
scores = scores[scores["as_of_date"].astype(str) == as_of]
people = lab.layer("people", since=as_of, until=as_of).df()
platforms = people[["person_id", "last_platform"]].rename(columns={"last_platform": "platform"})
scored = scores.merge(platforms, on="person_id", how="left").fillna({"platform": "unknown"})
bands = ["high", "medium", "low"]
by_platform = pd.crosstab(scored["platform"], scored["risk_band"], normalize="index").reindex(columns=bands).fillna(0)
recency = pd.cut(
    scored["days_since_last_active"], [0, 1, 3, 7, 14, 28], labels=["1", "2-3", "4-7", "8-14", "15-28"]
).rename("days since last active")
by_recency = pd.crosstab(recency, scored["risk_band"], normalize="index").reindex(columns=bands).fillna(0)
colours = {"high": "tab:red", "medium": "tab:orange", "low": "tab:green"}
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
by_platform.plot.barh(stacked=True, ax=left, color=colours, xlabel="share of people", legend=False)
by_recency.plot.barh(stacked=True, ax=right, color=colours, xlabel="share of people")
right.legend(title="risk band", loc="lower right")
plt.tight_layout()
plt.show()
scored.groupby("risk_band")[["score", "days_since_last_active"]].agg(["count", "mean"]).reindex(bands).round(3)

# %% [markdown]
# The people most at risk, with the features that drove their scores (each factor: the feature, its value,
# and how much the probability falls when the feature is set to its typical value).

# %%
scored.nlargest(10, "score")[["person_id", "platform", "score", "risk_band", "days_since_last_active", "top_factors"]]

# %%
lab.close()
