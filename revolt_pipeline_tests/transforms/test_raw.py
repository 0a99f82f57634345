"""Raw consolidation keeps the message as sent; the crawler's catalog notices drift."""

import json
from datetime import date
from pathlib import Path

import orjson

from revolt_pipeline.transforms.raw import compare_catalogs, profile_raw
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import at, duckdb_connection, landed, run_pipeline


def test_raw_rows_keep_the_message_and_type_the_envelope(tmp_path: Path) -> None:
    record = landed(
        "m1",
        at("2026-11-20 10:00"),
        properties={"n": 1, "nested": {"k": [1, "x"]}},
        batch_context={"ip": "10.0.0.1", "os": {"name": "Android"}},
    )
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, [record])
        (row,) = lake.rows(lake.raw[date(2026, 11, 20)])
        profile = profile_raw(connection, lake.raw[date(2026, 11, 20)], date(2026, 11, 20), PipelineRules())
    assert orjson.loads(row["message"]) == record["message"]
    assert (row["message_id"], row["type"], row["event_name"], row["user_id"]) == ("m1", "track", "Timer Started", "u1")
    assert row["timestamp"] == at("2026-11-20 10:00")
    assert json.loads(row["properties"]) == {"n": 1, "nested": {"k": [1, "x"]}}
    # The batch's context applies, the message's own context wins.
    assert json.loads(row["context"]) == {"ip": "10.0.0.1", "os": {"name": "iOS"}, "app": {"version": "1.0"}}
    assert profile.rows == 1 and profile.assigned_dates == ["2026-11-20"]
    assert profile.catalog == {"track:Timer Started": {"n": {"integer": 1}, "nested": {"object": 1}}}
    assert all(count == 0 for count in profile.null_counts.values())


def test_drift_is_a_property_retyped_or_vanished_not_a_new_or_optional_one() -> None:
    history = {
        "track:Entry Saved": {
            "minutes": {"integer": 40},
            "project": {"string": 40},
            "note": {"string": 2, "null": 5},
            "label": {"null": 3},
        }
    }
    today = {
        "track:Entry Saved": {
            "minutes": {"number": 10, "integer": 3},  # fractional now and then: still a number
            "project": {"integer": 9, "null": 1},  # a string sent as a number now
            "billable": {"boolean": 5},
        },
        "track:Brand New": {"x": {"string": 1}},
    }
    drift = compare_catalogs(
        today, history, today_events={"track:Entry Saved": 13}, history_events={"track:Entry Saved": 40}
    )
    assert drift.new == [("track:Entry Saved", "billable")]
    assert drift.retyped == [("track:Entry Saved", "project", ["string"], ["number"])]
    assert drift.vanished == []  # `note` rode on 2 of 40 events: 13 without it happen by chance
    assert drift.found
    assert drift.findings() == ["retyped track:Entry Saved.project: sent as number, before only as string"]
    assert not compare_catalogs(history, history).found


def test_a_property_every_event_carried_vanishes_on_the_first_day_without_it() -> None:
    history = {"track:Timer Started": {"project": {"string": 400}, "billable": {"boolean": 280}}}
    # The event is still sent, but carries no property at all: it is missing from today's catalog.
    drift = compare_catalogs(
        {}, history, today_events={"track:Timer Started": 3}, history_events={"track:Timer Started": 400}
    )
    assert drift.vanished == [("track:Timer Started", "project")]  # 70% share: 0.3**3 is no surprise
    assert drift.findings() == [
        "vanished track:Timer Started.project: carried by 400 of 400 events before, by none of today's 3"
    ]
    # An event not sent today has vanished from nothing.
    assert not compare_catalogs({}, history, today_events={}, history_events={"track:Timer Started": 400}).found
