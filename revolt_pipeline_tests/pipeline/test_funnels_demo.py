"""`revolt demo` end to end: the funnel step tables equal the funnels computed from the traffic plan, exactly."""

from typing import Any

import pytest

from revolt_pipeline.demo.pipeline import summarize
from revolt_pipeline.reports import schema
from revolt_pipeline_tests.pipeline.conftest import DemoRun

# Shares the session's demo runs (conftest.py): one worker builds them.
pytestmark = pytest.mark.xdist_group("demo")

COMPARED = ("step", "entered", "reached", "median_seconds_from_previous", "median_seconds_from_start")


def _steps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: row[name] for name in COMPARED} for row in sorted(rows, key=lambda row: row["step"])]


def _grouped(rows: list[dict[str, Any]], *keys: str) -> dict[Any, Any]:
    grouped: dict[Any, Any] = {}
    for row in rows:
        node = grouped
        for key in keys[:-1]:
            value = row[key].isoformat() if hasattr(row[key], "isoformat") else row[key]
            node = node.setdefault(value, {})
        node.setdefault(row[keys[-1]], []).append(row)
    return grouped


def _as_truth(node: Any) -> Any:
    return _steps(node) if isinstance(node, list) else {key: _as_truth(value) for key, value in node.items()}


@pytest.mark.parametrize("backend", ["embedded_demo", "production_demo"])
def test_funnel_tables_equal_the_ground_truth(backend: str, request: pytest.FixtureRequest) -> None:
    """On SQLite (the embedded default) and on PostgreSQL (production's backends)."""
    run: DemoRun = request.getfixturevalue(backend)
    settings, result, rows = run.settings, run.result, run.rows
    truth = result.truth["funnels"]
    daily = _as_truth(_grouped(rows[schema.funnel_steps_daily.name], "event_date", "funnel"))
    by_platform = _as_truth(
        _grouped(rows[schema.funnel_steps_daily_by_platform.name], "event_date", "funnel", "platform")
    )
    # Keyed `platform|app_version` as the ground truth is: app versions are per platform.
    versioned = [
        {**row, "version": f"{row['platform']}|{row['app_version']}"}
        for row in rows[schema.funnel_steps_daily_by_app_version.name]
    ]
    by_app_version = _as_truth(_grouped(versioned, "event_date", "funnel", "version"))
    weekly = _as_truth(_grouped(rows[schema.funnel_steps_weekly.name], "week_start", "funnel"))
    weekly_by_platform = _as_truth(
        _grouped(rows[schema.funnel_steps_weekly_by_platform.name], "week_start", "funnel", "platform")
    )

    assert {day: daily[day] for day in truth["daily"]} == truth["daily"]
    # Days without traffic show every step with no one entered.
    assert all(
        row["entered"] == 0
        for day, funnels in daily.items()
        if day not in truth["daily"]
        for f in funnels.values()
        for row in f
    )
    assert {day: by_platform.get(day, {}) for day in truth["daily_by_platform"]} == {
        day: {name: platforms for name, platforms in funnels.items() if platforms}
        for day, funnels in truth["daily_by_platform"].items()
    }
    # Each attempt under the platform and app version it entered on; some platform has two versions in the demo.
    assert {day: by_app_version.get(day, {}) for day in truth["daily_by_app_version"]} == {
        day: {name: versions for name, versions in funnels.items() if versions}
        for day, funnels in truth["daily_by_app_version"].items()
    }
    assert set(by_app_version) <= set(truth["daily_by_app_version"])
    pairs = {(row["platform"], row["app_version"]) for row in versioned}
    assert len(pairs) > len({platform for platform, _ in pairs}), pairs
    assert {week: weekly[week] for week in truth["weekly"]} == truth["weekly"]
    # Each person once a week, under the platform of their furthest attempt (not the sum of the days by platform).
    assert {week: weekly_by_platform.get(week, {}) for week in truth["weekly_by_platform"]} == {
        week: {name: platforms for name, platforms in funnels.items() if platforms}
        for week, funnels in truth["weekly_by_platform"].items()
    }
    assert set(weekly_by_platform) <= set(truth["weekly_by_platform"])
    assert all(
        row["entered"] == 0
        for week, funnels in weekly.items()
        if week not in truth["weekly"]
        for f in funnels.values()
        for row in f
    )

    # The planted drop: most Android users who start a timer never save the entry; others mostly do.
    last_step = [
        row
        for row in rows[schema.funnel_steps_daily_by_platform.name]
        if row["funnel"] == "time_entry" and row["step"] == 3
    ]
    saved = {
        platform: sum(r["reached"] for r in last_step if r["platform"] == platform) for platform in ("android", "ios")
    }
    started = {
        platform: sum(
            r["reached"]
            for r in rows[schema.funnel_steps_daily_by_platform.name]
            if r["funnel"] == "time_entry" and r["step"] == 2 and r["platform"] == platform
        )
        for platform in ("android", "ios")
    }
    assert started["android"] and started["ios"]
    assert saved["android"] / started["android"] < 0.5 * saved["ios"] / started["ios"]
    summary = "\n".join(summarize(settings, result))
    assert "funnel signup: Home" in summary and "funnel time_entry: Dashboard" in summary, summary
    assert "equal to the ground truth" in summary, summary
