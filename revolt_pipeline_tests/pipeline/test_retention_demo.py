"""`revolt demo` end to end: lifecycle and retention equal what the traffic generator planned, on SQLite and
PostgreSQL, first_seen and anchored on events."""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from revolt_pipeline.demo.generator import lifecycle_retention_truth, plan_traffic
from revolt_pipeline.demo.pipeline import summarize
from revolt_pipeline.reports import schema
from revolt_pipeline_tests.pipeline.conftest import DemoRun
from revolt_pipeline_tests.pipeline.harness import pipeline_environment
from revolt_pipeline_tests.pipeline.test_demo_end_to_end import START, USERS, demo, report_rows

# Shares the session's demo runs (conftest.py): one worker builds them.
pytestmark = pytest.mark.xdist_group("demo")

COUNTS = (
    "active_users",
    "new_users",
    "returning_users",
    "resurrecting_users",
    "dormant_users",
    "previous_active_users",
)
CELLS = ("cohort_size", "retained", "retained_or_later")
LAST = START + timedelta(days=6)  # the demo's window: 7 days


def in_window(week_start: date) -> bool:
    return week_start + timedelta(days=6) >= START and week_start <= LAST


def _as_truth(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, int]]]:
    """The tables' rows keyed like `lifecycle_retention_truth`, over the days and periods the window reached."""
    got: dict[str, dict[str, dict[str, int]]] = {}
    got["lifecycle_daily"] = {
        row["event_date"].isoformat(): {name: row[name] for name in COUNTS}
        for row in rows[schema.lifecycle_daily.name]
        if START <= row["event_date"] <= LAST
    }
    got["lifecycle_weekly"] = {
        row["week_start"].isoformat(): {name: row[name] for name in COUNTS}
        for row in rows[schema.lifecycle_weekly.name]
        if in_window(row["week_start"])
    }
    for table, key in (("lifecycle_daily", "event_date"), ("lifecycle_weekly", "week_start")):
        for grain, columns in (("platform", ("platform",)), ("app_version", ("platform", "app_version"))):
            got[f"{table}_by_{grain}"] = {
                "|".join([row[key].isoformat(), *(row[c] for c in columns)]): {name: row[name] for name in COUNTS}
                for row in rows[f"{table}_by_{grain}"]
                if (START <= row[key] <= LAST if key == "event_date" else in_window(row[key]))
            }
    for table, key, unit in (("retention_daily", "cohort_date", 1), ("retention_weekly", "cohort_week", 7)):
        got[table] = {
            f"{row[key].isoformat()}|{row['definition']}|{row['period']}": {name: row[name] for name in CELLS}
            for row in rows[table]
            if row[key] + timedelta(days=unit * row["period"]) <= LAST
        }
        # Keyed `platform|app_version` as the ground truth is: app versions are per platform.
        got[f"{table}_by_app_version"] = {
            f"{row[key].isoformat()}|{row['definition']}|{row['platform']}|{row['app_version']}|{row['period']}": {
                name: row[name] for name in CELLS
            }
            for row in rows[f"{table}_by_app_version"]
            if row[key] + timedelta(days=unit * row["period"]) <= LAST
        }
    return got


def _assert_rows_are_consistent(rows: dict[str, list[dict[str, Any]]]) -> None:
    """Beyond the window no one comes back; a week's row is as of its last day built."""
    last_built = max(row["event_date"] for row in rows[schema.lifecycle_daily.name])
    for row in rows[schema.retention_daily.name]:
        if row["cohort_date"] + timedelta(days=row["period"]) > LAST:
            assert row["retained"] == 0, row
        assert row["as_of"] == last_built
    for row in rows[schema.lifecycle_weekly.name]:
        sunday = row["week_start"] + timedelta(days=6)
        assert row["as_of"] == min(sunday, last_built)
        assert row["final"] == (row["as_of"] == sunday)


def test_lifecycle_and_retention_equal_the_ground_truth(embedded_demo: DemoRun) -> None:
    settings, result, rows = embedded_demo.settings, embedded_demo.result, embedded_demo.rows
    expected = {name: result.truth[name] for name in ("lifecycle_daily", "lifecycle_weekly", *BY_TABLES, *CELL_TABLES)}
    assert _as_truth(rows) == expected
    assert {row["definition"] for row in rows[schema.retention_daily.name]} == {"first_seen"}
    # Cohorts split by what acquired their people: some cohort holds people of two platforms or versions.
    split = rows[schema.retention_daily_by_app_version.name]
    assert len({(r["cohort_date"], r["platform"], r["app_version"]) for r in split}) > len(
        {r["cohort_date"] for r in split}
    )
    _assert_rows_are_consistent(rows)
    # On a platform alone, some people are new there though seen before elsewhere: the states differ from the total.
    by_platform = rows[schema.lifecycle_daily_by_platform.name]
    new_by_day = {row["event_date"]: row["new_users"] for row in rows[schema.lifecycle_daily.name]}
    assert any(
        sum(r["new_users"] for r in by_platform if r["event_date"] == day) > new for day, new in new_by_day.items()
    )
    # The planted behaviour is there to find: sign-ups who installed the desktop app keep coming back.
    summary = "\n".join(summarize(settings, result))
    assert "retention of the" in summary and "d1 " in summary


BY_TABLES = tuple(
    f"lifecycle_{unit}_by_{grain}" for unit in ("daily", "weekly") for grain in ("platform", "app_version")
)
CELL_TABLES = (
    "retention_daily",
    "retention_weekly",
    "retention_daily_by_app_version",
    "retention_weekly_by_app_version",
)


def test_anchored_retention_on_postgresql_equals_the_ground_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    settings = pipeline_environment(
        monkeypatch,
        tmp_path,
        REVOLT_REPORT_DB_URL=postgres_url,
        REVOLT_RETENTION_START_EVENT="Signed Up",
        REVOLT_RETENTION_RETURN_EVENT="Timer Started",
    )
    demo(settings)
    rows = report_rows(settings)
    traffic = plan_traffic(seed=3, users=USERS, days=7, start=START)
    expected = lifecycle_retention_truth(traffic, "Signed Up", "Timer Started")
    assert _as_truth(rows) == expected
    anchored = [row for row in rows[schema.retention_daily.name] if row["definition"] == "anchored"]
    assert anchored and all(
        (row["start_event"], row["return_event"]) == ("Signed Up", "Timer Started") for row in anchored
    )
    _assert_rows_are_consistent(rows)


def test_signups_on_the_desktop_app_retain_better_than_the_others() -> None:
    """The demo plants cohorts that retain differently; the ground truth shows it over a longer window."""
    traffic = plan_traffic(seed=11, users=600, days=21, start=date(2026, 11, 2))
    signups = {p.key: p for p in traffic.people if p.signup_day is not None}
    active: dict[str, set[date]] = {}
    for message in traffic.messages:
        if message.person_key in signups and not message.too_late:
            active.setdefault(message.person_key, set()).add(message.event_time.date())
    returned = {True: [], False: []}
    for key, person in signups.items():
        signup = traffic.start + timedelta(days=person.signup_day)
        if signup + timedelta(days=7) <= traffic.start + timedelta(days=traffic.days - 1):
            returned[person.fades].append(any(day > signup + timedelta(days=3) for day in active.get(key, ())))
    fading, sticking = returned[True], returned[False]
    assert len(fading) > 10 and len(sticking) > 10
    assert sum(sticking) / len(sticking) > 2 * sum(fading) / len(fading)
