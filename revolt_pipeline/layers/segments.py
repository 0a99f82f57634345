"""The behavioural segments as of a day: people's behaviour profiles clustered, described and sized.

The segments of day D are as of its end: their cutoff is the midnight after D (`layers/ml.cutoff_of`). A cutoff
reads each person's features as of it (`layers/ml.person_features`: the people layer's
days and the sessionized events of the 28 days before it, never later, re-stitched) and profiles every person
active in them (`ml/segments.py`). Its two tables, `person_segments` and `segment_sizes`, are lake objects of
the day, and the segmentation's description (the numbers of segments tried and their silhouettes, the
centres, the words) a JSON object beside them (`models/segments/`), committed together. Segment sizes over time
are `segment_sizes` over the days built. Beside them, `segment_profiles`: each person's behaviour profile and
segment, what the clustering saw, for reading the segments in notebooks (no report table).
"""

import json
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

from revolt_pipeline.layers.commits import Layer, committed_days, committing
from revolt_pipeline.layers.ml import cutoff_of, person_features
from revolt_pipeline.layers.people import PEOPLE
from revolt_pipeline.layers.report_tables import load_lake_days
from revolt_pipeline.ml.segments import (
    PROFILE_DAYS,
    SEED,
    SEGMENT_COUNTS,
    Segments,
    behaviour_profile,
    fit_segments,
    person_segments,
    segment_sizes,
)
from revolt_pipeline.reports import schema
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import model_key, segments_key

SEGMENTS = Layer("segments", "person_segments, segment_sizes and the segmentation's description (models/segments)")
PROFILES = "segment_profiles"  # person_id, segment (null when too few people to segment), the profile's columns
TABLES = {
    schema.person_segments.name: pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("person_id", pa.string()),
            ("segment", pa.int32()),
            ("description", pa.string()),
        ]
    ),
    schema.segment_sizes.name: pa.schema(
        [
            ("as_of_date", pa.date32()),
            ("segment", pa.int32()),
            ("description", pa.string()),
            ("people", pa.int64()),
            ("share", pa.float64()),
        ]
    ),
}


@dataclass(frozen=True)
class SegmenterSettings:
    """The numbers of segments tried, and the seed (profiles describe the features' 28 days)."""

    counts: range = SEGMENT_COUNTS
    seed: int = SEED


@dataclass
class SegmentsDay:
    """What one day's segmentation wrote."""

    as_of: date
    cutoff: date  # the midnight after `as_of`
    people: int  # people profiled (and segmented)
    segments: Segments | None  # None when too few people were active to segment
    paths: dict[str, str]  # table -> local Parquet file
    model: dict[str, Any]
    profiles_path: str = ""  # the local Parquet file of `segment_profiles`


def build_segments(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    days: list[date],
    workdir: Path,
    settings: SegmenterSettings = SegmenterSettings(),
) -> list[SegmentsDay]:
    """The segments as of the end of each day (the features read the days through it)."""
    return [_as_of(store, connection, day, workdir, settings) for day in sorted(days)]


def _as_of(
    store: ObjectStore,
    connection: duckdb.DuckDBPyConnection,
    as_of: date,
    workdir: Path,
    settings: SegmenterSettings,
) -> SegmentsDay:
    cutoff = cutoff_of(as_of)
    first = cutoff - timedelta(days=PROFILE_DAYS)
    if any(first <= day < cutoff for day in committed_days(store, PEOPLE)):
        profile = behaviour_profile(person_features(store, connection, cutoff).to_pandas())
    else:  # no person day before the cutoff: no one to profile
        profile = behaviour_profile(pd.DataFrame())
    tried = [k for k in settings.counts if 2 <= k < len(profile)]
    # On one thread: k-means of a few thousand people gains nothing from more, and on a shared machine OpenMP's
    # threads spin waiting for each other (ten times slower under load).
    with threadpool_limits(limits=1):
        segments = fit_segments(profile, counts=settings.counts, seed=settings.seed) if tried else None
    frames = {
        schema.person_segments.name: person_segments(segments, as_of) if segments else None,
        schema.segment_sizes.name: segment_sizes(segments, as_of) if segments else None,
    }
    paths = {}
    for table, frame in frames.items():
        paths[table] = str(workdir / f"{table}-{as_of}.parquet")
        rows = TABLES[table].empty_table() if frame is None else pa.Table.from_pandas(frame, schema=TABLES[table])
        pq.write_table(rows.replace_schema_metadata(None), paths[table])
    profiles_path = str(workdir / f"{PROFILES}-{as_of}.parquet")
    pq.write_table(profile_table(profile, segments), profiles_path)
    description = _description(as_of, settings, profile, segments)
    with committing(store, SEGMENTS, as_of) as commit:
        for table, path in paths.items():
            commit.put_file(segments_key(table, as_of), path)
        commit.put_file(segments_key(PROFILES, as_of), profiles_path)
        commit.put(model_key("segments", as_of), json.dumps(description, indent=2).encode())
    return SegmentsDay(as_of, cutoff, len(profile), segments, paths, description, profiles_path)


def profile_table(profile: pd.DataFrame, segments: Segments | None) -> pa.Table:
    """Each person profiled: `person_id`, `segment` (null without segments) and the profile's columns, in its units."""
    if segments is None:
        segment = pa.nulls(len(profile), pa.int32())
    else:  # every person profiled was clustered
        segment = pa.array(segments.labels.reindex(profile.index).to_numpy(dtype="int32"), pa.int32())
    columns = {column: pa.array(profile[column].to_numpy(), pa.float64()) for column in profile.columns}
    return pa.table({"person_id": pa.array(profile.index.astype(str), pa.string()), "segment": segment, **columns})


def _description(
    as_of: date, settings: SegmenterSettings, profile: pd.DataFrame, segments: Segments | None
) -> dict[str, Any]:
    described: dict[str, Any] = {
        "model": "kmeans",
        "as_of_date": as_of.isoformat(),
        "cutoff": cutoff_of(as_of).isoformat(),
        "profile_days": PROFILE_DAYS,
        "seed": settings.seed,
        "people": len(profile),
        "profile_columns": list(profile.columns),
    }
    if segments is None:
        return {**described, "segments": 0}
    return {
        **described,
        "segments": segments.count,
        "silhouette": round(segments.silhouette, 4),
        "silhouettes": {str(k): round(value, 4) for k, value in segments.silhouettes.items()},
        "descriptions": {str(k): text for k, text in segments.descriptions.items()},
        "sizes": {str(k): int(size) for k, size in segments.sizes().items()},
        "centres": {
            str(k): {column: round(float(value), 4) for column, value in centre.items()}
            for k, centre in segments.centres.iterrows()
        },
    }


def load_segment_table(engine: sa.Engine, store: ObjectStore, table: sa.Table, days: list[date]) -> pa.Table:
    """Replace the days' rows of `person_segments` or `segment_sizes` with the lake's; returns the rows."""
    if table.name not in TABLES:
        raise ValueError(f"{table.name} is not a segments table")
    keys = {day: segments_key(table.name, day) for day in days}
    return load_lake_days(engine, store, table, keys, SEGMENTS, "segment_model")
