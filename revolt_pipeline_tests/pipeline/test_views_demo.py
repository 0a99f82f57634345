"""The views over lifecycle, retention, funnels and paths (reports/views.py) equal the demo's ground truth, on
SQLite (the embedded default) and on PostgreSQL (production's backends): the truth comes from the traffic plan
(demo/generator.py), never from the SQL, and the rates are checked against the counts they divide."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from revolt_pipeline.reports.loader import create_engine
from revolt_pipeline.reports.views import TOP_EVENTS_DAYS
from revolt_pipeline_tests.pipeline.conftest import DemoRun
from revolt_pipeline_tests.pipeline.test_demo_end_to_end import START

pytestmark = pytest.mark.xdist_group("demo")

BACKENDS = ["embedded_demo", "production_demo"]
LAST = START + timedelta(days=6)  # the demo's window: 7 days, Monday to Sunday
CELLS = ("cohort_size", "retained", "retained_or_later")
STATES = {"new": "new_users", "returning": "returning_users", "resurrecting": "resurrecting_users"}


def _plain(value: Any) -> Any:
    """A value as both databases' drivers would agree on: dates as ISO text, numerics as floats."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _view(request: pytest.FixtureRequest, backend: str, name: str) -> list[dict[str, Any]]:
    run: DemoRun = request.getfixturevalue(backend)
    engine = create_engine(run.settings.report_db_url)
    try:
        with engine.connect() as connection:
            result = connection.execute(sa.text(f"SELECT * FROM {name}"))
            return [{key: _plain(value) for key, value in row._mapping.items()} for row in result]
    finally:
        engine.dispose()


def _truth(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    run: DemoRun = request.getfixturevalue(backend)
    return run.result.truth


def _assert_percent(percent: float | None, numerator: int, denominator: int) -> None:
    """The rate rounded to one decimal (either database's rounding), NULL where there is nothing to divide by."""
    if denominator == 0:
        assert percent is None
    else:
        assert abs(percent - 100 * numerator / denominator) <= 0.05 + 1e-9, (percent, numerator, denominator)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("view", "table", "cohort", "period", "days"),
    [
        ("weekly_retention_heatmap", "retention_weekly", "cohort_week", "week_number", 7),
        ("daily_retention_heatmap", "retention_daily", "cohort_day", "day_number", 1),
    ],
)
def test_the_retention_heatmaps_equal_the_ground_truth(
    backend: str, view: str, table: str, cohort: str, period: str, days: int, request: pytest.FixtureRequest
) -> None:
    rows = _view(request, backend, view)
    run: DemoRun = request.getfixturevalue(backend)
    assert len(rows) == len(run.rows[table])  # one row per cell of the table, none lost or repeated
    reached = [row for row in rows if date.fromisoformat(row[cohort]) + timedelta(days=days * row[period]) <= LAST]
    got = {f"{row[cohort]}|{row['definition']}|{row[period]}": {name: row[name] for name in CELLS} for row in reached}
    assert got == _truth(request, backend)[table]
    assert {row["definition"] for row in rows} == {"first_seen"}
    for row in rows:
        _assert_percent(row["retained_percent"], row["retained"], row["cohort_size"])
        _assert_percent(row["retained_or_later_percent"], row["retained_or_later"], row["cohort_size"])
        assert row["start_event"] is None and row["return_event"] is None
    # The heatmap's first column: everyone is active in their own week (or day).
    assert all(row["retained_percent"] == 100 for row in rows if row[period] == 0)


def _assert_funnel_steps(rows: list[dict[str, Any]], truth: list[dict[str, Any]]) -> None:
    """One funnel's rows of a conversion view, ordered by step, against its truth's steps."""
    assert [row["step"] for row in rows] == [step["step"] for step in truth]
    for row, expected in zip(rows, truth, strict=True):
        assert {name: row[name] for name in expected} == expected
    previous = truth[0]["entered"]
    for row in rows:
        assert row["dropped_from_previous"] == previous - row["reached"]
        _assert_percent(row["conversion_from_start_percent"], row["reached"], row["entered"])
        _assert_percent(row["conversion_from_previous_percent"], row["reached"], previous)
        previous = row["reached"]


def _by_funnel(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    funnels: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: (row["funnel"], row["step"])):
        funnels[row["funnel"]].append(row)
    return dict(funnels)


@pytest.mark.parametrize("backend", BACKENDS)
def test_funnel_conversion_is_the_latest_complete_week_of_the_ground_truth(
    backend: str, request: pytest.FixtureRequest
) -> None:
    rows = _view(request, backend, "funnel_conversion")
    # The demo's traffic fills one ISO week, Monday to Sunday: the latest complete one anyone entered a funnel in
    # (the demo builds the empty days after it too, through today).
    weekly = _truth(request, backend)["funnels"]["weekly"]
    assert max(week for week, funnels in weekly.items() if any(f[0]["entered"] for f in funnels.values())) == (
        START.isoformat()
    )
    assert {(row["week_start"], row["week_end"]) for row in rows} == {(START.isoformat(), LAST.isoformat())}
    truth = weekly[START.isoformat()]
    funnels = _by_funnel(rows)
    assert set(funnels) == set(truth)
    for name, steps in funnels.items():
        _assert_funnel_steps(steps, truth[name])
    # The planted drop shows: fewer than half of those who started a timer saved the entry.
    time_entry = funnels["time_entry"]
    assert time_entry[-1]["dropped_from_previous"] > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_funnel_conversion_daily_equals_the_ground_truth(backend: str, request: pytest.FixtureRequest) -> None:
    rows = _view(request, backend, "funnel_conversion_daily")
    run: DemoRun = request.getfixturevalue(backend)
    assert len(rows) == len(run.rows["funnel_steps_daily"])
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[row["day"]].append(row)
    truth = _truth(request, backend)["funnels"]["daily"]
    assert truth and set(truth) <= set(by_day)
    for day, expected in truth.items():
        funnels = _by_funnel(by_day[day])
        assert set(funnels) == set(expected), day
        for name, steps in funnels.items():
            _assert_funnel_steps(steps, expected[name])


def _states(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    got: dict[str, dict[str, int]] = defaultdict(dict)
    for row in sorted(rows, key=lambda row: row["state_order"]):
        got[row[key]][row["state"]] = row["people"]
    return dict(got)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("view", "table", "key"),
    [("daily_lifecycle", "lifecycle_daily", "day"), ("weekly_lifecycle", "lifecycle_weekly", "week_start")],
)
def test_the_lifecycle_views_equal_the_ground_truth_with_dormant_below_the_axis(
    backend: str, view: str, table: str, key: str, request: pytest.FixtureRequest
) -> None:
    rows = _view(request, backend, view)
    got = _states(rows, key)
    truth = _truth(request, backend)[table]
    expected = {
        period: {**{state: counts[column] for state, column in STATES.items()}, "dormant": -counts["dormant_users"]}
        for period, counts in truth.items()
    }
    assert {period: got[period] for period in expected} == expected
    assert all(list(states) == ["new", "returning", "resurrecting", "dormant"] for states in got.values())
    # The bars above the axis add up to the period's active people.
    for period, counts in truth.items():
        assert sum(people for state, people in got[period].items() if state != "dormant") == counts["active_users"]
    assert any(states["dormant"] < 0 for states in got.values())
    run: DemoRun = request.getfixturevalue(backend)
    assert len(rows) == 4 * len(run.rows[table])


@pytest.mark.parametrize("backend", BACKENDS)
def test_top_transitions_equal_the_ground_truth_of_the_last_days(backend: str, request: pytest.FixtureRequest) -> None:
    rows = _view(request, backend, "top_transitions")
    truth = _truth(request, backend)["paths"]["path_transitions"]
    last = max(date.fromisoformat(row["session_date"]) for row in truth)
    first = last - timedelta(days=TOP_EVENTS_DAYS - 1)
    moves: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"transitions": 0, "sessions": 0})
    for row in truth:
        if first <= date.fromisoformat(row["session_date"]) <= last:
            move = moves[(row["from_step"], row["to_step"])]
            move["transitions"] += row["transitions"]
            move["sessions"] += row["sessions_with_transition"]
    got = {(row["from_step"], row["to_step"]): row for row in rows}
    assert {move: {"transitions": row["transitions"], "sessions": row["sessions"]} for move, row in got.items()} == (
        {move: dict(counts) for move, counts in moves.items()}
    )
    assert {(row["first_day"], row["last_day"]) for row in rows} == {(first.isoformat(), last.isoformat())}
    total = sum(move["transitions"] for move in moves.values())
    out_of: dict[str, int] = defaultdict(int)
    for (before, _), counts in moves.items():
        out_of[before] += counts["transitions"]
    for move, row in got.items():
        # Ranked by transitions, ties sharing a rank: 1 + the moves made more often.
        assert row["transition_rank"] == 1 + sum(
            1 for other in moves.values() if other["transitions"] > moves[move]["transitions"]
        )
        assert abs(row["percent_of_transitions"] - 100 * row["transitions"] / total) <= 0.005 + 1e-9
        _assert_percent(row["percent_of_from_step"], row["transitions"], out_of[move[0]])
