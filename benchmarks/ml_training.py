"""Training every model on the demo's ML history: must take under a minute on this 2-core machine (the issue's bar).

Writes the demo's plan (`--users` people over `--days` days, churn planted) straight into a temporary lake's
sessionized layer and builds the people layer (`demo/ml_history.py`; not timed, it is the data), then times, best
of `--repeat`:

- the floor: reading the examples the churn model learns from (features and labels of every cutoff it uses);
- the churn model: the same reading, the Optuna search (`--trials`), training, the baselines, the metrics,
  scoring everyone and versioning it all in the store (`layers/ml.build_churn_model`, what `churn_model` runs);
- the recommendations: reading who used which item, fitting and judging item co-occurrence against popularity,
  suggesting and storing (`layers/recommendations.build_recommendations`, what `recommendation_model` runs);
- the segments: reading the features, k-means for 2 to 8 segments with their silhouettes, describing and storing
  (`layers/segments.build_segments`, what `segment_model` runs).

    python -m benchmarks.ml_training [--users 250] [--days 56] [--seed 7] [--trials 20] [--repeat 2] [--keep]
"""

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from revolt_pipeline.demo.generator import plan_traffic
from revolt_pipeline.demo.ml_history import write_history
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import build_churn_model, churn_examples, cutoff_of
from revolt_pipeline.layers.recommendations import build_recommendations
from revolt_pipeline.layers.segments import build_segments
from revolt_pipeline.ml.churn import BASELINES, MODEL, split_cutoffs
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.rules import PipelineRules

BAR_SECONDS = 60.0
START = date(2026, 9, 1)


def best_of(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        runs.append(time.perf_counter() - started)
    return min(runs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=250)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trials", type=int, default=ChurnSettings.trials)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the lake")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="revolt-ml-bench-"))
    try:
        (folder / "work").mkdir()
        store = ObjectStore((folder / "store").as_uri())
        started = time.perf_counter()
        traffic = plan_traffic(seed=args.seed, users=args.users, days=args.days, start=START)
        builder = DayBuilder(store, PipelineRules(), folder / "work")
        days = write_history(traffic, builder)
        print(
            f"history: {args.users} people, {args.days} days, {len(traffic.messages):,} messages, lake built in "
            f"{time.perf_counter() - started:.1f} s (not timed below)"
        )
        settings = ChurnSettings(trials=args.trials, seed=0)
        as_of = days[-1]
        validation, training = split_cutoffs(cutoff_of(as_of), settings)
        with duckdb_connection() as connection:
            floor, examples = best_of(
                args.repeat,
                lambda: churn_examples(store, connection, [*training, *validation], settings.horizon_days),
            )
            churn, built = best_of(
                args.repeat, lambda: build_churn_model(store, connection, as_of, settings, folder / "work")
            )
            recommending, (recommended,) = best_of(
                args.repeat, lambda: build_recommendations(store, connection, [as_of], folder / "work")
            )
            segmenting, (segmented,) = best_of(
                args.repeat, lambda: build_segments(store, connection, [as_of], folder / "work")
            )
        cutoffs = len(training) + len(validation)
        print(f"floor: reading the examples ({examples.num_rows:,} rows, {cutoffs} cutoffs): {floor:.2f} s")
        print(f"churn model ({args.trials} trials, train, baselines, metrics, scores, stored): {churn:.2f} s")
        for name in (MODEL, *BASELINES):
            metrics = built.training.metrics[name]
            print(
                f"  {name:<20} ROC AUC {metrics.roc_auc:.3f}  PR AUC {metrics.pr_auc:.3f}  Brier {metrics.brier:.3f}"
                f"  lift@10% {metrics.top_decile_lift:.2f}"
            )
        best = built.training.best_baseline
        margin = built.training.metrics[MODEL].roc_auc - built.training.metrics[best].roc_auc
        print(f"  margin over the best baseline ({best}): {margin:+.3f} ROC AUC")
        judged = recommended.evaluation
        print(
            f"recommendations ({recommended.items} items, {recommended.people} people): {recommending:.2f} s"
            f"  hit rate@{judged.k} {judged.hit_rate:.3f} (popularity {judged.popularity_hit_rate:.3f})"
            f"  recall@{judged.k} {judged.recall:.3f} (popularity {judged.popularity_recall:.3f})"
        )
        chosen = segmented.segments
        print(
            f"segments ({segmented.people} people): {segmenting:.2f} s  "
            + (f"{chosen.count} segments, silhouette {chosen.silhouette:.3f}" if chosen else "none")
        )
        total = churn + recommending + segmenting
        verdict = "PASS" if total <= BAR_SECONDS else "MISS"
        print(
            f"{verdict}  every model trained in {total:.1f} s (bar {BAR_SECONDS:.0f} s; {total / floor:.1f}x the floor)"
        )
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
