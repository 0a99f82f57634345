"""The layer library builds days through every layer in the cascade's order."""

import gzip
from datetime import date, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from revolt_pipeline.layers.days import BuiltDays, DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, aggregate_key, landed_object_key
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import at, landed

RECEIVED = at("2026-11-20 09:00")


def land(store: ObjectStore, records: list[dict]) -> None:
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    store.put(landed_object_key(LANDING, RECEIVED, "c1", "000001"), gzip.compress(lines))


def test_a_received_day_is_built_through_every_layer_into_the_report_database(tmp_path: Path) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    land(
        store,
        [
            landed("today", RECEIVED - timedelta(minutes=5), received=RECEIVED, properties={"project": "x"}),
            landed("offline", RECEIVED - timedelta(days=2), received=RECEIVED, user_id="bob"),
            landed("too-late", RECEIVED - timedelta(days=5), received=RECEIVED, user_id="eve"),
        ],
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    ensure_tables(engine)
    (tmp_path / "work").mkdir()

    built = DayBuilder(store, PipelineRules(), tmp_path / "work").every_layer([RECEIVED.date()], engine)

    # Rows belong to the 18th (on time) and the 20th (today's, and the too-late one quarantined there):
    # the cascade rebuilds from the day before the first to the day after the last, for the sessions.
    assert [day.day for day in built.raw] == [date(2026, 11, 20)]
    assert built.event_dates == [date(2026, 11, 17) + timedelta(days=n) for n in range(5)]
    assert [day.day for day in built.cleaned] == [day.day for day in built.sessions] == built.event_dates
    assert {day.day: day.events for day in built.cleaned if day.events} == {
        date(2026, 11, 18): 1,
        date(2026, 11, 20): 1,
    }
    assert built.cleaned[3].quarantined == {"too_late": 1}
    assert all(day.reconciled and day.events == day.distinct_message_ids for day in built.cleaned)
    assert all(day.sessionized_events == day.cleaned_events and not day.inconsistent_sessions for day in built.sessions)
    assert [day.day for day in built.aggregates] == built.event_dates

    in_database = {table: read_rows(engine, getattr(schema, table)) for table in built.reports}
    assert {table: len(rows) for table, rows in in_database.items()} == {
        table: rows.num_rows for table, rows in built.reports.items()
    }
    active = {row["event_date"]: row["active_users"] for row in in_database["daily_active_users"]}
    assert active == {day: 1 if day.day in (18, 20) else 0 for day in built.event_dates}  # a total row every day
    assert [(row["event_name"], row["property"]) for row in in_database["event_catalog"]] == [
        ("Timer Started", "project")
    ]
    engine.dispose()


def _one_event_built(tmp_path: Path) -> tuple[ObjectStore, sa.Engine, DayBuilder, BuiltDays]:
    """A received day of one event built through every layer into a SQLite report database, for a test to replace
    one of its lake files with an older version's."""
    store = ObjectStore((tmp_path / "store").as_uri())
    land(store, [landed("today", RECEIVED - timedelta(minutes=5), received=RECEIVED)])
    engine = create_engine(f"sqlite:///{tmp_path / 'reports.sqlite'}")
    ensure_tables(engine)
    (tmp_path / "work").mkdir()
    builder = DayBuilder(store, PipelineRules(), tmp_path / "work")
    return store, engine, builder, builder.every_layer([RECEIVED.date()], engine)


def test_an_aggregate_written_before_the_split_is_not_loaded_into_a_total_table(tmp_path: Path) -> None:
    """A lake day aggregated by an older version mixed totals and platforms in one file of the same name."""
    store, engine, builder, built = _one_event_built(tmp_path)
    day = RECEIVED.date()
    before = read_rows(engine, schema.daily_active_users)

    key = aggregate_key("daily_active_users", day)
    old = pa.table(
        {
            "event_date": [day, day],
            "platform": ["all", "web"],
            "app_version": ["all", "all"],
            "active_users": [1, 1],
            "identified_users": [1, 1],
            "anonymous_users": [0, 0],
        }
    )
    pq.write_table(old, tmp_path / "old.parquet")
    store.put(key, (tmp_path / "old.parquet").read_bytes())

    with pytest.raises(
        FileNotFoundError, match="written by an older version; build daily_aggregates for its day again"
    ):
        builder.report_days(engine, built.event_dates, [])
    assert read_rows(engine, schema.daily_active_users) == before
    engine.dispose()


def test_events_by_os_written_before_they_had_platforms_are_not_loaded(tmp_path: Path) -> None:
    """A lake day whose events by OS were aggregated across platforms (before platform and app_version were in their
    grain): its rows cannot be told apart by platform, so the day is refused until daily_aggregates is built again."""
    store, engine, builder, built = _one_event_built(tmp_path)
    day = RECEIVED.date()
    before = read_rows(engine, schema.events_daily_by_os)
    assert [(row["platform"], row["app_version"], row["events"]) for row in before] == [("web", "1.0", 1)]

    key = aggregate_key("events_daily_by_os", day)
    path = store.local_path(key)
    assert path is not None
    pq.write_table(pq.read_table(path).drop_columns(["platform", "app_version"]), tmp_path / "old.parquet")
    store.put(key, (tmp_path / "old.parquet").read_bytes())

    with pytest.raises(
        FileNotFoundError, match="written by an older version; build daily_aggregates for its day again"
    ):
        builder.report_days(engine, built.event_dates, [])
    assert read_rows(engine, schema.events_daily_by_os) == before
    engine.dispose()
