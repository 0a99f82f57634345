"""Names a client sends that the report database cannot hold as sent never block a day's reports."""

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revolt_pipeline.dashboard.urls import page_url
from revolt_pipeline_tests.pipeline.harness import Pipeline, pipeline_environment, rfc3339, running_pipeline, track

DAY = date(2026, 11, 18)
MORNING = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
LONG_EVENT = "Checkout Step Completed " * 13  # 312 characters
LONG_EVENT_TWIN = LONG_EVENT[:-1] + "!"  # the same first 311 characters
LONG_PAGE = "/projects/" + "é" * 290  # two bytes a character in UTF-8
LONG_SCREEN = "Settings " + "😀" * 300  # four bytes a character
LONG_PROPERTY = "utm_" + "x" * 296
LONG_TRAIT = "preference_" + "ß" * 250  # 261 characters
LONG_VERSION = "4.2.0-build." + "9" * 88  # 100 characters


def made_safe(value: str, chars: int) -> str:
    """The contract's rule, stated independently of the pipeline's SQL (docs/event-contract.md)."""
    replaced = value.replace("\x00", "\ufffd")
    if len(replaced) <= chars:
        return replaced
    return replaced[: chars - 9] + "…" + hashlib.md5(value.encode()).hexdigest()[:8]


def event(kind: str, message_id: str, user: str, minutes: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "messageId": message_id,
        "userId": user,
        "originalTimestamp": rfc3339(MORNING + timedelta(minutes=minutes)),
        "context": {"app": {"version": "4.2"}},
        **fields,
    }


def hostile_day() -> list[dict[str, Any]]:
    good = [
        track("good-1", "ada", MORNING, properties={"project": "alpha"}),
        track("good-2", "bob", MORNING + timedelta(minutes=1), properties={"project": "beta"}),
        event("page", "good-3", "ada", 2, name="Home", properties={"path": "/"}),
    ]
    hostile = [
        track("nul-1", "cyd", MORNING + timedelta(minutes=3), event="Timer\x00Stopped"),
        track("long-1", "cyd", MORNING + timedelta(minutes=4), event=LONG_EVENT),
        track("long-2", "dan", MORNING + timedelta(minutes=5), event=LONG_EVENT_TWIN),
        event("page", "nul-2", "dan", 6, name="Pricing\x00", properties={"path": "/pricing"}),
        event("page", "long-3", "eve", 7, name=LONG_PAGE),
        event("screen", "long-4", "eve", 8, name=LONG_SCREEN),
        track(
            "props-1",
            "fay",
            MORNING + timedelta(minutes=9),
            properties={"project": "gamma", "bad\x00key": 1, LONG_PROPERTY: True, "a\n\\.\nb": "copy marker"},
        ),
        event("identify", "traits-1", "fay", 10, traits={"plan": "pro", LONG_TRAIT: "dark", "\x00": 0}),
        track("version-1", "gus", MORNING + timedelta(minutes=11), context={"app": {"version": LONG_VERSION}}),
        # A version spelled like the totals' marker would collide with the platform's total row.
        track("version-2", "hal", MORNING + timedelta(minutes=12), context={"app": {"version": "all"}}),
        track("version-3", "ivy", MORNING + timedelta(minutes=13), context={"app": {"version": "4.2\x00beta"}}),
    ]
    return good + hostile


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def pipeline(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    overrides = {"REVOLT_REPORT_DB_URL": request.getfixturevalue("postgres_url")} if request.param != "sqlite" else {}
    settings = pipeline_environment(monkeypatch, tmp_path, **overrides)
    with running_pipeline(settings, MORNING) as running:
        yield running


def test_names_the_database_cannot_hold_are_made_safe_and_every_days_reports_load(pipeline: Pipeline) -> None:
    pipeline.send(MORNING, hostile_day())
    pipeline.complete(DAY)

    assert pipeline.run("raw_job", DAY.isoformat()).success
    assert pipeline.run("clean_job", "2026-11-17", "2026-11-19").success
    reports = pipeline.run("report_job", "2026-11-17", "2026-11-19")
    assert reports.success, [e.message for e in reports.all_events if e.is_failure]
    catalog = pipeline.run("catalog_job", DAY.isoformat())
    assert catalog.success
    # event_catalog's materialization links to the events page of its day, as every report asset links to its page.
    assert {
        event.materialization.metadata["dashboard"].value
        for event in catalog.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey("event_catalog") and event.materialization.partition
    } == {page_url(pipeline.settings.dashboard_url, "events", from_=DAY.isoformat(), to=DAY.isoformat())}

    rows = pipeline.report_rows()
    totals = {
        (row["event_type"], row["event_name"]): row["events"]
        for row in rows["events_daily"]
        if row["event_date"] == DAY
    }
    assert totals == {
        # Good rows intact.
        ("track", "Timer Started"): 6,
        ("page", "Home"): 1,
        ("identify", "identify"): 1,
        # Bad names made safe, each its own row: the twins share 311 characters but not their digest.
        ("track", "Timer\ufffdStopped"): 1,
        ("track", made_safe(LONG_EVENT, 255)): 1,
        ("track", made_safe(LONG_EVENT_TWIN, 255)): 1,
        ("page", "Pricing\ufffd"): 1,
        ("page", made_safe(LONG_PAGE, 255)): 1,
        ("screen", made_safe(LONG_SCREEN, 255)): 1,
    }
    assert made_safe(LONG_EVENT, 255) != made_safe(LONG_EVENT_TWIN, 255)
    assert all(len(name) == 255 for _, name in totals if name.startswith(("Checkout", "/projects", "Settings")))

    web_versions = {
        row["app_version"]: row["active_users"]
        for row in rows["daily_active_users_by_app_version"]
        if row["event_date"] == DAY and row["platform"] == "web"
    }
    assert web_versions == {
        "4.2": 6,
        made_safe(LONG_VERSION, 64): 1,
        "all…" + hashlib.md5(b"all").hexdigest()[:8]: 1,
        "4.2\ufffdbeta": 1,
    }
    web = [row for row in rows["daily_active_users_by_platform"] if row["event_date"] == DAY]
    assert [(row["platform"], row["active_users"]) for row in web] == [("web", 9)]
    sessions = rows["sessions_daily_by_app_version"]
    assert {row["app_version"] for row in sessions if row["session_date"] == DAY} == set(web_versions)

    catalog = {
        (row["event_type"], row["event_name"], row["property"])
        for row in rows["event_catalog"]
        if row["received_date"] == DAY
    }
    assert catalog == {
        ("track", "Timer Started", "project"),
        ("track", "Timer Started", "bad\ufffdkey"),
        ("track", "Timer Started", made_safe(LONG_PROPERTY, 255)),
        ("track", "Timer Started", "a\n\\.\nb"),
        ("page", "Home", "path"),
        ("page", "Pricing\ufffd", "path"),
        ("identify", "identify", "plan"),
        ("identify", "identify", made_safe(LONG_TRAIT, 255)),
        ("identify", "identify", "\ufffd"),
    }

    aggregates = pipeline.metadata("daily_aggregates", DAY.isoformat())
    device = ("os_name", "os_version", "device_type", "country", "country_method", "locale", "source")
    device += ("library_name", "library_version")
    assert aggregates["values_made_safe"] == {
        "platform": 0,
        "app_version": 3,
        **dict.fromkeys(device, 0),
        "event_type": 0,
        "event_name": 6,
    }
    assert aggregates["values_made_safe_total"] == 9
    raw = pipeline.metadata("raw_events", DAY.isoformat())
    assert raw["catalog_values_made_safe"] == {"event_type": 0, "event_name": 1, "property": 4}
    assert raw["catalog_values_made_safe_total"] == 5


def test_a_rebuilt_day_with_safe_values_is_identical(pipeline: Pipeline) -> None:
    pipeline.send(MORNING, hostile_day())
    pipeline.complete(DAY)
    for job in ("raw_job", "clean_job", "report_job", "catalog_job"):
        assert pipeline.run(job, DAY.isoformat()).success
    before = pipeline.report_rows()
    for job in ("raw_job", "clean_job", "report_job", "catalog_job"):
        assert pipeline.run(job, DAY.isoformat()).success
    assert pipeline.report_rows() == before
    assert all(before[table] for table in before)
