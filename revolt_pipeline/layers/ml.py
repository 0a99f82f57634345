"""The lake's side of the models: features and churn labels as of a cutoff, and models versioned in the store.

A cutoff is a midnight (UTC); a Dagster partition of day D is the cutoff at the end of D (`cutoff_of`). Features
read the person days, sessionized events and people snapshot the people layer committed before the cutoff
(`transforms/features.py` filters every input by the cutoff again). Labels read the person days of the horizon
after it, and only once every one of those days is built (`labelled`).
"""

import json
import pickle
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from revolt_pipeline.layers.cleaned import committed_identity_links
from revolt_pipeline.layers.commits import SESSIONIZED, Layer, committed, committed_days, committing
from revolt_pipeline.layers.people import PEOPLE
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import (
    churn_model_key,
    churn_scores_key,
    people_key,
    person_days_key,
    person_features_key,
    sessionized_events_key,
)
from revolt_pipeline.transforms.engine import copy_to_parquet, parquet
from revolt_pipeline.transforms.features import FEATURE_WINDOW_DAYS, churn_labels_query, person_features_query
from revolt_pipeline.transforms.people import NO_EVENTS, restitched_sql, stitch_people

PERSON_FEATURES = Layer("person_features", "person_features")
CHURN_MODEL = Layer("churn_model", "the churn model, its metrics and churn_scores")
_NO_PERSON_DAYS = (
    "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS event_date WHERE false)"  # no day built: no one active
)
_NO_PEOPLE = "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS first_seen WHERE false)"


def cutoff_of(partition_day: date) -> date:
    """The cutoff of a daily partition: the midnight ending its day, so the day's own events count."""
    return partition_day + timedelta(days=1)


def _built_person_days(store: ObjectStore, days: list[date]) -> list[str]:
    return [person_days_key(day) for day in days if committed(store, PEOPLE, day, [person_days_key(day)])]


def person_features(
    store: ObjectStore, connection: duckdb.DuckDBPyConnection, cutoff: date, workdir: Path | None = None
) -> pa.Table:
    """Each person's features as of `cutoff` (one row per person active in the 28 days before it), read from
    the lake's people layer and sessionized events of those days; written to `workdir` when given.

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
            parquet(person_day_files) if person_day_files else _NO_PERSON_DAYS,
            parquet(snapshot_files) if snapshot_files else _NO_PEOPLE,
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


def write_churn_model(
    store: ObjectStore, cutoff: date, model: Any, description: dict[str, Any], scores: pa.Table, workdir: Path
) -> dict[str, str]:
    """Version a churn model in the store under the cutoff it scores: the pickled model, a JSON description
    (metrics, feature list, settings) and the scores; committed together. Returns the keys written."""
    keys = {
        "model": churn_model_key(cutoff, "model.pkl"),
        "description": churn_model_key(cutoff, "model.json"),
        "scores": churn_scores_key(cutoff),
    }
    scores_path = workdir / f"churn_scores-{cutoff}.parquet"
    pq.write_table(scores, scores_path, compression="zstd")
    with committing(store, CHURN_MODEL, cutoff) as commit:
        commit.put(keys["model"], pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        commit.put(keys["description"], json.dumps(description, indent=1, sort_keys=True, default=str).encode())
        commit.put_file(keys["scores"], scores_path)
    return keys


def read_churn_model(store: ObjectStore, cutoff: date) -> tuple[Any, dict[str, Any]]:
    """The churn model versioned for `cutoff` and its description."""
    keys = [churn_model_key(cutoff, "model.pkl"), churn_model_key(cutoff, "model.json")]
    if not committed(store, CHURN_MODEL, cutoff, keys):
        raise FileNotFoundError(f"no churn model for the cutoff {cutoff} in the lake: train it first")
    return pickle.loads(store.get(keys[0])), json.loads(store.get(keys[1]))
