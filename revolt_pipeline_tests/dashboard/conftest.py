"""A small report database written by hand, so each figure a page shows can be checked against known rows."""

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from revolt_pipeline.reports import schema
from revolt_pipeline.reports.loader import create_engine, ensure_tables
from revolt_pipeline.settings import Settings

FIRST = date(2026, 11, 2)  # a Monday
DAYS = 14
LAST = FIRST + timedelta(days=DAYS - 1)
SEGMENTS = ("daily web power users of Invoice Sent", "weekly ios light users")
SESSIONS = 120  # user-7's sessions over the two weeks


def _day(n: int) -> date:
    return FIRST + timedelta(days=n)


def report_rows() -> dict[sa.Table, list[dict[str, Any]]]:
    """Two weeks of two platforms (web, ios; ios with two app versions), people counts that do not add up across
    platforms (some people use both), and a week of churn scores and segments."""
    rows: dict[sa.Table, list[dict[str, Any]]] = {}
    total, web, ios, ios_new, ios_old = [], [], [], [], []
    for n in range(DAYS):
        d = _day(n)
        w = {"dau": 10 + n, "wau": 20 + n, "mau": 40 + n, "new_users": 2 + n % 3}
        i = {"dau": 5 + n % 4, "wau": 9 + n % 4, "mau": 15, "new_users": 1 + n % 2}
        both = 3  # people active on both platforms that day
        t = {
            "dau": w["dau"] + i["dau"] - both,
            "wau": w["wau"] + i["wau"] - 4,
            "mau": w["mau"] + i["mau"] - 5,
            "new_users": w["new_users"] + i["new_users"] - 1,
        }
        for target, values, extra in (
            (total, t, {}),
            (web, w, {"platform": "web"}),
            (ios, i, {"platform": "ios"}),
        ):
            target.append({"event_date": d, **extra, **values, "stickiness": values["dau"] / values["mau"]})
        ios_new.append(
            {
                "event_date": d,
                "platform": "ios",
                "app_version": "2.0",
                "dau": 4,
                "wau": 6,
                "mau": 9,
                "stickiness": 4 / 9,
                "new_users": 1,
            }
        )
        ios_old.append(
            {
                "event_date": d,
                "platform": "ios",
                "app_version": "1.9",
                "dau": 2,
                "wau": 4,
                "mau": 8,
                "stickiness": 2 / 8,
                "new_users": 0,
            }
        )
    rows[schema.active_users_daily] = total
    rows[schema.active_users_daily_by_platform] = web + ios
    rows[schema.active_users_daily_by_app_version] = ios_new + ios_old
    sessions = lambda n, k: {  # noqa: E731
        "sessions": k * (n + 1),
        "users": k,
        "events": 10 * k * (n + 1),
        "total_duration_seconds": 60.0 * k,
        "avg_duration_seconds": 60.0,
        "median_duration_seconds": 50.0,
        "p90_duration_seconds": 90.0,
        "single_event_sessions": 0,
        "split_sessions": 0,
    }
    rows[schema.sessions_daily] = [{"session_date": _day(n), **sessions(n, 5)} for n in range(DAYS)]
    rows[schema.sessions_daily_by_platform] = [
        {"session_date": _day(n), "platform": p, **sessions(n, k)}
        for n in range(DAYS)
        for p, k in (("web", 3), ("ios", 2))
    ]
    rows[schema.sessions_daily_by_app_version] = [
        {"session_date": _day(n), "platform": "ios", "app_version": v, **sessions(n, 1)}
        for n in range(DAYS)
        for v in ("2.0", "1.9")
    ]
    events = [("track", "Signed Up", 3), ("page", "Home", 7), ("track", "Invoice Sent", 5)]
    rows[schema.events_daily] = [
        {"event_date": _day(n), "event_type": t, "event_name": e, "events": k * 2, "users": k}
        for n in range(DAYS)
        for t, e, k in events
    ]
    rows[schema.events_daily_by_platform] = [
        {"event_date": _day(n), "platform": p, "event_type": t, "event_name": e, "events": k, "users": k}
        for n in range(DAYS)
        for t, e, k in events
        for p in ("web", "ios")
    ]
    # Each platform's events by app version: web all on 5.1, ios split between 2.0 and 1.9 (one of each event).
    rows[schema.events_daily_by_app_version] = [
        {"event_date": _day(n), "platform": p, "app_version": v, "event_type": t, "event_name": e, "events": c,
         "users": c}
        for n in range(DAYS)
        for t, e, k in events
        for p, v, c in (("web", "5.1", k), ("ios", "2.0", k - 1), ("ios", "1.9", 1))
    ]  # fmt: skip
    # A funnel of three steps each day: 10 people enter on the web, 6 on iOS; 6 and 2 reach step 2, 3 and 1 step 3;
    # the median time from the step before grows a second a day.
    steps = {
        1: ("Home", {"web": 10, "ios": 6}),
        2: ("Pricing", {"web": 6, "ios": 2}),
        3: ("Signed Up", {"web": 3, "ios": 1}),
    }

    def step_row(n: int, step: int, entered: int, reached: int) -> dict[str, Any]:
        return {
            "event_date": _day(n),
            "funnel": "signup",
            "step": step,
            "step_name": steps[step][0],
            "entered": entered,
            "reached": reached,
            "conversion_from_start": reached / entered,
            "conversion_from_previous": None,
            "median_seconds_from_start": None,
            "median_seconds_from_previous": None if step == 1 else 60.0 * step + n,
        }

    rows[schema.funnel_steps_daily_by_platform] = [
        {**step_row(n, step, steps[1][1][p], reached[p]), "platform": p}
        for n in range(DAYS)
        for step, (_, reached) in steps.items()
        for p in ("web", "ios")
    ]
    # iOS's entries split between its app versions: 4 on 2.0 (1 and 1 reach steps 2 and 3), 2 on 1.9 (1 and 0);
    # 1.9's medians are 30 s longer, so a page showing them is told apart. The web is all on 5.1.
    versions = {
        1: {("web", "5.1"): 10, ("ios", "2.0"): 4, ("ios", "1.9"): 2},
        2: {("web", "5.1"): 6, ("ios", "2.0"): 1, ("ios", "1.9"): 1},
        3: {("web", "5.1"): 3, ("ios", "2.0"): 1, ("ios", "1.9"): 0},
    }
    rows[schema.funnel_steps_daily_by_app_version] = [
        {
            **row,
            "platform": p,
            "app_version": v,
            "median_seconds_from_previous": row["median_seconds_from_previous"]
            and (row["median_seconds_from_previous"] + (30.0 if v == "1.9" else 0.0)),
        }
        for n in range(DAYS)
        for step, reached in versions.items()
        for (p, v), r in reached.items()
        for row in [step_row(n, step, versions[1][(p, v)], r)]
    ]
    rows[schema.funnel_steps_daily] = [
        step_row(n, step, 16, sum(reached.values())) for n in range(DAYS) for step, (_, reached) in steps.items()
    ]  # fmt: skip
    # Each app version's events by OS and by country, adding up to the version's: the web's 5.1 on macOS 14 from DE
    # (one event placed by its time zone) and FR, iOS 2.0 on iOS 17 from FR, iOS 1.9 on iOS 16 from the US.
    devices = {
        ("web", "5.1"): (("macOS", "14"), lambda k: {("DE", "ip"): k - 2, ("DE", "timezone"): 1, ("FR", "ip"): 1}),
        ("ios", "2.0"): (("iOS", "17"), lambda k: {("FR", "ip"): k}),
        ("ios", "1.9"): (("iOS", "16"), lambda k: {("US", "ip"): k}),
    }
    of_versions = [
        (row, *devices[(row["platform"], row["app_version"])]) for row in rows[schema.events_daily_by_app_version]
    ]
    rows[schema.events_daily_by_os] = [
        {**row, "os_name": os_name, "os_version": os_version} for row, (os_name, os_version), _ in of_versions
    ]
    rows[schema.events_daily_by_country] = [
        {**row, "country": country, "country_method": method, "events": k, "users": min(k, row["users"])}
        for row, _, split in of_versions
        for (country, method), k in split(row["events"]).items()
    ]
    rows[schema.people] = [
        {
            "person_id": f"user-{n}",
            "user_id": f"user-{n}" if n % 2 == 0 else None,
            "identified": n % 2 == 0,
            "first_seen": _day(n % 5),
            "last_seen": _day(DAYS - 1 - n % 3),
            "latest_platform": "web" if n < 6 else "ios",
            "latest_app_version": None if n < 6 else "2.0",
            "email": f"person{n}@example.com",
            "plan": "pro" if n % 3 == 0 else "free",
            "traits": json.dumps({"company": "Acme" if n == 4 else "Other", "plan": "pro" if n % 3 == 0 else "free"}),
            "sessions": n + 1,
            "events": 10 * (n + 1),
            "days_active": 2,
            "snapshot_date": LAST,
        }
        for n in range(10)
    ]
    rows[schema.person_days] = [
        {
            "event_date": _day(n),
            "person_id": f"user-{p}",
            "user_id": None,
            "identified": False,
            "events": 5,
            "sessions": 1 + n % 2,
            "seconds": 120.0,
            "platforms": "web" if p < 6 else "ios,web",
        }
        for p in range(10)
        for n in (p % 5, DAYS - 1 - p % 3)
    ]
    rows[schema.churn_scores] = [
        {
            "as_of_date": day,
            "person_id": f"user-{n}",
            "score": n / 10 + 0.05,
            "risk_band": "high" if n / 10 + 0.05 >= 0.5 else "medium" if n / 10 + 0.05 >= 0.2 else "low",
            "days_since_last_active": n,
            "top_factors": "days_since_last_active=3 (+0.10)",
            "model_version": "models/churn/as_of_date=x",
        }
        for day in (_day(6), LAST)
        for n in range(10)
    ]
    rows[schema.person_segments] = [
        {"as_of_date": LAST, "person_id": f"user-{n}", "segment": n % 2, "description": SEGMENTS[n % 2]}
        for n in range(10)
    ]
    # Segment numbers are each day's own (0 the largest): the same segments swap numbers between the two days.
    rows[schema.segment_sizes] = [
        {"as_of_date": _day(6), "segment": 0, "description": SEGMENTS[1], "people": 6, "share": 0.6},
        {"as_of_date": _day(6), "segment": 1, "description": SEGMENTS[0], "people": 4, "share": 0.4},
        *({"as_of_date": LAST, "segment": s, "description": SEGMENTS[s], "people": 5, "share": 0.5} for s in (0, 1)),
    ]
    # Lifecycle and retention of the two weeks: a cohort of 8 a day, 3 of them back one day later (37.5%).
    rows[schema.lifecycle_daily] = [
        {
            "event_date": _day(n),
            "active_users": 10 + n,
            "new_users": 2,
            "returning_users": 6 + n,
            "resurrecting_users": 2,
            "dormant_users": 3,
            "previous_active_users": 9 + n,
        }
        for n in range(DAYS)
    ]
    rows[schema.lifecycle_weekly] = [
        {
            "week_start": _day(7 * w),
            "as_of": _day(7 * w + 6),
            "days_built": 7,
            "final": w == 0,
            "active_users": 30,
            "new_users": 10 + w,
            "returning_users": 15,
            "resurrecting_users": 5 - w,
            "dormant_users": 4,
            "previous_active_users": 19,
        }
        for w in (0, 1)
    ]
    retained = {"as_of": LAST, "start_event": None, "return_event": None, "cohort_size": 8, "final": False}
    rows[schema.retention_daily] = [
        {"cohort_date": _day(n), "definition": "first_seen", "period": p, **retained, "retained": 8 if p == 0 else 3,
         "retained_or_later": 8 if p == 0 else 3}
        for n in range(DAYS)
        for p in range(min(2, DAYS - n))
    ]  # fmt: skip
    rows[schema.retention_weekly] = [
        {"cohort_week": _day(7 * w), "definition": "first_seen", "period": p, **retained, "period_complete": True,
         "retained": 8 if p == 0 else 3, "retained_or_later": 8 if p == 0 else 3}
        for w in (0, 1)
        for p in range(2 - w)
    ]  # fmt: skip
    # Lifecycle on each platform (and version) alone: its own numbers, which do not add up to the total's.
    platform_states = {("ios", None): 3, ("web", None): 5, ("ios", "2.0"): 2, ("ios", "1.9"): 1, ("web", "5.1"): 5}
    for (table, weekly), by_version in (
        ((schema.lifecycle_daily_by_platform, False), False),
        ((schema.lifecycle_daily_by_app_version, False), True),
        ((schema.lifecycle_weekly_by_platform, True), False),
        ((schema.lifecycle_weekly_by_app_version, True), True),
    ):
        periods = [row for row in rows[schema.lifecycle_weekly if weekly else schema.lifecycle_daily]]
        rows[table] = [
            {**{k: v for k, v in row.items() if not k.endswith("_users")}, "platform": p,
             **({"app_version": v} if by_version else {}),
             "active_users": 3 * k + n, "new_users": k, "returning_users": k + n, "resurrecting_users": k,
             "dormant_users": n + 1, "previous_active_users": k + 2 * n + 1}
            for n, row in enumerate(periods)
            for (p, v), k in platform_states.items()
            if (v is not None) == by_version
        ]  # fmt: skip
    # The same cohorts split by what acquired their people: 5 on ios 2.0 (2 back), 2 on ios 1.9 (1 back), 1 on the
    # web 5.1 (none back). ios as a whole: 7, 3 back (42.9%); version 2.0 alone 40%.
    acquired = {("ios", "2.0"): (5, 2), ("ios", "1.9"): (2, 1), ("web", "5.1"): (1, 0)}
    for table, split in (
        (schema.retention_daily_by_app_version, rows[schema.retention_daily]),
        (schema.retention_weekly_by_app_version, rows[schema.retention_weekly]),
    ):
        rows[table] = [
            {**row, "platform": p, "app_version": v, "cohort_size": size,
             **dict.fromkeys(("retained", "retained_or_later"), size if row["period"] == 0 else back)}
            for row in split
            for (p, v), (size, back) in acquired.items()
        ]  # fmt: skip
    # user-7's sessions: two a day on the days of their person days, and 120 more over the two weeks (paging).
    rows[schema.person_sessions] = [
        {
            "session_date": _day(n % DAYS),
            "session_id": f"s-{n:03d}",
            "person_id": "user-7",
            "session_start": datetime(2026, 11, 2, 8, tzinfo=UTC) + timedelta(days=n % DAYS, minutes=n),
            "session_end": datetime(2026, 11, 2, 8, tzinfo=UTC) + timedelta(days=n % DAYS, minutes=n + 5),
            "duration_seconds": 300.0,
            "events": 1 + n % 9,
            "platform": "ios" if n % 3 else "web",
            "app_version": "2.0" if n % 3 else "5.1",
            "os_name": "iOS" if n % 3 else None,
            "entry_event": "Signed In",
            "exit_event": "Invoice Sent",
        }
        for n in range(SESSIONS)
    ]
    return rows


def _build(path: Path, empty: bool) -> Path:
    engine = create_engine(f"sqlite:///{path}")
    try:
        ensure_tables(engine)
        if not empty:
            with engine.begin() as connection:
                for table, rows in report_rows().items():
                    connection.execute(table.insert(), rows)
    finally:
        engine.dispose()
    return path


@pytest.fixture(scope="session")
def report_db_files(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """The filled and the empty report database, built once (creating every table and view takes a second)."""
    folder = tmp_path_factory.mktemp("dashboard-reports")
    return {
        empty: _build(folder / f"reports-{'empty' if empty else 'filled'}.sqlite", empty) for empty in (False, True)
    }


@pytest.fixture
def report_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, report_db_files: dict[bool, Path]
) -> Callable[..., Settings]:
    """Settings whose report database is a copy of the filled one (`report_rows()`), the empty one (`empty=True`,
    every table, no rows), or no database at all (`tables=False`)."""

    def make(empty: bool = False, tables: bool = True) -> Settings:
        path = tmp_path / "reports.sqlite"
        if tables:
            shutil.copyfile(report_db_files[empty], path)
        for name in [name for name in os.environ if name.startswith("REVOLT_")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("REVOLT_HOME", str(tmp_path))
        monkeypatch.setenv("REVOLT_PARTITIONS_START", "2026-10-01")
        return dataclasses.replace(Settings.from_env(), report_db_url=f"sqlite:///{path}")

    return make
