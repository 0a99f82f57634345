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


def test_drift_reports_new_vanished_and_retyped_properties() -> None:
    history = {"track:Entry Saved": {"minutes": {"integer": 40}, "project": {"string": 40}, "note": {"string": 2}}}
    today = {
        "track:Entry Saved": {
            "minutes": {"number": 10, "integer": 3},
            "project": {"string": 9, "null": 1},
            "billable": {"boolean": 5},
        },
        "track:Brand New": {"x": {"string": 1}},
    }
    drift = compare_catalogs(today, history)
    assert drift.new == [("track:Entry Saved", "billable")]
    assert drift.vanished == [("track:Entry Saved", "note")]
    assert drift.retyped == [("track:Entry Saved", "minutes", ["integer"], ["integer", "number"])]
    assert drift.found
    assert not compare_catalogs(history, history).found
