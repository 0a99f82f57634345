"""The churn model's lead over its best baseline, seed by seed of the demo: what the margin floor in
revolt_pipeline_tests/ml/test_churn.py is measured with.

For each demo seed and first day (`--starts`: the demo's traffic starts `--days` + 7 days before the day it is run,
so its weekdays, and its figures, change with that day), writes the plan of `revolt demo --ml` (`--users` people
over `--days` days, churn planted) into a
temporary lake through the one ML history builder (`demo/ml_history.py`), trains the churn model as of the last day
as `churn_model` does (`layers/ml.build_churn_model`), once per number of validation cutoffs asked for, and prints
each scorer's validation ROC AUC and PR AUC, the lead of gradient boosting over the best baseline, and the lead's
mean, lowest and spread over the seeds. About a minute and a half a seed on a quiet 2-core machine; seeds run one
at a time.

`--fast` skips the lake: it groups the plan's delivered messages into person days in one DuckDB query
(`planned_examples`) and computes the features and labels with `transforms/features.py`'s queries, as
`layers/ml.churn_examples` does on the lake, then trains with `ml/churn.train_churn`, what `build_churn_model` calls
(without scoring and storing, which do not change the figures). It gives the lake's figures to the third decimal in a
third of the time (most of it planning the traffic).

    python -m benchmarks.churn_margin [--seeds 1,2,3,4,5,6,7,8] [--starts 2026-09-01] [--validation-cutoffs 7,1]
        [--trials 20] [--fast]
"""

import argparse
import shutil
import statistics
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from revolt_pipeline.demo.generator import Traffic, plan_traffic
from revolt_pipeline.demo.ml_history import delivered, last_day, write_history
from revolt_pipeline.demo.pipeline import ML_DAYS, ML_USERS
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import MIN_HISTORY_DAYS, build_churn_model, cutoff_of
from revolt_pipeline.ml.churn import BASELINES, MODEL, ChurnTraining, split_cutoffs, train_churn
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.features import (
    FEATURE_WINDOW_DAYS,
    NUMERIC_FEATURES,
    churn_labels_query,
    person_features_query,
)
from revolt_pipeline.transforms.people import IDENTIFIED_SQL
from revolt_pipeline.transforms.rules import PipelineRules

START = date(2026, 9, 1)  # as the tests' ML lake
_TIME = pa.timestamp("us", tz="UTC")
# The sessionized events' columns the person days and the features read.
_PLANNED_EVENTS = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),
        ("event_name", pa.string()),
        ("person_id", pa.string()),
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("event_time", _TIME),
        ("platform", pa.string()),
        ("app_version", pa.string()),
    ]
)


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


def lead_of(seed: int, start: date, churn: ChurnSettings, training: ChurnTraining) -> Lead:
    by_cutoff = [
        aucs[MODEL] - max(aucs[name] for name in BASELINES) for _, aucs in sorted(training.roc_auc_by_cutoff().items())
    ]
    return Lead(
        seed,
        start,
        churn.validation_cutoffs,
        {name: metrics.roc_auc for name, metrics in training.metrics.items()},
        {name: metrics.pr_auc for name, metrics in training.metrics.items()},
        training.metrics[MODEL].positives,
        by_cutoff,
    )


def measure(seed: int, start: date, users: int, days: int, settings: list[ChurnSettings]) -> list[Lead]:
    """The lead on one seed's history from `start`, for each of `settings`: trained on a lake as `churn_model` is."""
    folder = Path(tempfile.mkdtemp(prefix=f"revolt-churn-margin-{seed}-"))
    try:
        (folder / "work").mkdir()
        store = ObjectStore((folder / "store").as_uri())
        traffic = plan_traffic(seed=seed, users=users, days=days, start=start)
        with duckdb_connection() as connection:
            builder = DayBuilder(store, PipelineRules(), folder / "work", connect=lambda: nullcontext(connection))
            as_of = write_history(traffic, builder)[-1]
            return [
                lead_of(
                    seed, start, churn, build_churn_model(store, connection, as_of, churn, folder / "work").training
                )
                for churn in settings
            ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure_fast(seed: int, start: date, users: int, days: int, settings: list[ChurnSettings]) -> list[Lead]:
    """The lead on one seed's history from `start`, for each of `settings`: examples straight from the plan."""
    traffic = plan_traffic(seed=seed, users=users, days=days, start=start)
    splits = [split_cutoffs(cutoff_of(last_day(traffic)), churn) for churn in settings]
    cutoffs = sorted({cutoff for validation, training in splits for cutoff in [*validation, *training]})
    leads = []
    with duckdb_connection() as connection:
        examples = planned_examples(traffic, connection, cutoffs, settings[0].horizon_days)
    for churn, (validation, training) in zip(settings, splits, strict=True):
        mine = examples[examples["cutoff"].isin([*validation, *training])]
        leads.append(lead_of(seed, start, churn, train_churn(mine, validation, list(NUMERIC_FEATURES), churn)))
    return leads


def planned_examples(
    traffic: Traffic, connection: duckdb.DuckDBPyConnection, cutoffs: list[date], horizon_days: int
) -> pd.DataFrame:
    """The churn model's examples of `cutoffs` computed straight from the plan (`--fast`): the person days the people
    layer would build, grouped in one DuckDB query from the delivered messages (each under the person the plan says
    stitching finds, each session on the UTC day it starts), then `transforms/features.py`'s own queries for the
    features and labels. Cutoffs are left out as `layers/ml.churn_examples` leaves them out (too little history
    before them, no label yet)."""
    sessions: dict[int, list[Any]] = {}
    columns: dict[str, list[Any]] = {name: [] for name in _PLANNED_EVENTS.names}
    platforms = {device.index: device.platform for person in traffic.people for device in person.devices}
    for message in delivered(traffic):
        moment = message.event_time.astimezone(UTC)
        for name, value in zip(
            columns,
            (
                message.message_id,
                message.kind,
                message.name,
                message.person_key,
                message.user_id,
                message.anonymous_id,
                moment,
                platforms[message.device],
                message.app_version,
            ),
            strict=True,
        ):
            columns[name].append(value)
        session = sessions.setdefault(message.session, [moment, moment])
        session[0], session[1] = min(session[0], moment), max(session[1], moment)
    keys = {message.session: message.person_key for message in delivered(traffic)}
    connection.register("planned_events", pa.Table.from_pydict(columns, schema=_PLANNED_EVENTS))
    connection.register(
        "planned_sessions",
        pa.table(
            {
                "person_id": pa.array([keys[number] for number in sessions], pa.string()),
                "session_start": pa.array([start for start, _ in sessions.values()], _TIME),
                "duration_seconds": pa.array([(end - start).total_seconds() for start, end in sessions.values()]),
            }
        ),
    )
    last = "struct_pack(t := event_time, m := message_id)"
    connection.execute(f"""
        CREATE OR REPLACE TEMP TABLE planned_person_days AS
        WITH by_events AS (
            SELECT person_id, CAST(event_time AS DATE) AS event_date, bool_or({IDENTIFIED_SQL}) AS identified,
                   count(*) AS events, list_sort(list(DISTINCT coalesce(platform, 'unknown'))) AS platforms,
                   list_sort(list(DISTINCT struct_pack(platform := coalesce(platform, 'unknown'),
                                                       app_version := coalesce(app_version, 'unknown'))))
                       AS platform_versions,
                   max(event_time) AS last_event_time, arg_max(platform, {last}) AS last_platform,
                   arg_max(app_version, {last}) FILTER (WHERE app_version IS NOT NULL) AS last_app_version
            FROM planned_events GROUP BY ALL
        ),
        by_sessions AS (
            SELECT person_id, CAST(session_start AS DATE) AS event_date, count(*) AS sessions,
                   sum(duration_seconds) AS seconds
            FROM planned_sessions GROUP BY ALL
        )
        SELECT by_events.*, coalesce(sessions, 0) AS sessions, coalesce(seconds, 0.0) AS seconds
        FROM by_events LEFT JOIN by_sessions USING (person_id, event_date)
    """)
    built_first, built_last = connection.execute(
        "SELECT least(min(event_date), ?), greatest(max(event_date), ?) FROM planned_person_days",
        [traffic.start, last_day(traffic)],
    ).fetchall()[0]
    people = "(SELECT person_id, min(event_date) AS first_seen FROM planned_person_days GROUP BY person_id)"
    frames = []
    for cutoff in cutoffs:
        window = [cutoff - timedelta(days=n) for n in range(FEATURE_WINDOW_DAYS, 0, -1)]
        built = sum(built_first <= day <= built_last for day in window)
        if cutoff + timedelta(days=horizon_days - 1) > built_last or built < MIN_HISTORY_DAYS:
            continue
        features = connection.sql(
            person_features_query("planned_person_days", people, "planned_events", cutoff)
        ).to_arrow_table()
        connection.register("planned_features", features)
        labels = connection.sql(
            churn_labels_query("planned_features", "planned_person_days", cutoff, horizon_days)
        ).to_arrow_table()
        frame = features.drop_columns(["feature_usage_28d"]).to_pandas()
        frame["churned"] = frame["person_id"].map(dict(zip(*labels.to_pydict().values(), strict=True)))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--starts", default=START.isoformat(), help="first days of the traffic, comma-separated")
    parser.add_argument("--validation-cutoffs", default=str(ChurnSettings.validation_cutoffs))
    parser.add_argument("--users", type=int, default=ML_USERS)
    parser.add_argument("--days", type=int, default=ML_DAYS)
    parser.add_argument("--trials", type=int, default=ChurnSettings.trials)
    parser.add_argument("--fast", action="store_true", help="examples straight from the plan, without a lake")
    args = parser.parse_args()
    settings = [
        ChurnSettings(trials=args.trials, validation_cutoffs=int(count)) for count in args.validation_cutoffs.split(",")
    ]
    leads: list[Lead] = []
    starts = [date.fromisoformat(start) for start in args.starts.split(",")]
    for start, seed in ((start, int(seed)) for start in starts for seed in args.seeds.split(",")):
        started = time.perf_counter()
        for lead in (measure_fast if args.fast else measure)(seed, start, args.users, args.days, settings):
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
