"""The dashboard's figures computed straight from report table rows, independently of its queries: what the tests
expect a page to show."""

from statistics import mean
from typing import Any

from revolt_pipeline.dashboard.filters import Period


def in_period(rows: list[dict[str, Any]], period: Period, **match: str) -> list[dict[str, Any]]:
    """The rows of `period` (by the table's first column, its date) whose columns equal `match`."""
    if not rows:
        return []
    column = next(iter(rows[0]))
    return [
        row
        for row in rows
        if period.first <= row[column] <= period.last and all(row.get(k) == v for k, v in match.items())
    ]


def expected_overview(
    active: list[dict[str, Any]], sessions: list[dict[str, Any]], built_days: int | None = None
) -> dict[str, float]:
    """The overview's definitions, from the rows of one grain: average DAU over the built days, WAU and MAU of the
    last day, new users and sessions summed, stickiness as average DAU over average MAU."""
    days = built_days or len(active)
    last = max(active, key=lambda row: row["event_date"])
    return {
        "dau": sum(row["dau"] for row in active) / days if days else mean([0]),
        "wau": last["wau"],
        "mau": last["mau"],
        "new_users": sum(row["new_users"] for row in active),
        "sessions": sum(row["sessions"] for row in sessions),
        "stickiness": sum(row["dau"] for row in active) / sum(row["mau"] for row in active),
    }
