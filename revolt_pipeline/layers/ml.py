"""The lake's side of the models: features and churn labels as of a cutoff, and models versioned in the store.

A cutoff is a midnight (UTC); a Dagster partition of day D is the cutoff at the end of D (`cutoff_of`). Features
read the person days, sessionized events and people snapshot the people layer committed before the cutoff
(`transforms/features.py` filters every input by the cutoff again). Labels read the person days of the horizon
after it, and only once every one of those days is built (`labelled`).
"""

import hashlib
import json
import pickle
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from threadpoolctl import threadpool_limits

from revolt_pipeline.layers.cleaned import committed_identity_links
from revolt_pipeline.layers.commits import SESSIONIZED, Layer, committed, committed_days, committing, is_committed
from revolt_pipeline.layers.people import PEOPLE
from revolt_pipeline.layers.report_tables import load_lake_days
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.ml.churn import ChurnTraining, features_matrix, score_people, split_cutoffs, train_churn
from revolt_pipeline.ml.evaluation import permutation_importances
from revolt_pipeline.ml.training import ChurnSettings
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    churn_model_folder,
    churn_scores_key,
    people_key,
    person_days_key,
    person_features_key,
    sessionized_events_key,
)
from revolt_pipeline.transforms.engine import copy_to_parquet, parquet
from revolt_pipeline.transforms.features import (
    FEATURE_WINDOW_DAYS,
    NO_EVENTS,
    NO_PEOPLE,
    NO_PERSON_DAYS,
    NUMERIC_FEATURES,
    WINDOWS,
    churn_labels_query,
    person_features_query,
)
from revolt_pipeline.transforms.people import restitched_sql, stitch_people
from revolt_pipeline.transforms.report_text import DIGEST_CHARS, MARKER, REPLACEMENT

PERSON_FEATURES = Layer("person_features", "person_features")
CHURN_MODEL = Layer("churn_model", "the churn model, its description and churn_scores")
MODEL_FILE = "model.pkl"
DESCRIPTION_FILE = "model.json"
# Each validation person's label and every scorer's probability (`person_id`, `cutoff`, `churned`, a column per
# model): Parquet, so the lab reads the models' validations as the layer `models/churn`.
VALIDATION_FILE = "validation.parquet"
IMPORTANCE_REPEATS = 5
# The least days of people built before a cutoff for its examples to be learned from or judged on: a week, the
# shortest feature window (a cutoff a day into the history describes everyone as new, active yesterday).
MIN_HISTORY_DAYS = WINDOWS[0]


def cutoff_of(partition_day: date) -> date:
    """The cutoff of a daily partition: the midnight ending its day, so the day's own events count."""
    return partition_day + timedelta(days=1)


def _built_person_days(store: ObjectStore, days: list[date]) -> list[str]:
    return [person_days_key(day) for day in days if committed(store, PEOPLE, day, [person_days_key(day)])]


def person_features(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, cutoff: date, workdir: Path | None = None
) -> pa.Table:
    """Each person's features as of `cutoff` (one row per person active in the 28 days before it), read from
    the lake's people layer and sessionized events of those days; written to `workdir` when given. With no person
    day built in those days (a cutoff before the history), no one: an empty table of the same columns.

    The people snapshot is the one of the day before the cutoff, else the latest before it (a person first
    seen earlier is in every later snapshot). Event ids are re-stitched with every identity link built, as
    the person days are."""
    window = [cutoff - timedelta(days=n) for n in range(FEATURE_WINDOW_DAYS, 0, -1)]
    person_day_keys = _built_person_days(store, window)
    event_keys = [
        sessionized_events_key(day)
        for day in window
        if committed(store, SESSIONIZED, day, [sessionized_events_key(day)])
    ]
    snapshots = [day for day in committed_days(store, PEOPLE) if day < cutoff]
    snapshot_keys = [people_key(max(snapshots))] if snapshots else []
    with (
        local_copies(store, committed_identity_links(store)) as link_files,
        local_copies(store, person_day_keys) as person_day_files,
        local_copies(store, event_keys) as event_files,
        local_copies(store, snapshot_keys) as snapshot_files,
    ):
        person_map = stitch_people(connection, link_files)
        events = restitched_sql(parquet(event_files), person_map) if event_files else NO_EVENTS
        query = person_features_query(
            parquet(person_day_files) if person_day_files else NO_PERSON_DAYS,
            parquet(snapshot_files) if snapshot_files else NO_PEOPLE,
            events,
            cutoff,
        )
        if workdir is None:
            return connection.sql(query).to_arrow_table()
        path = str(workdir / f"person_features-{cutoff}.parquet")
        copy_to_parquet(connection, query, path)
        return pq.read_table(path)


@dataclass(frozen=True)
class FeaturesDay:
    cutoff: date
    people: int
    path: str


def build_person_features(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, cutoff: date, workdir: Path
) -> FeaturesDay:
    """Write the features as of `cutoff` to the lake (`person_features`), committed under the cutoff's day."""
    table = person_features(store, connection, cutoff, workdir)
    path = str(workdir / f"person_features-{cutoff}.parquet")
    with committing(store, PERSON_FEATURES, cutoff) as commit:
        commit.put_file(person_features_key(cutoff), path)
    return FeaturesDay(cutoff, table.num_rows, path)


def read_person_features(store: ObjectStore, cutoff: date) -> pa.Table:
    """The committed features as of `cutoff` (FileNotFoundError when they were never built)."""
    key = person_features_key(cutoff)
    if not committed(store, PERSON_FEATURES, cutoff, [key]):
        raise FileNotFoundError(f"no person_features as of {cutoff} in the lake: build them first")
    with local_copies(store, [key]) as (path,):
        return pq.read_table(path)


def labelled(store: ObjectStore, cutoff: date, horizon_days: int) -> bool:
    """Whether every day of the label's horizon after `cutoff` is built by the people layer (so a label of
    'churned' means no activity, not days not built yet)."""
    built = committed_days(store, PEOPLE)
    return all(cutoff + timedelta(days=n) in built for n in range(horizon_days))


def churn_labels(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, features: pa.Table, cutoff: date, horizon_days: int
) -> pa.Table:
    """`person_id`, `churned` (1 or 0) of each person of `features`: no activity in the horizon after `cutoff`."""
    if not labelled(store, cutoff, horizon_days):
        raise FileNotFoundError(f"the {horizon_days} days after {cutoff} are not all built: no churn label yet")
    horizon = [cutoff + timedelta(days=n) for n in range(horizon_days)]
    keys = _built_person_days(store, horizon)
    with local_copies(store, keys) as files:
        connection.register("labelled_features", features.select(["person_id"]))
        try:
            query = churn_labels_query("labelled_features", parquet(files), cutoff, horizon_days)
            return connection.sql(query).to_arrow_table()
        finally:
            connection.unregister("labelled_features")


def churn_examples(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, cutoffs: list[date], horizon_days: int
) -> pa.Table:
    """The features of each person as of each cutoff, with the cutoff and the churn label after it: the rows the
    churn model learns from. Cutoffs whose horizon is not built yet, with less than a week of people built before
    them (MIN_HISTORY_DAYS: everyone would look new, and no weekly feature would be whole), or with no one, are left
    out."""
    tables = []
    for cutoff in cutoffs:
        window = [cutoff - timedelta(days=n) for n in range(FEATURE_WINDOW_DAYS, 0, -1)]
        if not labelled(store, cutoff, horizon_days) or len(_built_person_days(store, window)) < MIN_HISTORY_DAYS:
            continue  # no label yet, or the history starts too shortly before the cutoff
        features = person_features(store, connection, cutoff)
        if features.num_rows == 0:
            continue
        labels = churn_labels(store, connection, features, cutoff, horizon_days)
        churned = dict(zip(labels["person_id"].to_pylist(), labels["churned"].to_pylist(), strict=True))
        tables.append(
            features.drop_columns(["feature_usage_28d"]).append_column(
                "churned", pa.array([churned[p] for p in features["person_id"].to_pylist()], pa.int32())
            )
        )
    return pa.concat_tables(tables) if tables else pa.table({})


@dataclass
class ChurnModelDay:
    """The churn model trained for a day: how it did, the people it scored, and where it is stored."""

    as_of: date
    training: ChurnTraining
    scores: pa.Table
    folder: str


def churn_history_days(settings: ChurnSettings) -> int:
    """The days of people up to a day (that day included) the churn model of the day needs: each validation
    cutoff's FEATURE_WINDOW_DAYS of features and its label (the model is judged on people described as fully as
    the ones it scores), and the latest training cutoff's MIN_HISTORY_DAYS (it learns from a week at least). The
    one definition `ml_after_people` waits for, `build_churn_model` refuses without, and `revolt demo --ml` plans
    for: 48 days by default."""
    scoring = date(2000, 1, 1)  # any: the count is relative to the scoring cutoff
    validation, training = split_cutoffs(scoring, settings)
    earliest = min(
        min(validation) - timedelta(days=FEATURE_WINDOW_DAYS), max(training) - timedelta(days=MIN_HISTORY_DAYS)
    )
    return (scoring - earliest).days


def earliest_training_cutoff_days(settings: ChurnSettings) -> int:
    """How many days before the scoring cutoff the churn model's earliest training cutoff is (`split_cutoffs`): with
    its features' 28 days before it, the farthest back the model of a day reads."""
    scoring = date(2000, 1, 1)  # any: the count is relative to the scoring cutoff
    return (scoring - min(split_cutoffs(scoring, settings)[1])).days


def build_churn_model(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, as_of: date, settings: ChurnSettings, workdir: Path
) -> ChurnModelDay:
    """Train the churn model for the day `as_of` on labelled cutoffs before it (`ml/churn.split_cutoffs`), score
    everyone active in the 28 days before its cutoff, and version the model, its description and the scores.

    FileNotFoundError when the people layer does not hold the `churn_history_days` up to `as_of` (the ones
    `ml_after_people` waits for), or the lake has no one to validate or train on."""
    cutoff = cutoff_of(as_of)
    validation, training_cutoffs = split_cutoffs(cutoff, settings)
    needed = churn_history_days(settings)
    history = [cutoff - timedelta(days=n) for n in range(needed, 0, -1)]
    built = committed_days(store, PEOPLE)
    missing = [day for day in history if day not in built]
    if missing:
        raise FileNotFoundError(
            f"too little history for a churn model as of {as_of}: it needs the people layer's {needed} days from "
            f"{history[0]} to {as_of} (the validation cutoffs {validation[0]} to {validation[-1]} with their "
            f"{FEATURE_WINDOW_DAYS} days of features and {settings.horizon_days}-day labels, and a training cutoff "
            f"with {MIN_HISTORY_DAYS} days before it), and {len(missing)} of them are not built "
            f"({missing[0]} to {missing[-1]})"
        )
    examples = churn_examples(store, connection, [*training_cutoffs, *validation], settings.horizon_days).to_pandas()
    have = set(examples["cutoff"]) if len(examples) else set()
    if not all(c in have for c in validation) or not any(c in have for c in training_cutoffs):
        raise FileNotFoundError(
            f"no one to train or validate a churn model on as of {as_of}: the people layer's days before the "
            f"training cutoffs ({', '.join(map(str, training_cutoffs))}) or the validation cutoffs "
            f"({validation[0]} to {validation[-1]}) hold no active person"
        )
    trained = train_churn(examples, validation, list(NUMERIC_FEATURES), settings)
    people = _features_as_of(store, connection, cutoff).to_pandas()
    folder = churn_model_folder(as_of)
    with threadpool_limits(limits=1, user_api="openmp"):  # as the training: small batches, a shared machine
        scored = score_people(trained.model, people, trained.features, trained.reference)
    scores = pa.table(
        {
            "as_of_date": pa.array([as_of] * len(scored), pa.date32()),
            "person_id": pa.array([report_person_id(p) for p in scored["person_id"]], pa.string()),
            "score": pa.array(scored["score"], pa.float64()),
            "risk_band": pa.array(scored["risk_band"], pa.string()),
            "days_since_last_active": pa.array(people["days_since_last_active"], pa.int32()),
            "top_factors": pa.array(scored["top_factors"], pa.string()),
            "model_version": pa.array([folder] * len(scored), pa.string()),
        }
    )
    scores_path = workdir / f"churn_scores-{as_of}.parquet"
    pq.write_table(scores, scores_path, compression="zstd")
    validation_path = workdir / f"churn_validation-{as_of}.parquet"
    pq.write_table(validation_table(trained), validation_path, compression="zstd")
    description = {
        **trained.description(),
        "as_of_date": as_of.isoformat(),
        "cutoff": cutoff.isoformat(),
        "permutation_importance": validation_importances(trained, examples),
    }
    with committing(store, CHURN_MODEL, as_of) as commit:
        commit.put(folder + MODEL_FILE, pickle.dumps(trained.model, protocol=pickle.HIGHEST_PROTOCOL))
        commit.put(folder + DESCRIPTION_FILE, json.dumps(description, indent=1, sort_keys=True).encode())
        commit.put_file(folder + VALIDATION_FILE, str(validation_path))
        commit.put_file(churn_scores_key(as_of), scores_path)
    return ChurnModelDay(as_of, trained, scores, folder)


def validation_table(trained: ChurnTraining) -> pa.Table:
    """The validation cutoffs' people: `person_id` (the lake's), `cutoff`, `churned` and each model's probability."""
    frame = trained.validation_scores
    scorers = [name for name in frame.columns if name not in ("person_id", "cutoff", "churned")]
    return pa.table(
        {
            "person_id": pa.array(frame["person_id"], pa.string()),
            "cutoff": pa.array(frame["cutoff"], pa.date32()),
            "churned": pa.array(frame["churned"], pa.int32()),
            **{name: pa.array(frame[name], pa.float64()) for name in scorers},
        }
    )


def validation_importances(trained: ChurnTraining, examples: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Permutation importances of the model fitted on the training cutoffs, on the latest validation cutoff's people
    (the refitted model has seen them; the week's other days are much the same people, at seven times the cost)."""
    if trained.validated_model is None:
        return {}
    validation = examples[examples["cutoff"] == trained.validation_cutoff]
    matrix = features_matrix(validation, trained.features)
    labels = validation["churned"].to_numpy()
    with threadpool_limits(limits=1, user_api="openmp"):  # as the training: small batches, a shared machine
        return permutation_importances(
            trained.validated_model,
            matrix,
            labels,
            trained.features,
            repeats=IMPORTANCE_REPEATS,
            seed=trained.settings.seed,
        )


def _features_as_of(store: ObjectStore, connection: duckdb.DuckDBPyConnection, cutoff: date) -> pa.Table:
    """The committed features of the cutoff (the `person_features` asset), else computed now."""
    if is_committed(store, PERSON_FEATURES, cutoff):
        return read_person_features(store, cutoff)
    return person_features(store, connection, cutoff)


def report_person_id(person_id: str) -> str:
    """A lake person id as the report tables key it (`transforms/people_reports.py`: NUL made U+FFFD, told apart)."""
    if "\x00" not in person_id:
        return person_id
    digest = hashlib.md5(person_id.encode()).hexdigest()[:DIGEST_CHARS]
    return person_id.replace("\x00", REPLACEMENT) + MARKER + digest


def read_churn_model(store: ObjectStore, as_of: date) -> tuple[Any, dict[str, Any]]:
    """The churn model versioned for `as_of` and its description (metrics, feature list, settings).

    The model is a pickle: load only models this pipeline wrote into a store no one else writes."""
    folder = churn_model_folder(as_of)
    keys = [folder + MODEL_FILE, folder + DESCRIPTION_FILE]
    if not committed(store, CHURN_MODEL, as_of, keys):
        raise FileNotFoundError(f"no churn model as of {as_of} in the lake: materialize churn_model for it first")
    return pickle.loads(store.get(keys[0])), json.loads(store.get(keys[1]))


def load_churn_scores(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the days' rows of the `churn_scores` report table with the lake's; returns the rows."""
    keys = {day: churn_scores_key(day) for day in days}
    return load_lake_days(engine, store, table, keys, CHURN_MODEL, "churn_model")
