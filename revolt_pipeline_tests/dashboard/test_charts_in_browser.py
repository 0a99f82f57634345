"""The charts as a browser lays them out: every label and legend of every kind of chart inside the SVG's viewBox,
and the x-axis labels apart from each other, measured by chromium's own text layout (`getBBox`), not estimated."""

from datetime import date, timedelta
from typing import Any

import pytest

from revolt_pipeline.dashboard import charts
from revolt_pipeline_tests.browser.conftest import chromium  # noqa: F401 (the module-scoped browser)
from revolt_pipeline_tests.dashboard.harness import MEASURE


def _days(count: int) -> list[str]:
    return [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(count)]


def _every_chart() -> list[str]:
    rendered = []
    for count in (1, 2, 7, 13, 28, 29, 30, 31, 60, 90, 365):
        labels = _days(count)
        values = [float(1 + n % 7) for n in range(count)]
        rendered += [
            charts.line_chart(f"line of {count}", labels, {"DAU": values, "WAU": values}),
            charts.bar_chart(f"bars of {count}", labels, values),
            charts.stacked_bar_chart(
                f"stacked of {count}",
                labels,
                {f"weekly multi-platform users of Calendar Synced and Webhook Added {n}": values for n in range(6)},
            ),
        ]
    long_names = ["occasional multi-platform power users of Invoice Drafted, Timesheet Submitted and Project Created"]
    rendered += [
        charts.horizontal_bar_chart("segments", long_names * 3, [5, 3, 1], labels_above=True),
        charts.horizontal_bar_chart(
            "breakdown", ["google-assistant 2.0.1", "web 2026.11.2", "Windows 11"], [1_234_567, 3_210, 5], width=560
        ),
        charts.bar_chart(
            "funnel",
            [f"{n}. Step number {n} of the funnel" for n in range(1, 6)],
            [9_999, 7_777, 5_555, 3_333, 1_111],
            value_texts=["9,999 (100%)", "7,777 (78%)", "5,555 (56%)", "3,333 (33%)", "1,111 (11%)"],
        ),
    ]
    return rendered


def test_chart_labels_stay_inside_the_chart_and_apart(chromium: Any) -> None:  # noqa: F811
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.set_content("<!doctype html><body style='font-family: sans-serif'>" + "".join(_every_chart()))
        measured = page.evaluate(MEASURE)
    finally:
        page.close()
    assert measured and all(chart["labels"] for chart in measured if chart["title"] not in ("segments", "breakdown"))
    assert [(c["title"], c["outside"]) for c in measured if c["outside"]] == []
    assert [(c["title"], c["overlaps"]) for c in measured if c["overlaps"]] == []


@pytest.mark.parametrize("count", [28, 365])
def test_the_last_day_is_always_labelled(count: int) -> None:
    assert f">{_days(count)[-1]}</text>" in charts.line_chart("days", _days(count), {"DAU": [1.0] * count})
