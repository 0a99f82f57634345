"""Sessions: inactivity timeout, the day they start, never split at midnight, cut beyond the maximum."""

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from revolt_pipeline.transforms.rules import PipelineRules
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, Lake, at, duckdb_connection, landed, run_pipeline


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator:
    with duckdb_connection(threads=1) as connection:
        yield lambda records, rules=DEFAULT_RULES: run_pipeline(connection, tmp_path, records, rules)


def sessions_of(lake: Lake) -> list[dict]:
    return lake.all_rows(lake.sessions, order="session_start")


def test_session_spanning_midnight_is_one_session_counted_on_its_first_day(pipeline) -> None:
    lake = pipeline(
        [
            landed("m1", at("2026-11-20 23:50"), event="Timer Started"),
            landed("m2", at("2026-11-21 00:05"), event="Entry Saved"),
            landed("m3", at("2026-11-21 00:20"), event="Timer Stopped"),
        ]
    )
    (session,) = sessions_of(lake)
    assert session["session_start"].date() == date(2026, 11, 20)
    assert (session["events"], session["duration_seconds"]) == (3, 30 * 60)
    assert (session["entry_event"], session["exit_event"]) == ("Timer Started", "Timer Stopped")
    assert lake.rows(lake.sessions[date(2026, 11, 21)]) == []
    after_midnight = lake.rows(lake.sessionized[date(2026, 11, 21)])
    assert {row["session_id"] for row in after_midnight} == {session["session_id"]}


@pytest.mark.parametrize(("gap_minutes", "sessions"), [(29, 1), (30, 1), (31, 2)])
def test_a_session_ends_after_thirty_minutes_of_inactivity(pipeline, gap_minutes: int, sessions: int) -> None:
    start = at("2026-11-20 10:00")
    lake = pipeline([landed("m1", start), landed("m2", start + timedelta(minutes=gap_minutes))])
    assert len(sessions_of(lake)) == sessions


def test_sessions_are_per_person_across_devices_after_stitching(pipeline) -> None:
    start = at("2026-11-20 10:00")
    lake = pipeline(
        [
            landed("m1", start, user_id=None, anonymous_id="phone-1", platform="ios"),
            landed(
                "m2",
                start + timedelta(minutes=5),
                kind="identify",
                user_id="ada",
                anonymous_id="phone-1",
                platform="ios",
            ),
            landed("m3", start + timedelta(minutes=20), user_id="ada", platform="web"),
            landed("m4", start + timedelta(minutes=22), user_id="bob", platform="web"),
        ]
    )
    by_person = {row["person_id"]: row for row in sessions_of(lake)}
    assert sorted(by_person) == ["ada", "bob"]
    assert by_person["ada"]["events"] == 3
    assert by_person["ada"]["platform"] == "ios"  # where the session started
    assert by_person["ada"]["identified"] is True


def test_a_session_longer_than_the_maximum_is_cut_and_flagged(pipeline) -> None:
    start = at("2026-11-20 06:00")
    records = [landed(f"m{n:03d}", start + timedelta(minutes=20 * n)) for n in range(90)]  # 29 h 40 min
    lake = pipeline(records, PipelineRules(max_session_length=timedelta(hours=24)))
    sessions = sessions_of(lake)
    assert [s["session_start"] for s in sessions] == [start, start + timedelta(hours=24)]
    assert all(s["split"] for s in sessions)
    assert all(s["duration_seconds"] < 24 * 3600 for s in sessions)
    assert sum(s["events"] for s in sessions) == 90


def test_a_maximum_longer_than_a_day_keeps_a_session_reaching_two_days_later_whole(pipeline) -> None:
    """With sessions of up to 30 hours, one starting late on the 20th runs into the 22nd: the sessions of
    the 20th must read the 22nd's events too, or those would belong to no session."""
    start = at("2026-11-20 22:00")
    records = [landed(f"m{n:03d}", start + timedelta(minutes=20 * n)) for n in range(85)]  # 28 h, to the 22nd
    lake = pipeline(records, PipelineRules(max_session_length=timedelta(hours=30)))
    (session,) = sessions_of(lake)
    assert (session["session_start"], session["events"], session["split"]) == (start, 85, False)
    on_the_22nd = lake.rows(lake.sessionized[date(2026, 11, 22)])
    assert len(on_the_22nd) == 7 and {row["session_id"] for row in on_the_22nd} == {session["session_id"]}


def test_events_of_the_same_millisecond_are_ordered_by_message_id(pipeline) -> None:
    moment = at("2026-11-20 10:00")
    lake = pipeline(
        [
            landed("b", moment, event="Second", platform="web"),
            landed("a", moment, event="First", platform="ios"),
        ]
    )
    (session,) = sessions_of(lake)
    assert (session["entry_event"], session["exit_event"], session["platform"]) == ("First", "Second", "ios")


def test_a_configured_timeout_is_applied(pipeline) -> None:
    start = at("2026-11-20 10:00")
    records = [landed("m1", start), landed("m2", start + timedelta(minutes=12))]
    assert len(sessions_of(pipeline(records, PipelineRules(session_timeout=timedelta(minutes=10))))) == 2
