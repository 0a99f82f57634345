"""The layer library builds days through every layer in the cascade's order, and says what the checks find."""

import gzip
from datetime import date, timedelta
from pathlib import Path

import orjson

from revolt_pipeline.layers.cleaned import CleanDay, SessionDay
from revolt_pipeline.layers.days import DayBuilder
from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables, read_rows
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline.storage.layout import LANDING, landed_object_key
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
    assert all(not problems for problems in built.findings().values())
    assert sorted(built.findings()) == [
        "every_event_in_a_session",
        "reconciled_with_raw",
        "required_columns_not_null",
        "session_bounds_consistent",
        "unique_message_id",
    ]

    in_database = {table: read_rows(engine, getattr(schema, table)) for table in built.reports}
    assert {table: len(rows) for table, rows in in_database.items()} == {
        table: rows.num_rows for table, rows in built.reports.items()
    }
    active = {
        row["event_date"]: row["active_users"] for row in in_database["daily_active_users"] if row["platform"] == "all"
    }
    assert active == {day: 1 if day.day in (18, 20) else 0 for day in built.event_dates}  # a total row every day
    assert [(row["event_name"], row["property"]) for row in in_database["event_catalog"]] == [
        ("Timer Started", "project")
    ]
    engine.dispose()


def test_findings_say_what_each_check_would_fail_on() -> None:
    day = date(2026, 11, 20)
    cleaned = CleanDay(day, 10, 8, 7, {"source": 2, "platform": 0}, {"duplicate": 1}, "e", "q")
    assert cleaned.findings() == {
        "unique_message_id": ["2026-11-20: 1 repeated messageIds"],
        "required_columns_not_null": ["2026-11-20: source null in 2 rows"],
        "reconciled_with_raw": ["2026-11-20: raw 10 != events 8 + quarantined 1"],
    }
    sessions = SessionDay(day, 8, 7, 1, 3, 2, "e", "s")
    assert sessions.findings() == {
        "session_bounds_consistent": ["2026-11-20: 2 sessions with inconsistent bounds"],
        "every_event_in_a_session": ["2026-11-20: 8 cleaned, 7 sessionized, 1 without session"],
    }
    healthy = SessionDay(day, 8, 8, 0, 3, 0, "e", "s")
    assert healthy.findings() == {"session_bounds_consistent": [], "every_event_in_a_session": []}
