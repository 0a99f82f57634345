"""The churn model's lead over its best baseline, seed by seed of the demo: what the margin floor in
revolt_pipeline_tests/ml/test_churn.py is measured with.

For each demo seed and first day (`--starts`: the demo's traffic starts `--days` + 7 days before the day it is run,
so its weekdays, and its figures, change with that day), writes the plan of `revolt demo --ml` (`--users` people
over `--days` days, churn planted) into a
temporary lake through the one ML history builder (`demo/ml_history.py`), trains the churn model as of the last day
as `churn_model` does (`layers/ml.build_churn_model`), once per number of validation cutoffs asked for, and prints
each scorer's validation ROC AUC and PR AUC, the lead of gradient boosting over the best baseline, and the lead's
mean, lowest and spread over the seeds. About a minute a seed on a quiet 2-core machine; seeds run one at a time.

    python -m benchmarks.churn_margin [--seeds 1,2,3,4,5,6,7,8] [--starts 2026-09-01] [--validation-cutoffs 7,1]
        [--trials 20]
"""

import argparse
import shutil
import statistics
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from revolt_pipeline.demo.generator import plan_traffic
from revolt_pipeline.demo.ml_history import write_history
from revolt_pipeline.demo.pipeline import ML_DAYS, ML_USERS
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import build_churn_model
from revolt_pipeline.ml.churn import BASELINES, MODEL
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.rules import PipelineRules

START = date(2026, 9, 1)  # as the tests' ML lake


@dataclass(frozen=True)
class Lead:
    seed: int
    start: date
    validation_cutoffs: int
    roc_auc: dict[str, float]
    pr_auc: dict[str, float]
    positives: int
    by_cutoff: list[float]  # the lead on each validation cutoff alone, oldest first

    @property
    def best_baseline(self) -> str:
        return max(BASELINES, key=lambda name: self.roc_auc[name])

    @property
    def roc_lead(self) -> float:
        return self.roc_auc[MODEL] - self.roc_auc[self.best_baseline]

    @property
    def pr_lead(self) -> float:
        return self.pr_auc[MODEL] - max(self.pr_auc[name] for name in BASELINES)


def measure(seed: int, start: date, users: int, days: int, settings: list[ChurnSettings]) -> list[Lead]:
    """The lead on one seed's history from `start`, for each of `settings`."""
    folder = Path(tempfile.mkdtemp(prefix=f"revolt-churn-margin-{seed}-"))
    try:
        (folder / "work").mkdir()
        store = ObjectStore((folder / "store").as_uri())
        traffic = plan_traffic(seed=seed, users=users, days=days, start=start)
        leads = []
        with duckdb_connection() as connection:
            builder = DayBuilder(store, PipelineRules(), folder / "work", connect=lambda: nullcontext(connection))
            as_of = write_history(traffic, builder)[-1]
            for churn in settings:
                training = build_churn_model(store, connection, as_of, churn, folder / "work").training
                by_cutoff = [
                    aucs[MODEL] - max(aucs[name] for name in BASELINES)
                    for _, aucs in sorted(training.roc_auc_by_cutoff().items())
                ]
                leads.append(
                    Lead(
                        seed,
                        start,
                        churn.validation_cutoffs,
                        {name: metrics.roc_auc for name, metrics in training.metrics.items()},
                        {name: metrics.pr_auc for name, metrics in training.metrics.items()},
                        training.metrics[MODEL].positives,
                        by_cutoff,
                    )
                )
        return leads
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--starts", default=START.isoformat(), help="first days of the traffic, comma-separated")
    parser.add_argument("--validation-cutoffs", default=str(ChurnSettings.validation_cutoffs))
    parser.add_argument("--users", type=int, default=ML_USERS)
    parser.add_argument("--days", type=int, default=ML_DAYS)
    parser.add_argument("--trials", type=int, default=ChurnSettings.trials)
    args = parser.parse_args()
    settings = [
        ChurnSettings(trials=args.trials, validation_cutoffs=int(count)) for count in args.validation_cutoffs.split(",")
    ]
    leads: list[Lead] = []
    starts = [date.fromisoformat(start) for start in args.starts.split(",")]
    for start, seed in ((start, int(seed)) for start in starts for seed in args.seeds.split(",")):
        started = time.perf_counter()
        for lead in measure(seed, start, args.users, args.days, settings):
            leads.append(lead)
            print(
                f"from {start}  seed {seed:>3}  {lead.validation_cutoffs} validation cutoffs ({lead.positives} churned)"
                + "  ROC AUC "
                + "  ".join(f"{name} {lead.roc_auc[name]:.3f}" for name in (MODEL, *BASELINES))
                + f"  lead {lead.roc_lead:+.3f}  PR AUC lead {lead.pr_lead:+.3f}"
                + f"  by cutoff [{' '.join(f'{value:+.3f}' for value in lead.by_cutoff)}]",
                flush=True,
            )
        print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    for churn in settings:
        mine = [lead for lead in leads if lead.validation_cutoffs == churn.validation_cutoffs]
        for name, values in (("ROC AUC", [x.roc_lead for x in mine]), ("PR AUC", [x.pr_lead for x in mine])):
            print(
                f"{churn.validation_cutoffs} validation cutoffs, {name} lead over {len(mine)} seeds and starts: "
                f"mean {statistics.mean(values):+.3f}, lowest {min(values):+.3f}, highest {max(values):+.3f}, "
                f"standard deviation {statistics.pstdev(values):.3f}"
            )


if __name__ == "__main__":
    main()
