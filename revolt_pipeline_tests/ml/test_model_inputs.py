"""What the models read: items and ids made fit for the report database, and a cutoff with nothing before it."""

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revolt_pipeline.layers.checks import person_features_checks, recommendation_checks, segment_checks
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.layers.ml import build_person_features, read_person_features
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.transforms.engine import duckdb_connection
from revolt_pipeline.transforms.features import NUMERIC_FEATURES, TEXT_FEATURES
from revolt_pipeline.transforms.recommendations import person_item_days_query
from revolt_pipeline.transforms.report_text import MARKER, REPORT_TEXT_CHARS
from revolt_pipeline.transforms.rules import PipelineRules

pytestmark = pytest.mark.xdist_group("ml_lake")


def test_items_and_ids_are_fit_for_the_report_database(tmp_path: Path) -> None:
    long_name = "Exported " + "x" * 400
    events = pa.Table.from_pylist(
        [
            {"person_id": "a\x00b", "type": "track", "event_name": long_name, "properties": None},
            {"person_id": "a\x00b", "type": "track", "event_name": "Timer\x00Started", "properties": None},
            {"person_id": "c", "type": "page", "event_name": None, "properties": '{"path": "/pricing"}'},
            {"person_id": "c", "type": "identify", "event_name": None, "properties": None},
        ],
        schema=pa.schema(
            [
                ("person_id", pa.string()),
                ("type", pa.string()),
                ("event_name", pa.string()),
                ("properties", pa.string()),
            ]
        ),
    ).append_column("event_time", pa.array([datetime(2026, 9, 1, 12, tzinfo=UTC)] * 4, pa.timestamp("ms", tz="UTC")))
    path = str(tmp_path / "events.parquet")
    pq.write_table(events, path)
    with duckdb_connection() as connection:
        connection.execute(
            "CREATE TEMP TABLE person_map AS SELECT NULL::VARCHAR AS identity, NULL::VARCHAR AS person_id"
        )
        rows = connection.sql(person_item_days_query([path], "person_map")).to_arrow_table().to_pylist()
    items = {row["item"] for row in rows}
    assert "page: /pricing" in items and "track: Timer\ufffdStarted" in items  # identify is no item
    (cut,) = [item for item in items if item.startswith("track: Exported")]
    assert len(cut) == REPORT_TEXT_CHARS["item"] and MARKER in cut
    ids = {row["person_id"] for row in rows}
    # An id that held a NUL keeps being one person, told apart from an id with U+FFFD there.
    assert len(ids) == 2 and "c" in ids and all("\x00" not in person for person in ids)
    assert any(person.startswith("a\ufffdb" + MARKER) for person in ids)
    assert {row["event_date"] for row in rows} == {date(2026, 9, 1)}


def test_a_cutoff_with_nothing_before_it_is_built_empty_and_fails_its_checks(tmp_path: Path) -> None:
    builder = DayBuilder(ObjectStore((tmp_path / "store").as_uri()), PipelineRules(), tmp_path)
    (recommended,) = builder.recommendations([date(2026, 9, 1)])
    (segmented,) = builder.segments([date(2026, 9, 1)])
    assert recommended.rows == 0 and recommended.evaluation.people_evaluated == 0
    assert not recommendation_checks(recommended)[0].passed
    assert "nothing to judge on" in recommendation_checks(recommended)[0].problems[0]
    assert segmented.people == 0 and segmented.segments is None
    outcomes = {outcome.name: outcome for outcome in segment_checks(segmented)}
    assert not outcomes["segments_separate"].passed and outcomes["every_person_one_segment"].passed


def test_the_features_of_a_cutoff_with_no_person_day_before_it_are_an_empty_table(tmp_path: Path) -> None:
    """A partition before the history (or a lake with no people yet): no one was active, not a query error."""
    store = ObjectStore((tmp_path / "store").as_uri())
    with duckdb_connection() as connection:
        built = build_person_features(store, connection, date(2026, 9, 1), tmp_path)
    assert built.people == 0
    table = read_person_features(store, date(2026, 9, 1))
    assert table.num_rows == 0
    assert {*NUMERIC_FEATURES, *TEXT_FEATURES, "person_id", "cutoff"} <= set(table.column_names)
    assert person_features_checks(built)[0].passed
