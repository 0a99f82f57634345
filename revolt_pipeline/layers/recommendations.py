"""The recommendations as of a day: the item model trained on the lake, judged, and each person's suggestions.

The models of day D are as of its end: their cutoff is the midnight after D (`layers/ml.cutoff_of`, as for the
churn model). A cutoff reads the sessionized events of the days before it (never a later one): the
`TRAINING_DAYS` before it for the model that suggests, and the `HOLDOUT_DAYS` more before those for the
evaluation (fitted on the days before the split, judged on the days from the split to the cutoff, against
popularity; `ml/recommendations.py`). People are re-stitched through every identity link known when it runs.
The suggestions are a lake object of the day (loaded into the `recommendations` report table) and the
model's description and metrics a JSON object beside it (`models/recommendations/`), committed together.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from revolt_pipeline.layers.cleaned import committed_identity_links
from revolt_pipeline.layers.commits import SESSIONIZED, Layer, committed, committing
from revolt_pipeline.layers.ml import cutoff_of
from revolt_pipeline.layers.report_tables import load_lake_days
from revolt_pipeline.layers.staging import local_copies
from revolt_pipeline.ml.recommendations import (
    HOLDOUT_DAYS,
    SUGGESTIONS,
    TRAINING_DAYS,
    RecommendationEvaluation,
    evaluate_recommendations,
    fit_item_cooccurrence,
    recommend,
    window,
)
from revolt_pipeline.reports import schema
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import model_key, recommendations_key, sessionized_events_key
from revolt_pipeline.transforms.people import stitch_people
from revolt_pipeline.transforms.recommendations import person_item_days_query

RECOMMENDATIONS = Layer("recommendations", "recommendations and the model's description (models/recommendations)")
ROWS = pa.schema(
    [
        ("as_of_date", pa.date32()),
        ("person_id", pa.string()),
        ("rank", pa.int32()),
        ("item", pa.string()),
        ("score", pa.float64()),
    ]
)


@dataclass(frozen=True)
class RecommenderSettings:
    """How much history a model learns from and is judged on, and how many items it suggests."""

    training_days: int = TRAINING_DAYS
    holdout_days: int = HOLDOUT_DAYS
    suggestions: int = SUGGESTIONS


@dataclass
class RecommendationsDay:
    """What one day's model wrote, and how it did against popularity."""

    as_of: date
    cutoff: date  # the midnight after `as_of`
    evaluation: RecommendationEvaluation
    people: int  # people suggested items
    items: int  # items the model can suggest
    rows: int
    path: str  # the local Parquet file of the suggestions
    model: dict[str, Any]


@contextmanager
def window_event_files(store: ObjectStore, first: date, end: date) -> Iterator[list[str]]:
    """Local copies of the committed sessionized events of the days from `first` up to (not including) `end`."""
    days = [first + timedelta(days=n) for n in range((end - first).days)]
    keys = [
        sessionized_events_key(day) for day in days if committed(store, SESSIONIZED, day, [sessionized_events_key(day)])
    ]
    with local_copies(store, keys) as files:
        yield files


@contextmanager
def stitched(store: ObjectStore, connection: duckdb.DuckDBPyConnection) -> Iterator[str]:
    """The person map of every identity link committed so far (its temporary table's name)."""
    with local_copies(store, committed_identity_links(store)) as link_files:
        yield stitch_people(connection, link_files)


def read_interactions(connection: duckdb.DuckDBPyConnection, files: list[str], person_map: str) -> pd.DataFrame:
    """Who used which item on which day (`person_id`, `event_date`, `item`, `events`)."""
    frame = connection.sql(person_item_days_query(files, person_map)).to_arrow_table().to_pandas()
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    return frame


def build_recommendations(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    days: list[date],
    workdir: Path,
    settings: RecommenderSettings = RecommenderSettings(),
) -> list[RecommendationsDay]:
    """The model, its evaluation and every person's suggestions as of the end of each day."""
    with stitched(store, connection) as person_map:
        return [_as_of(store, connection, day, workdir, settings, person_map) for day in sorted(days)]


def _as_of(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    as_of: date,
    workdir: Path,
    settings: RecommenderSettings,
    person_map: str,
) -> RecommendationsDay:
    cutoff = cutoff_of(as_of)
    first = cutoff - timedelta(days=settings.training_days + settings.holdout_days)
    with window_event_files(store, first, cutoff) as files:
        interactions = read_interactions(connection, files, person_map)
    evaluation = evaluate_recommendations(
        interactions,
        cutoff,
        training_days=settings.training_days,
        holdout_days=settings.holdout_days,
        k=settings.suggestions,
    )
    history = window(interactions, cutoff - timedelta(days=settings.training_days), cutoff)
    model = fit_item_cooccurrence(history)
    suggested = recommend(model, history, settings.suggestions)
    suggested.insert(0, "as_of_date", as_of)
    path = str(workdir / f"recommendations-{as_of}.parquet")
    pq.write_table(pa.Table.from_pandas(suggested, schema=ROWS, preserve_index=False), path)
    description = {
        "model": model.name,
        "as_of_date": as_of.isoformat(),
        "cutoff": cutoff.isoformat(),
        "training_days": settings.training_days,
        "holdout_days": settings.holdout_days,
        "items": len(model.items),
        "people": int(history["person_id"].nunique()),
        "metrics": evaluation.metrics(),
        "beats_popularity": evaluation.beats_popularity,
    }
    with committing(store, RECOMMENDATIONS, as_of) as commit:
        commit.put_file(recommendations_key(as_of), path)
        commit.put(model_key("recommendations", as_of), json.dumps(description, indent=2).encode())
    return RecommendationsDay(
        as_of=as_of,
        cutoff=cutoff,
        evaluation=evaluation,
        people=int(suggested["person_id"].nunique()),
        items=len(model.items),
        rows=len(suggested),
        path=path,
        model=description,
    )


def load_recommendations(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the days' rows of `recommendations` with the lake's; returns the rows."""
    if table is not schema.recommendations:
        raise ValueError(f"{table.name} is not the recommendations table")
    keys = {day: recommendations_key(day) for day in days}
    return load_lake_days(engine, store, table, keys, RECOMMENDATIONS, "recommendation_model")
