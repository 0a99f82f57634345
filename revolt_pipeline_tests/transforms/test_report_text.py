"""The report-text rule: every value a report column gets fits it, and distinct values stay distinct rows."""

import hashlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from revolt_pipeline.reports import schema
from revolt_pipeline.transforms.aggregates import (
    BY_APP_VERSION,
    BY_PLATFORM,
    daily_active_users_query,
    events_daily_query,
    made_safe_query,
    sessions_daily_query,
)
from revolt_pipeline.transforms.engine import parquet
from revolt_pipeline.transforms.raw import catalog_rows, profile_raw
from revolt_pipeline.transforms.report_text import REPORT_TEXT_CHARS, ReportText, made_safe_counts_query
from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import at, duckdb_connection, landed, run_pipeline

DAY = date(2026, 11, 20)


def digest(value: str) -> str:
    return hashlib.md5(value.encode()).hexdigest()[:8]


def fit(values: list[str | None], column: str = "event_name", reserved: tuple[str, ...] = ()) -> list[str | None]:
    """`values` through the rule's SQL, in DuckDB."""
    text = ReportText(column, "value", reserved)
    with duckdb_connection(threads=1) as connection:
        rows = connection.execute(
            f"SELECT {text.sql} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(value, n) ORDER BY n", [values]
        ).fetchall()
    return [row[0] for row in rows]


def test_nul_becomes_the_replacement_character() -> None:
    assert fit(["Timer\x00Stopped", "\x00", "\x00\x00end"]) == ["Timer\ufffdStopped", "\ufffd", "\ufffd\ufffdend"]


def test_values_that_fit_come_back_unchanged() -> None:
    values = ["Timer Started", "", "x" * 255, "é" * 255, "😀" * 255, "line\nbreak", "\\.", "all"]
    assert fit(values) == values


def test_null_stays_null() -> None:
    assert fit([None, "a"]) == [None, "a"]


def test_a_value_over_the_limit_is_cut_and_ends_with_a_marker_and_its_digest() -> None:
    value = "x" * 256
    (made,) = fit([value])
    assert made == "x" * 246 + "…" + digest(value)
    assert len(made) == 255


def test_the_cut_falls_between_characters_whatever_their_width() -> None:
    for value in ("é" * 300, "😀" * 300, "a" + "東京" * 200, "👍🏽" * 200):
        (made,) = fit([value])
        assert len(made) == 255
        assert made == value[:246] + "…" + digest(value)
        made.encode("utf-8")  # a whole number of characters: valid UTF-8


def test_long_values_sharing_a_prefix_stay_distinct() -> None:
    shared = "Checkout Step " * 30
    first, second, again = fit([shared + "A", shared + "B", shared + "A"])
    assert first != second
    assert first == again
    assert first[:246] == second[:246]


def test_the_digest_is_of_the_value_as_sent_nul_included() -> None:
    value = "\x00" + "y" * 300
    (made,) = fit([value])
    assert made == "\ufffd" + "y" * 245 + "…" + digest(value)
    assert hashlib.md5(value.encode()).hexdigest() != hashlib.md5(value.replace("\x00", "\ufffd").encode()).hexdigest()


def test_each_column_has_its_own_limit() -> None:
    assert fit(["v" * 64, "v" * 65], "app_version") == ["v" * 64, "v" * 55 + "…" + digest("v" * 65)]


def test_a_reserved_value_gets_the_marker_uncut() -> None:
    assert fit(["all", "All", "all ", "allx"], "app_version", reserved=("all",)) == [
        "all…" + digest("all"),
        "All",
        "all ",
        "allx",
    ]


def test_the_rule_is_idempotent() -> None:
    values = ["a\x00b", "z" * 1000, "all", "ok", None]
    once = fit(values, "app_version", reserved=("all",))
    assert fit(once, "app_version", reserved=("all",)) == once


def test_columns_without_a_limit_or_room_for_the_marker_are_refused() -> None:
    with pytest.raises(ValueError, match="not a text column"):
        ReportText("user_id", "user_id")
    with pytest.raises(ValueError, match="no room"):
        ReportText("event_type", "type", reserved=("x" * 10,))


def test_made_safe_counts_distinct_values_changed() -> None:
    texts = [ReportText("event_name", "name"), ReportText("app_version", "version")]
    with duckdb_connection(threads=1) as connection:
        connection.execute("CREATE TABLE events (name VARCHAR, version VARCHAR)")
        connection.executemany(
            "INSERT INTO events VALUES (?, ?)",
            [("a\x00", "1.0"), ("a\x00", "1.0"), ("b" * 300, "1.0"), ("ok", None), (None, "2" * 65)],
        )
        assert connection.execute(made_safe_counts_query("events", texts)).fetchone() == (2, 1)


def test_every_text_column_of_the_report_tables_takes_its_length_from_the_rule() -> None:
    text_columns = [
        column
        for table in schema.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.String)
    ]
    assert text_columns
    # Free client text of no length (sa.Text: ids, traits, OS and locale in person_days, people and person_sessions)
    # is kept whole, its NUL made U+FFFD (transforms/people_reports.py); every column with a length takes the rule's.
    bounded = [column for column in text_columns if column.type.length is not None]
    # So are the models' person ids, churn factors and segment descriptions (made of item names already made safe).
    unbounded = {
        *("person_days", "people", "person_sessions"),
        *("churn_scores", "recommendations", "person_segments", "segment_sizes"),
    }
    assert {column.table.name for column in text_columns if column not in bounded} <= unbounded
    # people's first and latest platform and app version take the rule of the value they hold.
    rule = {
        "first_platform": "platform",
        "latest_platform": "platform",
        "latest_app_version": "app_version",
        "first_app_version": "app_version",
    }
    # The duration buckets' labels and the retention definitions are the pipeline's own, not client text; funnel
    # and step names come from the funnels file, sized by its own limits (transforms/funnels.py).
    # risk_band: the churn model's own words; likely_pii: the PII scanner's kinds (transforms/pii.py).
    own = {"bucket", "definition", "funnel", "step_name", "risk_band", "likely_pii"}
    assert {rule.get(column.name, column.name) for column in bounded} - set(REPORT_TEXT_CHARS) == own
    for column in bounded:
        if column.name not in own:
            assert column.type.length == REPORT_TEXT_CHARS[rule.get(column.name, column.name)], column


def aggregate(connection: Any, query: str) -> list[dict[str, Any]]:
    cursor = connection.execute(query)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_names_that_become_equal_merge_into_one_row_before_grouping(tmp_path: Path) -> None:
    when = at("2026-11-20 10:00")
    records = [
        landed("m1", when, event="Saved\x00", user_id="u1"),
        landed("m2", when, event="Saved\ufffd", user_id="u2"),  # what the first becomes
        landed("m3", when, event="Saved", user_id="u3"),
        landed("m4", when, kind="page", event="p" * 400, user_id="u4"),
    ]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        day_rows = aggregate(connection, events_daily_query(parquet(lake.sessionized[DAY]), DAY))
        rows = aggregate(connection, events_daily_query(parquet(lake.sessionized[DAY]), DAY, BY_APP_VERSION))
        cursor = connection.execute(made_safe_query(parquet(lake.sessionized[DAY])))
        counts = dict(zip([column[0] for column in cursor.description], cursor.fetchone(), strict=True))
    totals = {(r["event_type"], r["event_name"]): r["events"] for r in day_rows}
    assert totals == {
        ("track", "Saved\ufffd"): 2,
        ("track", "Saved"): 1,
        ("page", "p" * 246 + "…" + digest("p" * 400)): 1,
    }
    keys = [(r["platform"], r["app_version"], r["event_type"], r["event_name"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert counts == {**dict.fromkeys(counts, 0), "event_name": 2}  # every other report column untouched


def test_an_app_version_spelled_like_the_totals_marker_does_not_collide_with_them(tmp_path: Path) -> None:
    when = at("2026-11-20 10:00")
    records = [
        landed("m1", when, app_version="all", user_id="u1"),
        landed("m2", when, app_version="1.0", user_id="u2"),
        landed("m3", when, app_version="v" * 80, user_id="u3"),
    ]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        users = aggregate(connection, daily_active_users_query(parquet(lake.sessionized[DAY]), DAY, BY_APP_VERSION))
        sessions = aggregate(connection, sessions_daily_query(parquet(lake.sessions[DAY]), DAY, BY_APP_VERSION))
        platforms = aggregate(connection, daily_active_users_query(parquet(lake.sessionized[DAY]), DAY, BY_PLATFORM))
    for rows in (users, sessions):
        keys = [(r["platform"], r["app_version"]) for r in rows]
        assert len(keys) == len(set(keys))
        assert {version for platform, version in keys if platform == "web"} == {
            "all…" + digest("all"),
            "1.0",
            "v" * 55 + "…" + digest("v" * 80),
        }
    assert [(r["platform"], r["active_users"]) for r in platforms] == [("web", 3)]


def test_the_catalog_holds_property_names_made_safe_and_counts_them(tmp_path: Path) -> None:
    when = at("2026-11-20 10:00")
    long_key = "k" * 300
    records = [
        landed("m1", when, properties={"ok": 1, "bad\x00": 2, long_key: "x"}),
        landed("m2", when, properties={"bad\ufffd": 3}),  # merges with the NUL one
        landed("m3", when, kind="page", event="Home\x00", properties={"path": "/"}),
        landed("m4", when, kind="identify", traits={"t" * 256: True}),
    ]
    with duckdb_connection(threads=1) as connection:
        lake = run_pipeline(connection, tmp_path, records)
        profile = profile_raw(connection, lake.raw[DAY], DAY, PipelineRules())
    assert profile.catalog == {
        "track:Timer Started": {
            "ok": {"integer": 1},
            "bad\ufffd": {"integer": 2},
            "k" * 246 + "…" + digest(long_key): {"string": 1},
        },
        "page:Home\ufffd": {"path": {"string": 1}},
        "identify:identify": {"t" * 246 + "…" + digest("t" * 256): {"boolean": 1}},
    }
    assert profile.catalog_made_safe == {"event_type": 0, "event_name": 1, "property": 3}
    rows = catalog_rows(DAY, profile.catalog)
    for row in rows:
        for column, value in row.items():
            if isinstance(value, str):
                assert "\x00" not in value and len(value) <= REPORT_TEXT_CHARS[column], (column, value)
